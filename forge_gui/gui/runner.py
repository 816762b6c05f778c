"""The GUI's side of the one walk: core/pipeline/walk.run_pipeline runs in a worker thread and a
PipelineObserver re-emits what it hears as Qt signals (docs/architecture.md, "The walk").

Nothing here walks steps or starts processes: the CLI and the GUI run the same code, so they
leave the same run folder and stop the same way. Signals emitted from the worker reach the
window's slots queued, in order, on the UI thread; run.json is written by the worker.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal

from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.steps import Step
from forge_gui.core.pipeline.walk import PipelineObserver, failure_text, run_pipeline
from forge_gui.core.runs.run import RunState, StepSpec
from forge_gui.gui.tasks import BackgroundTask

log = logging.getLogger(__name__)

__all__ = ["PipelineRunner", "failure_text"]


class _SignalObserver(PipelineObserver):
    """Turns the walk's calls (worker thread) into the runner's signals."""

    def __init__(self, runner: PipelineRunner, progress) -> None:
        self.runner = runner
        self._progress = progress  # BackgroundTask's: thread-safe, throttled

    def _index(self, spec: StepSpec) -> int:
        return self.runner.specs.index(spec)

    def step_started(self, spec: StepSpec, step: Step) -> None:
        self.runner.step_started.emit(self._index(spec), spec.label)

    def step_skipped(self, spec: StepSpec) -> None:
        self.runner.step_skipped.emit(self._index(spec))

    def step_finished(self, spec: StepSpec) -> None:
        self.runner.step_done.emit(self._index(spec))

    def step_failed(self, spec: StepSpec, message: str) -> None:
        self.runner._failure_reported = True
        self.runner.step_failed.emit(self._index(spec), message)

    def step_cancelled(self, spec: StepSpec) -> None:
        self.runner._at.emit(self._index(spec))

    def progress(self, event: ProgressEvent) -> None:
        self._progress(event)

    def lines(self, lines: list[str]) -> None:
        self.runner.lines.emit(lines)

    def process_started(self, pid: int) -> None:
        self.runner.pid = pid

    def process_ended(self, pid: int) -> None:
        if self.runner.pid == pid:
            self.runner.pid = None


class PipelineRunner(QObject):
    step_started = Signal(int, str)  # index, label
    step_skipped = Signal(int)
    step_done = Signal(int)
    step_failed = Signal(int, str)  # index, why (and what to do)
    progress = Signal(object)  # ProgressEvent, step filled in
    lines = Signal(list)  # whole output lines, in order
    finished = Signal(str)  # "done" | "failed" | "cancelled"
    _at = Signal(int)  # the walk is at this step (started, or cancelled before it began)

    def __init__(self, specs: list[StepSpec], state: RunState, parent: QObject | None = None) -> None:
        # No Qt parent, whatever the caller passes: the walk's thread emits this object's
        # signals, so Python must own it (the walk holds a reference until it ends) and a
        # page deleted meanwhile must not take it along (docs/gui.md, "For developers").
        super().__init__(None)
        del parent
        self.specs = specs
        self.state = state
        self.index = -1  # the step the window shows as current; set on the UI thread
        self.running = False
        self.cancelling = False
        self.pid: int | None = None  # of the running tool (tests check it is gone after Cancel)
        self._task: BackgroundTask | None = None
        self._ended_task: BackgroundTask | None = None
        self._failure_reported = False
        # Connected first, so the window's slots already see the new index.
        self._at.connect(self._set_index)
        self.step_started.connect(lambda index, _label: self._set_index(index))
        self.step_skipped.connect(self._set_index)
        self.step_failed.connect(lambda index, _why: self._set_index(index))

    # -- public ---------------------------------------------------------------------------
    def start(self, index: int = 0) -> None:
        """Run specs[index:] in the background; index > 0 retries from a failed step."""
        if self.running:
            raise RuntimeError("the runner is already running")
        self.running, self.cancelling = True, False
        self.index = index
        self._failure_reported = False

        def walk(progress, cancel) -> None:
            run_pipeline(self.specs, self.state, _SignalObserver(self, progress), cancel, index)

        task = BackgroundTask(walk)
        task.progress.connect(self.progress)
        task.succeeded.connect(lambda _result: self._finish("done"))
        task.failed.connect(self._failed)
        task.cancelled.connect(self._cancelled)
        self._task = task  # Python owns it until the run ends (no Qt parent: docs/gui.md)
        task.start()

    def cancel(self) -> None:
        """Stop what runs now (a tool's whole process tree) and end the run as cancelled.
        The worker stops the tree: the UI thread never waits for it."""
        if not self.running or self.cancelling or self._task is None:
            return
        self.cancelling = True
        self._task.cancel()

    # -- endings --------------------------------------------------------------------------
    def _set_index(self, index: int) -> None:
        self.index = index

    def _cancelled(self) -> None:
        # A Cancel that came after the last step had finished: the run is done (run.json says
        # so), whatever the token says.
        self._finish("done" if self.state.record.status == "done" else "cancelled")

    def _failed(self, exc: BaseException) -> None:
        if not self._failure_reported:  # raised outside a step, e.g. RunBusy from run.lock
            log.warning("the run could not go on: %s", failure_text(exc))
            self.step_failed.emit(max(self.index, 0), failure_text(exc))
        self._finish("failed")

    def _finish(self, outcome: str) -> None:
        # The task that ended is still inside the signal that called this: dropping its last
        # reference here deletes it mid-emit and crashes PySide. Kept until the next start.
        self._ended_task, self._task = self._task, None
        self.running = False
        self.cancelling = False
        self.pid = None
        self.finished.emit(outcome)
