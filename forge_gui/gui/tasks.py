"""Run Python work off the UI thread and hear about it through Qt signals.

`BackgroundTask` runs fn(progress, cancel) on the global QThreadPool. Its progress callback
is thread-safe and throttled (a worker may report thousands of events a second; the UI needs
~20), results and errors arrive on the UI thread as queued signals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from forge_gui.core.base.events import ProgressEvent
    from forge_gui.core.base.steps import CancelToken

# Events without a loss value closer together than this are dropped (the latest one wins
# at the next tick); loss points are always delivered, the chart needs every one.
PROGRESS_INTERVAL_S = 0.05


class _Relay(QObject):
    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)  # the exception
    cancelled = Signal()
    ended = Signal()


class BackgroundTask(QObject):
    """One piece of background work. Keep a reference until `ended` fires.

    A parent (the page) owns it while it runs, so a page that goes away takes its work's
    signals with it; once ended it lets go (Python owns it from then on, like gui/runner.py's
    `_keep`), so a page that starts many tasks does not pile them up as children."""

    progress = Signal(object)  # ProgressEvent
    succeeded = Signal(object)  # fn's return value
    failed = Signal(object)  # the exception it raised
    cancelled = Signal()
    ended = Signal()  # after any of the three above

    def __init__(self, fn: Callable[[Callable[[ProgressEvent], None], CancelToken], Any],
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        from forge_gui.core.base.steps import CancelToken  # pydantic: not before the first window

        self._fn = fn
        self.cancel_token = CancelToken()
        self.running = False
        self._relay = _Relay()  # lives in the UI thread: its signals queue from the worker
        # Not running any more once its outcome arrives, before the page's slots hear it: a
        # click that slot enables must not find the task still "busy" until `ended` comes.
        for outcome in (self._relay.succeeded, self._relay.failed, self._relay.cancelled):
            outcome.connect(self._stopped)
        self._relay.progress.connect(self.progress)
        self._relay.succeeded.connect(self.succeeded)
        self._relay.failed.connect(self.failed)
        self._relay.cancelled.connect(self.cancelled)
        self._relay.ended.connect(self._on_ended)

    def start(self) -> None:
        self.running = True
        QThreadPool.globalInstance().start(_Runnable(self._fn, self.cancel_token, self._relay))

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def _stopped(self, *_outcome: object) -> None:
        self.running = False

    def _on_ended(self) -> None:
        self.running = False
        self.ended.emit()
        if self.parent() is not None:  # after this slot: not deleted inside its own signal
            # With self as the timer's context: a task deleted with its page meanwhile
            # (a window closing) cancels the call instead of reaching a deleted object.
            QTimer.singleShot(0, self, self._release)

    def _release(self) -> None:
        if not self.running:  # not restarted meanwhile
            self.setParent(None)


class _Runnable(QRunnable):
    def __init__(self, fn, cancel: CancelToken, relay: _Relay) -> None:
        super().__init__()
        self._fn, self._cancel, self._relay = fn, cancel, relay
        self._last_emit = 0.0

    def _progress(self, event: ProgressEvent) -> None:
        now = time.monotonic()
        has_loss = event.loss is not None or event.val_loss is not None
        if has_loss or event.fraction == 1.0 or now - self._last_emit >= PROGRESS_INTERVAL_S:
            self._last_emit = now
            self._relay.progress.emit(event)

    def run(self) -> None:
        from forge_gui.core.base.steps import Cancelled

        outcome: tuple[Any, ...]
        try:
            result = self._fn(self._progress, self._cancel)
        except Cancelled:
            outcome = (self._relay.cancelled,)
        except BaseException as exc:  # reported to the UI, never lost in a worker thread
            log.info("Background task failed: %s", exc, exc_info=True)  # the page shows one line
            outcome = (self._relay.failed, exc)
        else:
            outcome = (self._relay.cancelled,) if self._cancel.cancelled else (self._relay.succeeded, result)
        try:
            outcome[0].emit(*outcome[1:])
            self._relay.ended.emit()
        except RuntimeError as exc:  # the app is shutting down and nobody listens any more
            log.info("A background task ended after its listeners were gone: %s", exc)


def start_task(parent, fn, ok, bad, progress=None, ended=None) -> BackgroundTask:
    """Start `fn` in the background with its success, failure and (optional) progress and
    ended slots, all connected before it starts (a quick task must not end unheard)."""
    task = BackgroundTask(fn, parent)
    task.succeeded.connect(ok)
    task.failed.connect(bad)
    if progress:
        task.progress.connect(progress)
    if ended:
        task.ended.connect(ended)
    task.start()
    return task
