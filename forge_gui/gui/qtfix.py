"""Work around a reference-count bug of PySide6 6.12.0: `Signal.emit()` returns True without
taking a reference for it, so every emit from Python takes one reference from `True`. On
Python 3.11 (where True is not immortal) a busy run crashes sooner or later with
"Fatal Python error: bool_dealloc". `emit()` below gives the reference back when (and only
when) the installed PySide6 has the bug; use it for every emit in the GUI.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal


class _Probe(QObject):
    ping = Signal()


def _emit_steals_a_reference() -> bool:
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(8):
        probe.ping.emit()
    stolen = before - sys.getrefcount(True)
    for _ in range(max(0, stolen)):  # give back what the probe itself took
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
    return stolen >= 4


_STEALS = _emit_steals_a_reference()


def emit(signal, *args) -> None:
    result = signal.emit(*args)
    if _STEALS and isinstance(result, bool):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(result))
