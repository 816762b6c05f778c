"""Page 5 — the run: steps with their state, live log, overall progress with ETA, loss chart.

The run starts when the page opens (the Name page is the commit page). Cancel stops the
whole process tree; a failed step can be retried from itself; when only the Ollama steps
failed (Ollama not reachable), the GGUF and the Modelfile are ready and Done says how to
register later.
"""

from __future__ import annotations

import math
import time

from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QSplitter,
    QVBoxLayout,
)

from forge_gui.gui import backend
from forge_gui.gui.pages import ForgePage
from forge_gui.gui.tasks import BackgroundTask
from forge_gui.gui.widgets import action_button
from forge_gui.gui.widgets.log_view import LogView
from forge_gui.gui.widgets.loss_chart import LossChart

# Share of the whole run's progress bar each step is worth (the rest are worth 1).
STEP_WEIGHTS = {"train": 20, "convert": 3, "quantize": 3, "prepare": 2, "register": 3,
                "merge": 2, "evaluate": 3}
# Once this step is done the GGUF and the Modelfile are ready: a failure after it (Ollama not
# reachable, a name clash) still leaves a usable result that can be registered later.
MODELFILE_STEP = "modelfile"
MARKS = {"pending": "○", "running": "▶", "done": "✔", "skipped": "–", "failed": "✘",
         "cancelled": "■"}


