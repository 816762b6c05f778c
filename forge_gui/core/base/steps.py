"""A pipeline step is a value: front ends run it, core builds it (docs/architecture.md).

Two kinds:
- ProcessStep: an external tool. argv list (never a shell string), cwd, extra env, the files it
  must produce, a pure per-line progress parser and a result check. Both front ends run it
  through core/base/process.py, inside the one walk (core/pipeline/walk.py).
- FunctionStep: Python work (validation, hashing, HTTP), run by the same walk (a worker
  thread in the GUI); reports through the same ProgressEvent and polls a CancelToken.

A step fails by raising StepFailed with a sentence for the user and, where there is one, what
to do about it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from forge_gui.core.base.events import ProgressEvent

ProgressCallback = Callable[[ProgressEvent], None]


class StepFailed(Exception):
    """A step did not produce what it promised. `hint` says what the user can do."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class Cancelled(Exception):
    """The user cancelled; the run folder stays consistent and is marked cancelled."""


class CancelToken:
    """Thread-safe cancel flag shared between a front end and the work it runs."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


def _no_progress(line: str) -> ProgressEvent | None:
    return None


def _no_check(exit_code: int) -> None:
    return None


@dataclass
class ProcessStep:
    key: str
    label: str
    argv: list[str]
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)  # added to the inherited environment
    outputs: list[Path] = field(default_factory=list)
    # One line of output (stdout and stderr merged, split on \r and \n) -> event or None.
    # Must be pure or own its state: a fresh parser per step (see make_parser).
    parse_line: Callable[[str], ProgressEvent | None] = _no_progress
    # Called with the exit code once the process has ended; raises StepFailed. Must check
    # the outputs itself: some tools exit 0 having written nothing.
    check: Callable[[int], None] = _no_check
    log_path: Path | None = None

    def __post_init__(self) -> None:
        if isinstance(self.argv, str) or not all(isinstance(a, str) for a in self.argv):
            raise TypeError("ProcessStep.argv must be a list of str (never a shell string)")


@dataclass
class FunctionStep:
    key: str
    label: str
    # run(progress, cancel) does the work; raises StepFailed or Cancelled.
    run: Callable[[ProgressCallback, CancelToken], None]
    log_path: Path | None = None


Step = ProcessStep | FunctionStep
