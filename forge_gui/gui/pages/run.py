"""Page 5 — the run: steps with their state, live log, overall progress with ETA, loss chart.

The run starts when the page opens (the Name page is the commit page). Cancel stops the
whole process tree; a failed step can be retried from itself; when only the Ollama steps
failed (Ollama not reachable), the GGUF and the Modelfile are ready and Done says how to
register later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QVBoxLayout,
    QWizardPage,
)

from forge_gui.gui import backend
from forge_gui.gui.pages import ForgePage
from forge_gui.gui.tasks import BackgroundTask
from forge_gui.gui.widgets import action_button
from forge_gui.gui.widgets.log_view import LogView
from forge_gui.gui.widgets.loss_chart import LossChart
from forge_gui.gui.widgets.run_progress import RunProgress

if TYPE_CHECKING:
    from forge_gui.core.base.events import ProgressEvent
    from forge_gui.core.runs.name_lock import NameLock
    from forge_gui.core.runs.run import RunSettings, RunState, StepSpec
    from forge_gui.gui.runner import PipelineRunner


class _Wizard(Protocol):
    """What this page asks of its wizard (gui/wizard.py imports this page: no import back)."""

    def run_settings(self) -> RunSettings: ...
    def set_back_enabled(self, enabled: bool) -> None: ...
    def currentPage(self) -> QWizardPage: ...

# Once this step is done the GGUF and the Modelfile are ready: a failure after it (Ollama not
# reachable, a name clash) still leaves a usable result that can be registered later.
MODELFILE_STEP = "modelfile"
MARKS = {"pending": "○", "running": "▶", "done": "✔", "skipped": "–", "failed": "✘",
         "cancelled": "■"}


class RunPage(ForgePage):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        # (specs, state, index) of a run to resume when the page opens
        self.pending: tuple[list[StepSpec], RunState, int] | None = None
        self.setTitle("Training")
        self.setSubTitle("Every step, its output and the loss as it falls.")
        self.state: RunState | None = None  # the run shown
        self.runner: PipelineRunner | None = None  # its runner
        self.outcome: str | None = None  # done | failed | cancelled
        self.failed_index: int | None = None
        self.simulated = False  # --screenshots / --self-test: show the page, start nothing
        # the task building the steps and the run folder
        self._preparing: BackgroundTask | None = None
        self._stop_requested = False
        self._name_lock: NameLock | None = None  # held while a run that creates a model goes

        self.steps = QListWidget()
        self.steps.setAccessibleName("Steps of the run")
        self.steps.setMaximumWidth(300)
        self.meter = RunProgress()
        self.progress, self.eta = self.meter.bar, self.meter.eta  # what tests and screenshots read
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setAccessibleName("Run status")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.log = LogView()
        self.chart = LossChart()
        self.cancel_button = action_button("&Cancel run", "Cancel the run", self.cancel)
        self.retry_button = action_button(
            "&Retry from the failed step", "Retry from the failed step", self.retry)
        self.retry_button.hide()

        top = QHBoxLayout()
        top.addWidget(self.meter, 1)
        top.addWidget(self.cancel_button)
        top.addWidget(self.retry_button)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.chart)
        right.addWidget(self.log)
        right.setSizes([200, 260])
        middle = QHBoxLayout()
        middle.addWidget(self.steps)
        middle.addWidget(right, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.status)
        layout.addLayout(middle, 1)

    # -- starting --------------------------------------------------------------------------
    def initializePage(self) -> None:
        if self.running or self.simulated:
            return
        if self.pending is not None:  # a run resumed from the Runs window
            specs, state, index = self.pending
            self.pending = None
            self.start(specs, state, index)
            # the chart goes on where the interrupted run stopped (its train log so far, read
            # in the background: a long run's log is big)
            task = BackgroundTask(lambda p, c: backend.run_loss_points(state.run_dir,
                                                                       state.settings.epochs), self)
            task.succeeded.connect(lambda points: self._prepend_points(*points))
            self._history = task
            task.start()
            return
        try:
            settings = cast("_Wizard", self.wizard()).run_settings()
        except Exception as exc:
            self._show_failure(f"The run could not start: {exc}")
            return

        def prepare(progress, cancel):
            # building the steps imports the llama.cpp core (gguf, numpy): ~0.4 s, off the UI
            from forge_gui.core.runs.run import RunState

            return backend.pipeline_specs(settings), RunState.create(settings)

        self.steps.clear()
        self.log.clear_log()
        self.chart.clear()
        self.progress.setValue(0)
        self.retry_button.hide()
        self.outcome, self._stop_requested = None, False
        self.status.setText("Preparing the run…")
        task = BackgroundTask(prepare, self)
        task.succeeded.connect(self._prepared)
        task.failed.connect(self._prepare_failed)
        self._preparing = task
        task.start()
        self._update_buttons()

    def _prepared(self, result) -> None:
        self._preparing = None
        specs, state = result
        if self._stop_requested:  # closed or cancelled while preparing: nothing ran
            state.record.status = "cancelled"
            state.save()
            self.state, self.outcome = state, "cancelled"
            self.status.setText("Cancelled before the first step.")
            self._update_buttons()
            return
        self.start(specs, state)

    def _prepare_failed(self, exc: BaseException) -> None:
        self._preparing = None
        self._show_failure(f"The run could not start: {exc}")
        self._update_buttons()

    def start(self, specs: list[StepSpec], state: RunState, index: int = 0) -> None:
        from forge_gui.gui.runner import PipelineRunner  # the run machinery: when a run starts

        self.state = state
        self.runner = PipelineRunner(specs, state, self)
        self.runner.step_started.connect(self._step_started)
        self.runner.step_skipped.connect(lambda i: self._mark(i, "skipped"))
        self.runner.step_done.connect(self._step_done)
        self.runner.step_failed.connect(self._step_failed)
        self.runner.progress.connect(self._on_progress)
        self.runner.lines.connect(self.log.append_lines)
        self.runner.finished.connect(self._finished)
        self.steps.clear()
        for spec in specs:
            item = QListWidgetItem(f"{MARKS['pending']} {spec.label}")
            self.steps.addItem(item)
        self.chart.clear()
        self.log.clear_log()
        self.meter.reset(spec.key for spec in specs)
        self._begin(index)

    def _begin(self, index: int) -> None:
        from forge_gui.core.runs.name_lock import NameBusy, hold_name_for

        try:  # one run per model name at a time, released in _finished (docs/ollama.md)
            self._name_lock = self._name_lock or hold_name_for(self._state.settings)
        except NameBusy as exc:
            self.outcome, self.failed_index = "failed", index
            self._show_failure(f"{exc.message}\n{exc.hint}")
            self.retry_button.setText("&Retry")
            self.retry_button.show()
            self._update_buttons()
            return
        self.outcome, self.failed_index = None, None
        if any(spec.key == "train" for spec in self._run.specs[index:]):
            # training starts over: a fresh curve, never a line from the old one's end
            self.chart.clear()
        self.meter.begin()
        self.retry_button.hide()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        self.status.setText(f"Run folder: {self._state.run_dir}")
        self._run.start(index)
        self._update_buttons()

    @property
    def _run(self) -> PipelineRunner:
        assert self.runner is not None, "the page shows no run"
        return self.runner

    @property
    def _state(self) -> RunState:
        assert self.state is not None, "the page shows no run"
        return self.state

    @property
    def running(self) -> bool:
        return self._preparing is not None or (self.runner is not None and self.runner.running)

    # -- runner signals --------------------------------------------------------------------
    def _mark(self, index: int, status: str) -> None:
        item = self.steps.item(index)
        label = self._run.specs[index].label
        item.setText(f"{MARKS[status]} {label}")
        item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{label}: {status}")
        if status in ("done", "skipped"):
            self.meter.complete(index)
        else:
            self.meter.touch()

    def _step_started(self, index: int, label: str) -> None:
        self._mark(index, "running")
        self.steps.setCurrentRow(index)
        self.log.append_lines([f"── {label} ──"])

    def _step_done(self, index: int) -> None:
        self._mark(index, "done")
        evaluation = self.state.artifacts.evaluation if self.state is not None else None
        if self._run.specs[index].key == "evaluate" and evaluation is not None and evaluation.base:
            self.chart.set_reference(evaluation.base.loss)  # the base's held-out loss

    def _step_failed(self, index: int, why: str) -> None:
        self._mark(index, "failed")
        self.failed_index = index

    def _on_progress(self, event: ProgressEvent) -> None:
        index = self._run.index
        if event.fraction is not None:
            self.meter.set_fraction(index, event.fraction,
                                    event.eta_seconds if event.step == "train" else None)
        self.chart.add_event(event)
        if event.message:
            self.status.setText(event.message)

    def _finished(self, outcome: str) -> None:
        self.outcome = outcome
        self.meter.end(outcome == "done")  # a failed or cancelled run has no time left either
        if self._name_lock is not None:
            self._name_lock.release()
            self._name_lock = None
        self.log.flush()  # the last lines of a failed tool matter most
        self.cancel_button.hide()
        a = self._state.artifacts
        if outcome == "done":
            self.status.setText(f"Finished. Everything is in {self._state.run_dir}")
        elif outcome == "cancelled":
            index = self._run.index
            if 0 <= index < self.steps.count():
                self._mark(index, "cancelled")
            self.status.setText(f"Cancelled. The run folder keeps what was done: {self._state.run_dir}")
            self.retry_button.setText(self._resume_text(index))
            self.retry_button.show()
            self.failed_index = index
        else:
            failed = self.failed_index if self.failed_index is not None else self._run.index
            record = self._state.step_record(self._run.specs[failed].key)
            why = record.message or "The step failed."
            if self.model_ready:
                why += ("\n\nYour model file is ready: " + str(a.output_gguf) +
                        "\nStart Ollama and press Retry, or press Next to see how to register it later.")
            self._show_failure(why)
            self.retry_button.setText("&Retry from the failed step")
            self.retry_button.show()
        self._update_buttons()

    def _prepend_points(self, train, val) -> None:
        self.chart.set_points(train + self.chart.train, val + self.chart.val)

    def _resume_text(self, index: int) -> str:
        """LoRA training goes on from its last complete checkpoint (the train step finds it)."""
        from forge_gui.core.llamacpp import lora

        if 0 <= index < len(self._run.specs) and self._run.specs[index].key == "train":
            found = lora.latest_complete_checkpoint(self._state.run_dir / "checkpoints")
            if found is not None:
                return f"&Resume training (from step {lora.checkpoint_step(found)})"
        return "&Start again from the stopped step"

    def _show_failure(self, text: str) -> None:
        from forge_gui.gui.wording import in_app_words

        text = in_app_words(text)
        self.status.setText(f"<b>✘ {text.splitlines()[0]}</b><br>" + "<br>".join(text.splitlines()[1:]))

    # -- user actions ----------------------------------------------------------------------
    def cancel(self) -> None:
        if self._preparing is not None:
            self._stop_requested = True
            return
        if self.running:
            self.cancel_button.setEnabled(False)
            self.status.setText("Stopping…")
            self._run.cancel()

    def retry(self) -> None:
        if self.runner is not None and self.failed_index is not None and not self.running:
            self._begin(self.failed_index)

    def stop_and_wait(self, timeout_ms: int = 15000) -> None:
        """Cancel and wait (events keep flowing) until the run has stopped: used on close."""
        if self._preparing is not None:
            self._stop_requested = True
            loop = QEventLoop()
            self._preparing.ended.connect(loop.quit)
            QTimer.singleShot(timeout_ms, loop.quit)
            loop.exec()
        if not self.running:
            return
        loop = QEventLoop()
        self._run.finished.connect(loop.quit)
        QTimer.singleShot(timeout_ms, loop.quit)
        self.cancel()
        if self.running:
            loop.exec()

    # -- wizard ----------------------------------------------------------------------------
    @property
    def model_ready(self) -> bool:
        """True when the model file exists even though an Ollama step did not finish."""
        if self.state is None or self.failed_index is None:
            return False
        keys = [spec.key for spec in self._run.specs]
        if MODELFILE_STEP not in keys or self.failed_index <= keys.index(MODELFILE_STEP):
            return False
        a = self._state.artifacts
        return bool(a.output_gguf and a.output_gguf.exists() and a.modelfile and a.modelfile.exists())

    def _update_buttons(self) -> None:
        self.completeChanged.emit()
        self._update_back()
        # QWizard sets its buttons again right after initializePage: have the last word
        QTimer.singleShot(0, self._update_back)

    def _update_back(self) -> None:
        wizard = cast("_Wizard | None", self.wizard())
        if wizard is not None and wizard.currentPage() is self:
            wizard.set_back_enabled(not self.running)

    def isComplete(self) -> bool:
        return self.outcome == "done" or (self.outcome == "failed" and self.model_ready)

    def validatePage(self) -> bool:
        return not self.running

    def cleanupPage(self) -> None:
        # Back from here (only possible when nothing runs): the next visit starts a new run.
        self.runner, self.state, self.outcome = None, None, None