class RunPage(ForgePage):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.pending = None  # (specs, state, index) of a run to resume when the page opens
        self.setTitle("Training")
        self.setSubTitle("Every step, its output and the loss as it falls.")
        self.state = None  # RunState of the run shown
        self.runner = None  # its PipelineRunner
        self.outcome: str | None = None  # done | failed | cancelled
        self.failed_index: int | None = None
        self._fractions: dict[int, float] = {}
        self._started = 0.0
        self._x = 0.0
        self.simulated = False  # --screenshots / --self-test: show the page, start nothing
        self._preparing = None  # the BackgroundTask building the steps and the run folder
        self._stop_requested = False
        self._eta = EtaSmoother()
        self._name_lock = None  # held while a run that creates a model goes

        self.steps = QListWidget()
        self.steps.setAccessibleName("Steps of the run")
        self.steps.setMaximumWidth(300)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Overall progress")
        self.progress.setRange(0, 1000)
        self.eta = QLabel()
        self.eta.setAccessibleName("Time left")
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
        top.addWidget(self.progress, 1)
        top.addWidget(self.eta)
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
            settings = self.wizard().run_settings()
        except Exception as exc:
            self._show_failure(f"The run could not start: {exc}")
            return

        def prepare(progress, cancel):
            # building the steps imports the llama.cpp core (gguf, numpy): ~0.4 s, off the UI
            from forge_gui.core.run import RunState

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

    def start(self, specs, state, index: int = 0) -> None:
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
        self._fractions, self._x = {}, 0.0
        self._begin(index)

    def _begin(self, index: int) -> None:
        from forge_gui.core.name_lock import NameBusy, hold_name_for

        try:  # one run per model name at a time, released in _finished (docs/ollama.md)
            self._name_lock = self._name_lock or hold_name_for(self.state.settings)
        except NameBusy as exc:
            self.outcome, self.failed_index = "failed", index
            self._show_failure(f"{exc.message}\n{exc.hint}")
            self.retry_button.setText("&Retry")
            self.retry_button.show()
            self._update_buttons()
            return
        self.outcome, self.failed_index = None, None
        if any(spec.key == "train" for spec in self.runner.specs[index:]):
            # training starts over: a fresh curve, never a line from the old one's end
            self.chart.clear()
            self._x = 0.0
        self._eta = EtaSmoother()
        self._started = time.monotonic()
        self.retry_button.hide()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)
        self.status.setText(f"Run folder: {self.state.run_dir}")
        self.runner.start(index)
        self._update_buttons()

    @property
    def running(self) -> bool:
        return self._preparing is not None or (self.runner is not None and self.runner.running)

    # -- runner signals --------------------------------------------------------------------
    def _mark(self, index: int, status: str) -> None:
        item = self.steps.item(index)
        label = self.runner.specs[index].label
        item.setText(f"{MARKS[status]} {label}")
        item.setData(Qt.ItemDataRole.AccessibleTextRole, f"{label}: {status}")
        if status in ("done", "skipped"):
            self._fractions[index] = 1.0
        self._update_progress()

    def _step_started(self, index: int, label: str) -> None:
        self._mark(index, "running")
        self.steps.setCurrentRow(index)
        self.log.append_lines([f"── {label} ──"])

    def _step_done(self, index: int) -> None:
        self._mark(index, "done")
        evaluation = self.state.artifacts.evaluation if self.state is not None else None
        if self.runner.specs[index].key == "evaluate" and evaluation is not None and evaluation.base:
            self.chart.set_reference(evaluation.base.loss)  # the base's held-out loss

    def _step_failed(self, index: int, why: str) -> None:
        self._mark(index, "failed")
        self.failed_index = index

    def _on_progress(self, event) -> None:
        index = self.runner.index
        if event.fraction is not None:
            self._fractions[index] = max(0.0, min(1.0, event.fraction))
            self._update_progress(event.eta_seconds if event.step == "train" else None)
        if event.loss is not None or event.val_loss is not None:
            self._x = event.x if event.x is not None else self._x + 1
            if event.epochs:
                self.chart.set_epochs(event.epochs)
            self.chart.add_point(self._x, event.loss, event.val_loss)
        if event.message:
            self.status.setText(event.message)

    def _update_progress(self, step_eta: float | None = None) -> None:
        if self.runner is None:
            return
        weights = [STEP_WEIGHTS.get(s.key, 1) for s in self.runner.specs]
        done = sum(w * self._fractions.get(i, 0.0) for i, w in enumerate(weights))
        overall = done / sum(weights)
        self.progress.setValue(int(overall * 1000))
        now = time.monotonic()
        elapsed = now - self._started
        if self.outcome is not None:  # ended: nothing is left to wait for
            self.eta.setText("")
        elif step_eta is not None:
            self.eta.setText(f"about {_clock(self._smoothed('train', step_eta, now))} left "
                             "in training")
        elif 0.02 < overall < 1.0:
            left = elapsed * (1 - overall) / overall
            self.eta.setText(f"about {_clock(self._smoothed('run', left, now))} left")
        else:
            self.eta.setText("")

    def _smoothed(self, source: str, estimate: float, now: float) -> float:
        """The shown time left; a different estimate (training's own, the run's) starts over."""
        if self._eta.source != source:
            self._eta = EtaSmoother()
            self._eta.source = source
        return self._eta.update(estimate, now)

    def _finished(self, outcome: str) -> None:
        self.outcome = outcome
        self.eta.setText("")  # a failed or cancelled run has no time left either
        if self._name_lock is not None:
            self._name_lock.release()
            self._name_lock = None
        self.log.flush()  # the last lines of a failed tool matter most
        self.cancel_button.hide()
        a = self.state.artifacts
        if outcome == "done":
            self.progress.setValue(1000)
            self.eta.setText("")
            self.status.setText(f"Finished. Everything is in {self.state.run_dir}")
        elif outcome == "cancelled":
            index = self.runner.index
            if 0 <= index < self.steps.count():
                self._mark(index, "cancelled")
            self.status.setText(f"Cancelled. The run folder keeps what was done: {self.state.run_dir}")
            self.retry_button.setText(self._resume_text(index))
            self.retry_button.show()
            self.failed_index = index
        else:
            record = self.state.step_record(self.runner.specs[self.failed_index].key)
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

        if 0 <= index < len(self.runner.specs) and self.runner.specs[index].key == "train":
            found = lora.latest_complete_checkpoint(self.state.run_dir / "checkpoints")
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
            self.runner.cancel()

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
        self.runner.finished.connect(loop.quit)
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
        keys = [spec.key for spec in self.runner.specs]
        if MODELFILE_STEP not in keys or self.failed_index <= keys.index(MODELFILE_STEP):
            return False
        a = self.state.artifacts
        return bool(a.output_gguf and a.output_gguf.exists() and a.modelfile and a.modelfile.exists())

    def _update_buttons(self) -> None:
        self.completeChanged.emit()
        self._update_back()
        # QWizard sets its buttons again right after initializePage: have the last word
        QTimer.singleShot(0, self._update_back)

    def _update_back(self) -> None:
        wizard = self.wizard()
        if wizard is not None and wizard.currentPage() is self:
            wizard.set_back_enabled(not self.running)

    def isComplete(self) -> bool:
        return self.outcome == "done" or (self.outcome == "failed" and self.model_ready)

    def validatePage(self) -> bool:
        return not self.running

    def cleanupPage(self) -> None:
        # Back from here (only possible when nothing runs): the next visit starts a new run.
        self.runner, self.state, self.outcome = None, None, None


class EtaSmoother:
    """The time left as shown: estimates jump by minutes when the machine is busy, so each
    new one moves the shown value only part of the way (a time constant of TAU_S seconds),
    while the shown value counts down with the clock in between."""

    TAU_S = 8.0

    def __init__(self) -> None:
        self.value: float | None = None
        self.at = 0.0
        self.source: str | None = None  # which estimate it smooths (RunPage._smoothed)

    def update(self, estimate: float, now: float) -> float:
        if self.value is None:
            self.value, self.at = estimate, now
            return estimate
        dt = max(0.0, now - self.at)
        predicted = max(0.0, self.value - dt)
        weight = 1 - math.exp(-dt / self.TAU_S) if dt > 0 else 0.0
        self.value, self.at = predicted + weight * (estimate - predicted), now
        return self.value


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"
