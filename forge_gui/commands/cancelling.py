"""Ctrl-C (and SIGTERM) for forge-cli commands that start tools: one mechanism for all.

The tools run in their own session (core/base/process.py), so the terminal's Ctrl-C does not
reach them: the command must stop them itself. `run_cancellable` runs the work in a worker
thread with a CancelToken; Ctrl-C or SIGTERM in the main thread cancels the token, the work
stops its process trees (run_process_step watches the token) and ends with Cancelled, and
the main thread waits for that before forge-cli exits (docs/training.md, "Cancelling").
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from forge_gui.core.base.steps import Cancelled, CancelToken

log = logging.getLogger(__name__)

T = TypeVar("T")

# After cancelling: how long to wait for the work to end while it has no child processes
# left (e.g. it waits for a lock, or is between two steps), and at most.
QUIET_GRACE_S = 3.0
MAX_GRACE_S = 30.0


@contextlib.contextmanager
def sigterm_as_interrupt():
    """While work is going, SIGTERM cancels it like Ctrl-C (the main thread only)."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _has_children() -> bool:
    try:
        import psutil
        return any(p.status() != psutil.STATUS_ZOMBIE
                   for p in psutil.Process().children(recursive=True))
    except Exception as exc:  # cannot tell: assume there are children to stop
        log.debug("Child processes not listed: %s", exc)
        return True


def run_cancellable(work: Callable[[CancelToken], T], cancel: CancelToken | None = None,
                    announce: bool = True) -> T:
    """work(cancel) in a worker thread; returns its result or raises its exception.

    Ctrl-C or SIGTERM cancels `cancel`; then the worker's end is awaited (it stops its tools),
    and Cancelled is raised if it does not end by itself in time."""
    cancel = cancel or CancelToken()
    finished = threading.Event()
    outcome: dict = {"error": None, "result": None}

    def run() -> None:
        try:
            outcome["result"] = work(cancel)
        except BaseException as exc:  # handed to the main thread
            outcome["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=run, name="forge-work", daemon=True).start()
    cancelled_at = quiet_since = None
    with sigterm_as_interrupt():
        # Event.wait, not Thread.join: a join interrupted by Ctrl-C may return early.
        while not finished.is_set():
            try:
                finished.wait(0.2)
            except KeyboardInterrupt:
                if not cancel.cancelled:
                    cancel.cancel()
                    cancelled_at = time.monotonic()
                    if announce:
                        print("\nCancelling…", file=sys.stderr, flush=True)
            if cancelled_at is not None and not finished.is_set():
                now = time.monotonic()
                if _has_children():
                    quiet_since = None
                else:
                    quiet_since = quiet_since or now
                if now - cancelled_at > MAX_GRACE_S or (
                        quiet_since is not None and now - quiet_since > QUIET_GRACE_S):
                    raise Cancelled()
    if outcome["error"] is not None:
        raise outcome["error"]
    return outcome["result"]
