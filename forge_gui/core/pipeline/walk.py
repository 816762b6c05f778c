"""The one walk through a run's steps, for every front end (docs/architecture.md, "The walk").

A pipeline is a list of StepSpec (core/runs/run.py). Each spec builds its step from the run
state at the moment it runs (a later step needs what an earlier one produced), or returns None
when the run does not need it (e.g. no conversion for an F32 base). `run_pipeline` builds and
runs them in order, keeps run.json in step, and tells a `PipelineObserver` what happens:

- the CLI's observer prints (commands/train.py);
- the GUI's re-emits each call as a Qt signal (gui/runner.py runs the walk in a worker thread,
  so nothing here blocks the window).

A failed or cancelled run is started again from a step's index (`start`): the steps before it
left their results in state.artifacts.
"""

from __future__ import annotations

import logging

from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.fs_errors import describe_os_error
from forge_gui.core.base.process import run_process_step
from forge_gui.core.base.steps import Cancelled, CancelToken, FunctionStep, ProcessStep, Step, StepFailed
from forge_gui.core.runs.run import RunState, StepSpec, StepStatus

log = logging.getLogger(__name__)


class PipelineObserver:
    """What a front end hears during the walk, in order, from the thread that walks.
    Override what you need; every call must return quickly."""

    def step_started(self, spec: StepSpec, step: Step) -> None: ...
    def step_skipped(self, spec: StepSpec) -> None: ...
    def step_finished(self, spec: StepSpec) -> None: ...
    def step_failed(self, spec: StepSpec, message: str) -> None: ...
    def step_cancelled(self, spec: StepSpec) -> None: ...
    def progress(self, event: ProgressEvent) -> None: ...
    def output(self, data: bytes) -> None: ...
    def lines(self, lines: list[str]) -> None: ...
    def process_started(self, pid: int) -> None: ...
    def process_ended(self, pid: int) -> None: ...


def failure_text(exc: BaseException) -> str:
    """What the user reads for a step that raised `exc`."""
    if isinstance(exc, StepFailed):
        return str(exc)
    if isinstance(exc, OSError):  # a file could not be read or written: one sentence
        return describe_os_error(exc, doing="use")
    return f"{type(exc).__name__}: {exc}"


def _stamped(event: ProgressEvent, key: str) -> ProgressEvent:
    """The event with its step filled in: a copy, never a change to an event already sent."""
    return event if event.step else event.model_copy(update={"step": key})


def _run_process(step: ProcessStep, observer: PipelineObserver, cancel: CancelToken) -> None:
    pids: list[int] = []

    def started(pid: int) -> None:
        pids.append(pid)
        observer.process_started(pid)

    try:
        run_process_step(step, on_event=observer.progress, on_output=observer.output,
                         cancel=cancel, on_lines=observer.lines, on_start=started)
    finally:
        for pid in pids:
            observer.process_ended(pid)


def run_one(spec: StepSpec, state: RunState, observer: PipelineObserver,
            cancel: CancelToken) -> None:
    """Build and run one step in this thread, keeping run.json in step. Raises on failure."""
    state.mark(spec.key, "running", label=spec.label)
    try:
        cancel.raise_if_cancelled()
        step = spec.build(state)
        if step is None:
            state.mark(spec.key, "skipped")
            observer.step_skipped(spec)
            return
        if isinstance(step, ProcessStep) and step.log_path is None:
            step.log_path = state.log_path(step.key)  # every tool's output is kept
        state.record_command(step)
        observer.step_started(spec, step)
        if isinstance(step, ProcessStep):
            _run_process(step, observer, cancel)
        else:
            step.run(lambda event: observer.progress(_stamped(event, spec.key)), cancel)
            cancel.raise_if_cancelled()
    except Cancelled:
        _mark_ended(state, spec.key, "cancelled", "Cancelled by the user.")
        observer.step_cancelled(spec)
        raise
    except StepFailed as exc:
        _mark_ended(state, spec.key, "failed", str(exc))
        observer.step_failed(spec, str(exc))
        raise
    except OSError as exc:  # a file could not be read or written: one sentence (docs/training.md)
        failure = StepFailed(describe_os_error(exc, doing="use"))
        _mark_ended(state, spec.key, "failed", failure.message)
        observer.step_failed(spec, failure.message)
        raise failure from exc
    except Exception as exc:  # a bug: logged with its traceback, run.json still consistent
        log.exception("step %s raised", spec.key)
        _mark_ended(state, spec.key, "failed", failure_text(exc))
        observer.step_failed(spec, failure_text(exc))
        raise
    state.mark(spec.key, "done")
    observer.step_finished(spec)


def _mark_ended(state: RunState, key: str, status: StepStatus, message: str) -> None:
    """Record how the step ended in run.json; on a full disk that may fail too, and the user
    must still hear the first cause, not the second."""
    try:
        state.mark(key, status, message)
    except OSError as exc:
        log.warning("could not record step %s as %s in run.json: %s", key, status, exc)


def run_pipeline(specs: list[StepSpec], state: RunState, observer: PipelineObserver | None = None,
                 cancel: CancelToken | None = None, start: int = 0) -> None:
    """Run specs[start:] in order; the run is 'done' when the last one is. Raises StepFailed
    (RunBusy when another process runs this folder) or Cancelled."""
    from forge_gui.core.runs.run_lock import hold_run_lock

    observer = observer or PipelineObserver()
    cancel = cancel or CancelToken()
    with hold_run_lock(state.run_dir):  # run.lock: a killed run reads as interrupted
        state.record.status = "running"
        for spec in specs[start:]:
            run_one(spec, state, observer, cancel)
        state.record.status = "done"
        state.save()


__all__ = ["FunctionStep", "PipelineObserver", "ProcessStep", "StepSpec", "failure_text",
           "run_one", "run_pipeline"]
