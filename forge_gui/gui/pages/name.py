"""Page 4 — the new model's name (checked live), system prompt, parameters, quantization."""

from __future__ import annotations

from PySide6.QtGui import QDoubleValidator, QIntValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWizard,
)

from forge_gui.gui import backend
from forge_gui.gui.pages import ForgePage

QUANTIZATIONS = [("Q8_0 (near-lossless, half the size of F16)", "Q8_0"),
                 ("Q4_K_M (smallest, some quality loss)", "Q4_K_M"),
                 ("Q5_K_M", "Q5_K_M"), ("F16", "F16"), ("F32 (keep the trained file as is)", None)]
# Ollama PARAMETERs offered here; empty fields inherit the base model's value.
PARAMETERS = [("temperature", "Temperature", lambda: QDoubleValidator(0.0, 5.0, 3)),
              ("top_p", "Top p", lambda: QDoubleValidator(0.0, 1.0, 3)),
              ("num_ctx", "Context window", lambda: QIntValidator(64, 1_000_000))]


class NamePage(ForgePage):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setTitle("Name the new model")
        self.setSubTitle("This is the name you will give to 'ollama run'.")
        # Next starts the run (not a commit page: after a failure Back may change settings)
        self.setButtonText(QWizard.WizardButton.NextButton, "Start &training")
        self.name_edit = QLineEdit()
        self.name_edit.setAccessibleName("Model name")
        self.name_edit.setPlaceholderText("e.g. my-assistant or me/my-assistant:v1")
        self.name_edit.textChanged.connect(self.check_name)
        self.name_state = QLabel()
        self.name_state.setWordWrap(True)
        self.name_state.setAccessibleName("Model name check")
        self.replace = QCheckBox("&Replace the existing model of that name")
        self.replace.setAccessibleName("Replace the existing Ollama model of that name")
        self.replace.toggled.connect(self.check_name)
        self.system = QPlainTextEdit()
        self.system.setTabChangesFocus(True)  # Tab moves on, as everywhere else
        self.system.setAccessibleName("System prompt")
        self.system.setPlaceholderText("Optional: how the model should behave, e.g. 'You are a "
                                       "concise assistant.'")
        self.system.setMaximumHeight(90)
        self.params: dict[str, QLineEdit] = {}
        form = QFormLayout()
        form.addRow("Model &name:", self.name_edit)
        form.addRow("", self.name_state)
        form.addRow("", self.replace)
        form.addRow("&System prompt:", self.system)
        for key, label, make_validator in PARAMETERS:
            edit = QLineEdit()
            edit.setAccessibleName(label)
            edit.setPlaceholderText("as the base model")
            validator = make_validator()
            validator.setParent(edit)
            edit.setValidator(validator)
            self.params[key] = edit
            form.addRow(f"{label}:", edit)
        self.quantize = QComboBox()
        self.quantize.setAccessibleName("Output quantization")
        for label, _ in QUANTIZATIONS:
            self.quantize.addItem(label)
        form.addRow("Output &quantization:", self.quantize)
        self.create_box = QCheckBox("Register the model with &Ollama at the end")
        self.create_box.setAccessibleName("Register the model with Ollama at the end")
        self.create_box.setChecked(True)
        form.addRow("", self.create_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addStretch()
        self.replace.hide()
        self.problem: str | None = "Enter a model name."

    def initializePage(self) -> None:
        settings = self.forge().app_settings
        values = [v for _, v in QUANTIZATIONS]
        if settings.quantize in values:
            self.quantize.setCurrentIndex(values.index(settings.quantize))
        self.check_name()

    def existing_models(self) -> list[str]:
        wizard = self.forge()
        return wizard.base_page.models if wizard else []

    def models_known(self) -> bool:
        """False while Ollama's model list is unknown (not reachable, or not asked yet)."""
        wizard = self.forge()
        base = wizard.base_page if wizard else None
        return (base is not None and getattr(base, "ollama_error", None) is None
                and not base.listing)

    def check_name(self) -> None:
        name = self.name_edit.text()
        problem = backend.validate_model_name(name)
        exists = not problem and any(backend.same_model(name, m) for m in self.existing_models())
        self.replace.setVisible(exists)
        if problem:
            self.name_state.setText(f"✘ {problem}")
        elif exists and not self.replace.isChecked():
            problem = (f"A model named {name} already exists in Ollama. Choose another name, or "
                       "tick the box to replace it.")
            self.name_state.setText(f"✘ {problem}")
        elif exists:
            self.name_state.setText(f"⚠ {name} will be replaced.")
        elif not self.models_known():
            self.name_state.setText(f"⚠ Ollama could not be asked whether {name} exists; "
                                    "Forge checks again before registering and never replaces "
                                    "a model without asking.")
        else:
            self.name_state.setText(f"✔ {name} is free.")
        self.problem = problem
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.problem is None

    def contribute(self, values: dict) -> None:
        values["name"] = self.name_edit.text()
        values["system"] = self.system.toPlainText().strip() or None
        values["parameters"] = {k: e.text() for k, e in self.params.items() if e.text().strip()}
        values["quantize"] = QUANTIZATIONS[self.quantize.currentIndex()][1]
        values["create"] = self.create_box.isChecked()
        values["force"] = not self.replace.isHidden() and self.replace.isChecked()

    def remember(self, settings) -> None:
        settings.quantize = QUANTIZATIONS[self.quantize.currentIndex()][1]
