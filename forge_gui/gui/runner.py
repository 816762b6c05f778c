"""THE runner of the GUI: walks core's StepSpec list like core/pipeline.run_pipeline does.

- A ProcessStep runs in a QProcess: merged channels, its own session on POSIX (so Cancel can
  stop the whole tree), output split with core's LineSplitter, parsed with the step's own
  pure parse_line into ProgressEvents, every byte appended to the step's log file.
- A FunctionStep (and every spec.build / step.check, which may read files) runs in a worker
  thread; progress arrives on the UI thread as signals.
- run.json is kept in step through RunState.mark/record_command, the same calls run_one makes,
  so the CLI and the GUI leave the same run folder. A failed run can be restarted from the
  failed step's index: the earlier steps' results are in state.artifacts.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from forge_gui.core.events import ProgressEvent
from forge_gui.core.lines import LineSplitter
from forge_gui.core.pipeline import StepSpec
from forge_gui.core.process import kill_process_tree
from forge_gui.core.run import RunState
from forge_gui.core.steps import Cancelled, FunctionStep, ProcessStep, StepFailed
from forge_gui.gui.tasks import BackgroundTask


def failure_text(exc: BaseException) -> str:
    if isinstance(exc, StepFailed):
        return str(exc)
    if isinstance(exc, OSError):  # a file could not be read or written: one sentence
        from forge_gui.core.fs_errors import describe_os_error
        return describe_os_error(exc, doing="use")
    return f"{type(exc).__name__}: {exc}"


class PipelineRunner(QObject):
    step_started = Signal(int, str)  # index, label
    step_skipped = Signal(int)
    step_done = Signal(int)
    step_failed = Signal(int, str)  # index, why (and what to do)
    progress = Signal(object)  # ProgressEvent, step filled in
    lines = Signal(list)  # whole output lines, in order
    finished = Signal(str)  # "done" | "failed" | "cancelled"

    def __init__(self, specs: list[StepSpec], state: RunState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.specs = specs
        self.state = state
        self.index = -1
        self.running = False
        self.cancelling = False
        self._task: BackgroundTask | None = None
        self._alive: set = set()
        self._process: QProcess | None = None
        self._step: ProcessStep | None = None
        self._splitter: LineSplitter | None = None
        self._log = None
        self.pid: int | None = None  # of the running tool (tests check it is gone after Cancel)

    # -- public ---------------------------------------------------------------------------
    def start(self, index: int = 0) -> None:
        """Run specs[index:]; index > 0 retries from a failed step."""
        if self.running:
            raise RuntimeError("the runner is already running")
        from forge_gui.core.run_lock import acquire_run_lock

        self._run_lock = acquire_run_lock(self.state.run_dir)  # RunBusy: another one runs it
        self.running, self.cancelling = True, False
        self.state.record.status = "running"
        self._run(index)

    def cancel(self) -> None:
        """Stop what runs now (the whole process tree) and end the run as cancelled."""
        if not self.running or self.cancelling:
            return
        self.cancelling = True
        if self._task is not None:
            self._task.cancel()
        if self._process is not None and self.pid:
            pid = self.pid  # kill_process_tree waits for the grace period: not on the UI thread
            self._keep(BackgroundTask(lambda progress, cancel: kill_process_tree(pid))).start()

    # -- the walk -------------------------------------------------------------------------
    def _run(self, index: int) -> None:
        if self.cancelling:
            return self._end_cancelled(index)
        if index >= len(self.specs):
            self.state.record.status = "done"
            self.state.save()
            return self._finish("done")
        self.index = index
        spec = self.specs[index]
        self.state.mark(spec.key, "running", label=spec.label)
        self.step_started.emit(index, spec.label)

        def build_and_run_functions(progress, cancel):
            step = spec.build(self.state)
            if isinstance(step, ProcessStep):
                self.state.record_command(step)
                return step  # the QProcess is started on the UI thread
            if isinstance(step, FunctionStep):
                step.run(lambda ev: progress(_with_step(ev, spec.key)), cancel)
                cancel.raise_if_cancelled()
            return step

        self._in_worker(build_and_run_functions, lambda step: self._built(index, step), index)

    def _built(self, index: int, step) -> None:
        spec = self.specs[index]
        if step is None:
            self.state.mark(spec.key, "skipped")
            self.step_skipped.emit(index)
            return self._run(index + 1)
        if isinstance(step, ProcessStep):
            return self._start_process(index, step)
        self._step_done(index)

    def _step_done(self, index: int) -> None:
        self.state.mark(self.specs[index].key, "done")
        self.step_done.emit(index)
        self._run(index + 1)

    def _in_worker(self, fn, on_success, index: int) -> None:
        task = self._keep(BackgroundTask(fn))
        self._task = task
        task.progress.connect(self.progress)
        task.succeeded.connect(on_success)
        task.failed.connect(lambda exc: self._step_failed(index, exc))
        task.cancelled.connect(lambda: self._end_cancelled(index))
        task.start()

    def _keep(self, task: BackgroundTask) -> BackgroundTask:
        # Python owns tasks and processes (no Qt parent, no deleteLater): a Qt-side delete
        # racing Python's garbage collector crashes PySide. Dropped once they have ended.
        self._alive.add(task)
        task.ended.connect(lambda: QTimer.singleShot(0, lambda: self._alive.discard(task)))
        return task

    # -- processes ------------------------------------------------------------------------
    def _start_process(self, index: int, step: ProcessStep) -> None:
        if self.cancelling:
            return self._end_cancelled(index)
        self._task = None
        self._step = step
        self._splitter = LineSplitter()
        log_path = Path(step.log_path or self.state.log_path(step.key))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")
        proc = QProcess()
        proc.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        proc.setStandardInputFile(QProcess.nullDevice())  # tools never wait on a keyboard
        if sys.platform != "win32":  # its own session: Cancel signals the whole group
            proc.setUnixProcessParameters(QProcess.UnixProcessFlag.CreateNewSession)
        env = QProcessEnvironment.systemEnvironment()
        for key, value in step.env.items():
            env.insert(key, value)
        proc.setProcessEnvironment(env)
        if step.cwd:
            proc.setWorkingDirectory(str(step.cwd))
        proc.readyReadStandardOutput.connect(self._read_output)
        proc.finished.connect(lambda code, status: self._process_ended(index, code, status))
        proc.errorOccurred.connect(lambda error: self._process_error(index, error))
        self._process = proc
        proc.started.connect(self._process_started)
        proc.start(step.argv[0], step.argv[1:])

    def _process_started(self) -> None:
        if self._process is not None:
            self.pid = self._process.processId()
            if self.cancelling:  # Cancel came while it was starting
                self.cancelling = False
                self.cancel()

    def _read_output(self) -> None:
        proc, step = self._process, self._step
        if proc is None or step is None:
            return
        data = bytes(proc.readAllStandardOutput().data())
        if not data:
            return
        self._log.write(data)
        self._handle_lines(self._splitter.feed(data))

    def _handle_lines(self, lines: list[str]) -> None:
        if not lines:
            return
        self.lines.emit(lines)
        for line in lines:
            event = self._step.parse_line(line)
            if event is not None:
                self.progress.emit(_with_step(event, self._step.key))

    def _close_process(self) -> None:
        self._read_output()
        if self._splitter is not None and self._step is not None:
            self._handle_lines(self._splitter.flush())
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._process is not None:
            ended = self._process  # still inside its own signal: release it on the next tick
            self._alive.add(ended)
            QTimer.singleShot(0, lambda: self._alive.discard(ended))
        self._process, self.pid = None, None

    def _process_error(self, index: int, error) -> None:
        if error != QProcess.ProcessError.FailedToStart or self._process is None:
            return  # crashes also arrive through finished()
        step = self._step
        detail = self._process.errorString()
        self._close_process()
        self._step_failed(index, StepFailed(
            f"Could not start {step.argv[0]}: {detail}",
            "Check the trainer tools on the Trainer page (or run 'forge-cli doctor')."))

    def _process_ended(self, index: int, code: int, status) -> None:
        if self._process is None:
            return
        step = self._step
        self._close_process()
        if self.cancelling:
            return self._end_cancelled(index)
        if status == QProcess.ExitStatus.CrashExit and code == 0:
            code = -1  # a crash with no exit code must not pass a check that only looks at 0

        def check(progress, cancel):
            step.check(code)

        self._in_worker(check, lambda _: self._step_done(index), index)

    # -- endings --------------------------------------------------------------------------
    def _step_failed(self, index: int, exc: BaseException) -> None:
        if isinstance(exc, Cancelled) or self.cancelling:
            return self._end_cancelled(index)
        why = failure_text(exc)
        self.state.mark(self.specs[index].key, "failed", why)
        self.step_failed.emit(index, why)
        self._finish("failed")

    def _end_cancelled(self, index: int) -> None:
        if not self.running:
            return
        index = min(index, len(self.specs) - 1)
        self.state.mark(self.specs[index].key, "cancelled", "Cancelled by the user.")
        self._finish("cancelled")

    def _finish(self, outcome: str) -> None:
        if getattr(self, "_run_lock", None) is not None:
            self._run_lock.release()
        self._task = None
        self.running = False
        self.cancelling = False
        self.finished.emit(outcome)


def _with_step(event: ProgressEvent, key: str) -> ProgressEvent:
    if not event.step:
        event.step = key
    return event
