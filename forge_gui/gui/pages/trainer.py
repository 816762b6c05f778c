"""Page 3 — the trainer: llama.cpp tools (found, built, or a chosen folder) and the settings."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QProgressBar,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from forge_gui.core.llamacpp.lora import training_seconds
from forge_gui.core.llamacpp.trainer import physical_cores
from forge_gui.core.runs.run import FULL_LR, LORA_LR
from forge_gui.gui import backend
from forge_gui.gui.pages import ForgePage
from forge_gui.gui.tasks import BackgroundTask, start_task
from forge_gui.gui.widgets import action_button, note_label, show_progress
from forge_gui.gui.widgets.gpu_panel import GpuPanel
from forge_gui.gui.widgets.train_elsewhere import TrainElsewhere
from forge_gui.gui.wording import in_app_words

# epochs, learning rate (full fine-tune), context, validation split; LoRA's rate is
# LORA_LR_FACTOR times higher (an adapter starts at zero and has few weights to move), so that
# "balanced" is core's own defaults for both methods (FULL_LR, LORA_LR: docs/training.md).
PRESETS = {
    "quick": (1, 2e-5, 256, 0.05),
    "balanced": (2, 1e-5, 512, 0.05),
    "thorough": (4, 5e-6, 1024, 0.10),
}
LORA_LR_FACTOR = LORA_LR / FULL_LR
# (settings value, label) of the training methods, LoRA first: it trains what people have.
METHODS = (("lora", "LoRA adapter on the model as it is (recommended)"),
           ("full", "Full fine-tune of every weight (F32 copy)"))


class TrainerPage(ForgePage):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setTitle("Trainer")
        self.setSubTitle("LoRA trains a small adapter on your model as it is (F16, Q8_0, Q4_K_M…); "
                         "a full fine-tune trains every weight of an F32 copy.")
        self.toolset = None
        self.tools_dir: Path | None = None
        self._task: BackgroundTask | None = None
        rules = backend.setting_ranges()

        self.tools_label = note_label("llama.cpp tools found", "Looking for the llama.cpp tools…")
        self.build_button = action_button(
            "&Build the tools now", "Build the llama.cpp tools now", self.build_tools)
        self.folder_button = action_button(
            "Choose a tools &folder…", "Choose a folder holding llama.cpp tools", self._choose_folder)
        self.build_progress = QProgressBar()
        self.build_progress.setAccessibleName("Build progress")
        self.build_progress.hide()
        self.gpu_panel = GpuPanel()  # GPUs, their memory, "Build for your GPU" (docs/gpu.md)
        self.gpu_panel.built.connect(lambda _: self.find_tools())

        self.method = QComboBox()
        self.method.setAccessibleName("Training method")
        for _, label in METHODS:
            self.method.addItem(label)
        self.method_note = note_label("What the method needs")
        # which format the run trains in and why (core/formats/detect.detect, via the wizard)
        self.format_note = note_label("Which format is trained")
        self.preset = QComboBox()
        self.preset.setAccessibleName("Preset")
        self.preset.addItems(list(PRESETS))
        self.epochs = QSpinBox()
        self.epochs.setAccessibleName("Epochs")
        self.epochs.setRange(1, rules["epochs_max"])
        self.learning_rate = QDoubleSpinBox()
        self.learning_rate.setAccessibleName("Learning rate")
        self.learning_rate.setDecimals(7)
        self.learning_rate.setRange(1e-7, 1.0)
        self.learning_rate.setSingleStep(1e-6)
        self.ctx = QSpinBox()
        self.ctx.setAccessibleName("Context length in tokens")
        # core's rule: a multiple of 256 (a typed 300 is refused with core's sentence)
        self.ctx.setRange(rules["ctx_step"], rules["ctx_max"])
        self.ctx.setSingleStep(rules["ctx_step"])
        self.val_split = QDoubleSpinBox()
        self.val_split.setAccessibleName("Validation split")
        self.val_split.setRange(0, 0.5)
        self.val_split.setSingleStep(0.01)
        for box in (self.epochs, self.ctx):
            box.valueChanged.connect(self.update_estimate)

        self.advanced = QGroupBox("&Advanced")
        self.advanced.setAccessibleName("Advanced settings")
        self.advanced.setCheckable(True)
        self.advanced.setChecked(False)
        self.threads = QSpinBox()
        self.threads.setAccessibleName("CPU threads (0 = automatic)")
        self.threads.setRange(0, os.cpu_count() or 64)
        self.gpu_layers = QSpinBox()
        self.gpu_layers.setAccessibleName("Layers on the GPU (auto = all on a GPU build)")
        self.gpu_layers.setRange(-1, 999)
        self.gpu_layers.setSpecialValueText("auto")  # -1: Forge decides (all on a GPU build)
        self.gpu_layers.setValue(-1)
        self.optimizer = QComboBox()
        self.optimizer.setAccessibleName("Optimizer")
        self.optimizer.addItems(["adamw", "sgd"])
        self.seed = QSpinBox()
        self.seed.setAccessibleName("Random seed")
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(42)
        self.lora_rank = QSpinBox()
        self.lora_rank.setAccessibleName("LoRA rank")
        self.lora_rank.setRange(*rules["lora_rank"])
        self.lora_rank.setValue(16)
        self.lora_alpha = QDoubleSpinBox()
        self.lora_alpha.setAccessibleName("LoRA alpha")
        self.lora_alpha.setRange(*rules["lora_alpha"])
        self.lora_alpha.setValue(32)
        self.lora_modules = QLineEdit(backend.default_lora_modules())
        self.lora_modules.setAccessibleName("Layers that get a LoRA adapter")
        self.lora_modules.textChanged.connect(self.completeChanged)
        body = QWidget()
        QVBoxLayout(self.advanced).addWidget(body)
        adv = QFormLayout(body)
        adv.addRow("CPU &threads (0 = auto):", self.threads)
        adv.addRow("&GPU layers:", self.gpu_layers)
        adv.addRow("O&ptimizer:", self.optimizer)
        adv.addRow("&Seed:", self.seed)
        adv.addRow("LoRA &rank:", self.lora_rank)
        adv.addRow("LoRA &alpha:", self.lora_alpha)
        adv.addRow("LoRA &layers:", self.lora_modules)
        self.advanced.toggled.connect(body.setVisible)
        body.setVisible(False)

        for box in (self.epochs, self.ctx, self.lora_rank):
            box.valueChanged.connect(self.completeChanged)
        for dbox in (self.learning_rate, self.val_split, self.lora_alpha):
            dbox.valueChanged.connect(self.completeChanged)

        self.estimate = note_label("Memory and time estimate")
        self.preflight_button = action_button(
            "Count &tokens exactly", "Count tokens exactly with the base model's tokenizer",
            self.run_preflight)
        self.elsewhere = TrainElsewhere(self, self._all_values)  # docs/cluster.md
        self.problem_label = note_label("Why training cannot start")
        self.preflight_label = note_label("Token-exact preflight result")

        tools_buttons = QHBoxLayout()
        tools_buttons.addWidget(self.build_button)
        tools_buttons.addWidget(self.folder_button)
        tools_buttons.addStretch()
        tools_box = QGroupBox("llama.cpp tools")
        tools_layout = QVBoxLayout(tools_box)
        tools_layout.addWidget(self.tools_label)
        tools_layout.addLayout(tools_buttons)
        tools_layout.addWidget(self.build_progress)
        form = QFormLayout()
        form.addRow("&Method:", self.method)
        form.addRow("", self.method_note)
        form.addRow("Format:", self.format_note)
        form.addRow("P&reset:", self.preset)
        form.addRow("&Epochs:", self.epochs)
        form.addRow("&Learning rate:", self.learning_rate)
        form.addRow("&Context (tokens):", self.ctx)
        form.addRow("&Validation split:", self.val_split)
        layout = QVBoxLayout(self)
        layout.addWidget(tools_box)
        layout.addWidget(self.gpu_panel)
        layout.addLayout(form)
        layout.addWidget(self.advanced)
        layout.addWidget(self.estimate)
        layout.addWidget(self.problem_label)
        preflight_row = QHBoxLayout()
        preflight_row.addWidget(self.preflight_button)
        preflight_row.addWidget(self.elsewhere.button)
        preflight_row.addStretch()
        layout.addLayout(preflight_row)
        layout.addWidget(self.preflight_label)
        layout.addWidget(self.elsewhere.label)
        layout.addStretch()
        self.preset.currentTextChanged.connect(self.apply_preset)
        self.method.currentIndexChanged.connect(self._method_changed)
        self.preset.setCurrentText("balanced")
        self._method_changed()

    @property
    def method_key(self) -> str:
        return METHODS[self.method.currentIndex()][0]

    def _method_changed(self) -> None:
        lora = self.method_key == "lora"
        for box in (self.lora_rank, self.lora_alpha, self.lora_modules):
            box.setEnabled(lora)
        # llama-finetune-lora holds 5 % of the windows back for validation, always.
        self.val_split.setEnabled(not lora)
        # Beside the Data page's "Held out for evaluation" (whole records kept out of training
        # for the before/after comparison), this is a share of the training text itself.
        self.val_split.setToolTip(
            "LoRA training always keeps 5 % of the training text for its validation loss."
            if lora else "The share of the training text kept back for the validation loss "
            "during training (not the Data page's held-out records, which are kept for the "
            "before/after comparison).")
        self.apply_preset(self.preset.currentText())
        self.update_estimate()
        wizard = self.wizard()
        if wizard is not None and hasattr(wizard, "update_training_format"):
            wizard.update_training_format()
        self.completeChanged.emit()

    def initializePage(self) -> None:
        settings = self.forge().app_settings
        if settings.tools_dir and self.tools_dir is None:
            self.tools_dir = Path(settings.tools_dir)
        if settings.preset in PRESETS and self.toolset is None:
            self.preset.setCurrentText(settings.preset)
        if self.toolset is None:
            self.find_tools()
        if self.gpu_panel.gpus is None:
            self.gpu_panel.detect()
        self.update_estimate()

    def apply_preset(self, name: str) -> None:
        epochs, lr, ctx, val = PRESETS[name]
        lora = self.method_key == "lora"
        self.epochs.setValue(epochs)
        self.learning_rate.setValue(lr * LORA_LR_FACTOR if lora else lr)
        self.ctx.setValue(ctx)
        self.val_split.setValue(0.05 if lora else val)

    # -- tools -----------------------------------------------------------------------------
    def find_tools(self) -> None:
        folder = self.tools_dir
        self.tools_label.setText("Looking for the llama.cpp tools…")
        self._start(lambda p, c: backend.find_tools(folder), self.show_tools,
                    lambda exc: self.tools_label.setText(f"Could not look for the tools: {exc}"))

    def show_tools(self, toolset) -> None:
        self.toolset = toolset
        rows = []
        for name, tool in toolset.tools.items():
            if tool.usable:
                rows.append(f"✔ <b>{name}</b> {tool.version or ''} ({tool.flavour or '?'}, "
                            f"{tool.backend or '?'}) — <small>{tool.path}</small>")
            else:
                rows.append(f"✘ <b>{name}</b>: {tool.problem or 'not found'}")
        if not toolset.ready:
            rows.append("Build them now (a few minutes, once) or choose a folder with your own build.")
        self.tools_label.setText("<br>".join(rows))
        self.build_button.setVisible(not toolset.ready)
        self.gpu_panel.set_tools_backend(toolset.tools["llama-finetune"].backend)
        self.completeChanged.emit()

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder with llama.cpp tools",
                                                  str(self.tools_dir or ""))
        if folder:
            self.tools_dir = Path(folder)
            self.find_tools()

    def build_tools(self) -> None:
        self.build_button.setEnabled(False)
        self.build_progress.show()
        self.build_progress.setValue(0)

        def on_progress(event):
            show_progress(self.build_progress, event)

        def built(_):
            self.build_progress.hide()
            self.build_button.setEnabled(True)
            self.find_tools()

        def failed(exc):
            self.build_progress.hide()
            self.build_button.setEnabled(True)
            self.tools_label.setText(f"The build failed: {exc}")

        self._start(lambda p, c: backend.ensure_tools(p, c), built, failed, on_progress)

    def _start(self, fn, ok, bad, progress=None) -> None:
        self._task = start_task(self, fn, ok, bad, progress, ended=self.completeChanged)

    # -- preflight -------------------------------------------------------------------------
    def run_preflight(self) -> None:
        wizard = self.forge()
        values: dict = {}
        for page in (wizard.data_page, wizard.base_page, self):
            page.contribute(values)
        if self.toolset is None or not self.toolset.ready or values.get("base_gguf") is None:
            self.preflight_label.setText("The preflight needs the tools and a base model.")
            return
        self.preflight_label.setText("Preparing the training text and counting its tokens…")
        self.preflight_button.setEnabled(False)

        def work(progress, cancel):  # the run's own steps up to its preflight (core)
            return backend.preflight(values, progress, cancel)

        def done(result):
            self.preflight_button.setEnabled(True)
            notes = "".join(f"<br>⚠ {in_app_words(note)}" for note in result.notes)
            self.preflight_label.setText(f"✔ {result.sentence()}{notes}")

        def failed(exc):
            self.preflight_button.setEnabled(True)
            self.preflight_label.setText(f"✘ {in_app_words(str(exc))}")

        self._start(work, done, failed)

    # -- estimate --------------------------------------------------------------------------
    def update_estimate(self) -> None:
        wizard = self.forge()
        info = wizard.base_page.info if wizard else None
        report = wizard.data_page.report if wizard else None
        if info is None:
            self.estimate.setText("Choose a base model to see the memory and time estimate.")
            return
        import psutil

        have = psutil.virtual_memory().total
        needs = backend.training_memory(info, self.ctx.value(), self.lora_rank.value(),
                                        self.lora_modules.text())
        self.method_note.setText(
            f"LoRA needs about {backend.human_size(needs['lora'] or 0)} of memory"
            + (f", a full fine-tune about {backend.human_size(needs['full'])}"
               if needs["full"] else ", a full fine-tune cannot train this quantized model")
            + f" (this computer has {backend.human_size(have)}).")
        need = needs[self.method_key] or 0
        self.gpu_panel.show_need(need, info, self.method_key)  # against the GPU's free memory
        text = (f"Training needs about <b>{backend.human_size(need)}</b> of memory "
                f"(this computer has {backend.human_size(have)}).")
        if need > have:
            text += " <b>That is more than this computer has</b>: choose a smaller model or context."
        if report is not None and report.stats.approx_tokens:
            tokens = report.stats.approx_tokens
            seconds = training_seconds(info.parameters, tokens, self.epochs.value(),
                                       self.method_key, physical_cores())
            text += (f"<br>About {tokens:,} tokens (approximate until the preflight counts them with "
                     f"the model's own tokenizer); time on this CPU roughly {_duration(seconds)}.")
        self.estimate.setText(text)

    # -- wizard ----------------------------------------------------------------------------
    def problem(self) -> str | None:
        """Why the run cannot start with these choices, in the page's own words."""
        info = self.forge().base_page.info if self.forge() else None
        if self.method_key == "full" and info is not None and info.trainability == "quantized":
            return ("A full fine-tune cannot train this quantized model: choose LoRA, or an "
                    "unquantized base on the Base model page.")
        values: dict = {}
        self.contribute(values)
        problems = backend.settings_problems(values)  # core's rules and sentences, as the CLI
        return problems[0] if problems else None

    def isComplete(self) -> bool:
        problem = self.problem()
        self.problem_label.setText(f"<b>✘ {problem}</b>" if problem else "")
        return self.toolset is not None and self.toolset.ready and problem is None

    def contribute(self, values: dict) -> None:
        values.update(method=self.method_key, lora_rank=self.lora_rank.value(),
                      lora_alpha=self.lora_alpha.value(),
                      lora_modules=self.lora_modules.text().strip(),
                      epochs=self.epochs.value(), learning_rate=self.learning_rate.value(),
                      ctx=self.ctx.value(), val_split=self.val_split.value(),
                      optimizer=self.optimizer.currentText(), seed=self.seed.value(),
                      threads=self.threads.value() or None,
                      gpu_layers=None if self.gpu_layers.value() < 0 else self.gpu_layers.value(),
                      tools_dir=self.tools_dir)

    def _all_values(self) -> dict:
        values: dict = {}
        for page in (self.forge().data_page, self.forge().base_page, self):
            page.contribute(values)
        return values

    def remember(self, settings) -> None:
        settings.preset = self.preset.currentText()
        settings.tools_dir = str(self.tools_dir) if self.tools_dir else None


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
