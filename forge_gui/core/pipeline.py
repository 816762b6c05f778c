"""Running a list of steps against a run folder.

A pipeline is a list of StepSpec. Each spec builds its step from the run state at the moment it
runs (a later step needs what an earlier one produced), or returns None when the run does not
need it (e.g. no conversion for an F32 base). Front ends walk the list:

    for spec in specs[start:]:
        step = spec.build(state)            # may raise StepFailed (e.g. a preflight refusal)
        ... run it (subprocess / QProcess / thread) ...

`run_pipeline` is the CLI's walk. The GUI does the same walk with QProcess and worker threads
(gui/runner.py), so a failed step can be retried from its own index without redoing the ones
before it: their results are in state.artifacts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from forge_gui.core.events import ProgressEvent
from forge_gui.core.fs_errors import describe_os_error
from forge_gui.core.process import run_process_step
from forge_gui.core.run import RunState
from forge_gui.core.steps import Cancelled, CancelToken, FunctionStep, ProcessStep, Step, StepFailed

log = logging.getLogger(__name__)


@dataclass
class StepSpec:
    key: str
    label: str
    build: Callable[[RunState], Step | None]


class PipelineObserver:
    """What a front end wants to hear about. Override what you need."""

    def step_started(self, spec: StepSpec, step: Step) -> None: ...
    def step_skipped(self, spec: StepSpec) -> None: ...
    def step_finished(self, spec: StepSpec) -> None: ...
    def progress(self, event: ProgressEvent) -> None: ...
    def output(self, data: bytes) -> None: ...


def run_one(spec: StepSpec, state: RunState, observer: PipelineObserver,
            cancel: CancelToken) -> None:
    """Build and run one step in this thread, keeping run.json in step. Raises on failure."""
    cancel.raise_if_cancelled()
    state.mark(spec.key, "running", label=spec.label)
    try:
        step = spec.build(state)
        if step is None:
            state.mark(spec.key, "skipped")
            observer.step_skipped(spec)
            return
        state.record_command(step)
        observer.step_started(spec, step)
        if isinstance(step, ProcessStep):
            run_process_step(step, on_event=observer.progress, on_output=observer.output,
                             cancel=cancel)
        else:
            step.run(observer.progress, cancel)
    except Cancelled:
        state.mark(spec.key, "cancelled", "Cancelled by the user.")
        raise
    except StepFailed as exc:
        _mark_failed(state, spec.key, str(exc))
        raise
    except OSError as exc:  # a file could not be read or written: one sentence (docs/training.md)
        failure = StepFailed(describe_os_error(exc, doing="use"))
        _mark_failed(state, spec.key, failure.message)
        raise failure from exc
    except Exception as exc:  # a bug or an OS error: still leave a consistent run.json
        state.mark(spec.key, "failed", f"{type(exc).__name__}: {exc}")
        raise
    state.mark(spec.key, "done")
    observer.step_finished(spec)


def _mark_failed(state: RunState, key: str, message: str) -> None:
    """Record the failure in run.json; on a full disk that may fail too, and the user must
    still hear the first cause, not the second."""
    try:
        state.mark(key, "failed", message)
    except OSError as exc:
        log.warning("could not record the failure of step %s in run.json: %s", key, exc)


def run_pipeline(specs: list[StepSpec], state: RunState, observer: PipelineObserver | None = None,
                 cancel: CancelToken | None = None, start: int = 0) -> None:
    """Run specs[start:] in order; the run is 'done' when the last one is."""
    from forge_gui.core.run_lock import hold_run_lock

    observer = observer or PipelineObserver()
    cancel = cancel or CancelToken()
    with hold_run_lock(state.run_dir):  # run.lock: a killed run reads as interrupted
        for spec in specs[start:]:
            run_one(spec, state, observer, cancel)
        state.record.status = "done"
        state.save()


__all__ = ["StepSpec", "PipelineObserver", "run_one", "run_pipeline", "FunctionStep", "ProcessStep"]
