"""The app's last word on an error nobody caught (docs/architecture.md, "Logs").

`install` replaces sys.excepthook and threading.excepthook: the traceback goes to the
session log (core/base/logs.py) and a dialog says that something went wrong and where that log
is. The dialog is not modal (the app may go on, and tests are not blocked) and one is shown
at a time; an error in a worker thread is shown on the UI thread.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

log = logging.getLogger(__name__)

TITLE = "Forge — something went wrong"


class _Crashes(QObject):
    """Lives on the UI thread: a crash reported from any thread is shown there (queued)."""

    happened = Signal(str)

    def __init__(self, log_file: Path | None) -> None:
        super().__init__()
        self.log_file = log_file
        self.dialog: QMessageBox | None = None
        self.happened.connect(self.show_dialog, Qt.ConnectionType.QueuedConnection)

    def show_dialog(self, what: str) -> None:
        if self.dialog is not None:  # one at a time: the log holds every one of them
            return
        where = (f"The details are in the log file:\n{self.log_file}" if self.log_file else
                 "No log file could be written this session.")
        box = QMessageBox(QMessageBox.Icon.Critical, TITLE,
                          f"Something went wrong inside Forge: {what}\n\n{where}\n\nYou can go on "
                          "working, but if Forge behaves oddly, restart it. Please include the log "
                          "file when you report the problem.")
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAccessibleName("Error report")
        box.finished.connect(self._closed)
        self.dialog = box
        box.show()

    def _closed(self) -> None:
        self.dialog = None


_crashes: _Crashes | None = None


def install(log_file: Path | None) -> None:
    """Log and show uncaught exceptions from now on (call on the UI thread, after the
    QApplication exists)."""
    global _crashes
    _crashes = _Crashes(log_file)
    sys.excepthook = excepthook
    threading.excepthook = _thread_excepthook


def crash_dialog() -> QMessageBox | None:
    """The crash dialog on screen, if any."""
    return _crashes.dialog if _crashes is not None else None


def excepthook(kind: type[BaseException], value: BaseException,
               tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    log.critical("Uncaught exception", exc_info=(kind, value, tb))
    if _crashes is not None and QApplication.instance() is not None:
        _crashes.happened.emit(f"{kind.__name__}: {value}")


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is None:
        return
    log.critical("Uncaught exception in thread %s", getattr(args.thread, "name", "?"),
                 exc_info=(args.exc_type, args.exc_value, args.exc_traceback))
    if _crashes is not None and QApplication.instance() is not None:
        _crashes.happened.emit(f"{args.exc_type.__name__}: {args.exc_value}")
