"""Page 2 — the base model: one of the user's Ollama models, or a GGUF file."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QRadioButton,
    QVBoxLayout,
)

from forge_gui.gui import backend
from forge_gui.gui.pages import ForgePage
from forge_gui.gui.tasks import BackgroundTask
from forge_gui.gui.widgets import action_button


class BasePage(ForgePage):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setTitle("Base model")
        self.setSubTitle("The model to fine-tune: one of your Ollama models (its GGUF is found "
                         "for you) or a GGUF file.")
        self.models: list[str] = []
        self.ollama_error: str | None = None
        self.info = None  # GGUFInfo of the chosen base
        self.gguf_path: Path | None = None
        self._tasks: dict[str, BackgroundTask] = {}  # the current task of each kind
        self._live: set[BackgroundTask] = set()  # every task not yet ended

        self.use_ollama = QRadioButton("An &Ollama model")
        self.use_ollama.setAccessibleName("Use an Ollama model as the base")
        self.use_file = QRadioButton("A &GGUF file")
        self.use_file.setAccessibleName("Use a GGUF file as the base")
        group = QButtonGroup(self)
        group.addButton(self.use_ollama)
        group.addButton(self.use_file)
        self.use_ollama.setChecked(True)
        group.buttonToggled.connect(lambda *_: self._source_changed())

        self.host = QLineEdit()
        self.host.setAccessibleName("Ollama address")
        self.host.editingFinished.connect(self.refresh)
        self.refresh_button = action_button(
            "&Refresh", "Refresh the list of Ollama models", self.refresh)
        self.model_list = QListWidget()
        self.model_list.setAccessibleName("Ollama models")
        self.model_list.setMinimumHeight(120)
        self.model_list.currentTextChanged.connect(self._model_chosen)
        self.ollama_state = QLabel()
        self.ollama_state.setWordWrap(True)
        self.ollama_state.setAccessibleName("Ollama state")

        self.file_edit = QLineEdit()
        self.file_edit.setAccessibleName("GGUF file path")
        self.file_edit.setPlaceholderText("path/to/model.gguf")
        self.file_edit.editingFinished.connect(lambda: self.choose_file(self.file_edit.text()))
        self.browse = action_button("&Browse…", "Choose a GGUF file", self._browse)

        self.details = QLabel("Choose a base model.")
        self.details.setWordWrap(True)
        self.details.setAccessibleName("Base model details")

        host_row = QHBoxLayout()
        host_row.addWidget(self.host, 1)
        host_row.addWidget(self.refresh_button)
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(self.browse)
        form = QFormLayout()
        host_label = QLabel("Ollama &address:")
        host_label.setBuddy(self.host)
        form.addRow(host_label, host_row)
        layout = QVBoxLayout(self)
        layout.addWidget(self.use_ollama)
        layout.addLayout(form)
        layout.addWidget(self.model_list, 1)
        layout.addWidget(self.ollama_state)
        layout.addWidget(self.use_file)
        layout.addLayout(file_row)
        layout.addWidget(self.details)
        layout.addStretch()

    def initializePage(self) -> None:
        settings = self.forge().app_settings
        if not self.host.text():
            self.host.setText(backend.ollama_host(settings.ollama_host))
        if not self.models and not self._tasks.get("list"):
            self.refresh()
        if self.info is None and not self.file_edit.text() and settings.last_base_gguf \
                and Path(settings.last_base_gguf).is_file():  # the file chosen last time
            self.choose_file(settings.last_base_gguf)

    # -- Ollama ----------------------------------------------------------------------------
    def refresh(self) -> None:
        host = self.host.text().strip()
        self.ollama_state.setText(f"Asking Ollama at {host}…")
        self.refresh_button.setEnabled(False)
        self._run("list", lambda p, c: backend.list_ollama_models(host), self.set_models,
                  self._ollama_down)

    def set_models(self, names: list[str]) -> None:
        self.ollama_error = None
        self.refresh_button.setEnabled(True)
        previous = self.model_list.currentItem().text() if self.model_list.currentItem() else None
        self.models = names
        self.model_list.clear()
        self.model_list.addItems(names)
        self.model_list.setEnabled(True)
        if names:
            self.ollama_state.setText(f"{len(names)} model(s) in Ollama. Each one trains with "
                                      "LoRA as it is; a full fine-tune needs an unquantized tag "
                                      "(…-fp16).")
        else:
            self.ollama_state.setText("Ollama is running but has no models. Pull one first, e.g. "
                                      "'ollama pull llama3.2:1b-instruct-fp16', then Refresh.")
        want = previous or self.forge().app_settings.last_base
        for row, name in enumerate(names):
            if name == want:
                self.model_list.setCurrentRow(row)

    def _ollama_down(self, exc: BaseException) -> None:
        self.refresh_button.setEnabled(True)
        self.models = []
        self.model_list.clear()
        self.model_list.setEnabled(False)
        self.ollama_error = str(exc)
        why = getattr(exc, "message", None) or str(exc)  # it names the address already
        self.ollama_state.setText(
            f"{why}\n"
            "Start Ollama (or fix the address) and press Refresh, or choose a GGUF file below.")
        if self.use_ollama.isChecked():
            self.use_file.setChecked(True)

    def _model_chosen(self, name: str) -> None:
        if not name or not self.use_ollama.isChecked():
            return
        self._set_base(None, f"Finding the GGUF of {name}…")
        self._run("resolve", lambda p, c: self._inspect(backend.resolve_base(name)),
                  self._show_info, self._show_problem)

    # -- GGUF file -------------------------------------------------------------------------
    def _browse(self) -> None:
        start = self.forge().app_settings.last_gguf_dir or ""
        path, _ = QFileDialog.getOpenFileName(self, "Choose a base model", start,
                                              "GGUF models (*.gguf);;All files (*)")
        if path:
            self.choose_file(path)

    def choose_file(self, path: str | Path) -> None:
        if not str(path).strip():
            return
        self.use_file.setChecked(True)
        self.file_edit.setText(str(path))
        self._set_base(None, f"Reading {Path(path).name}…")
        self._run("resolve", lambda p, c: self._inspect(Path(path)), self._show_info,
                  self._show_problem)

    @staticmethod
    def _inspect(path: Path):
        return backend.inspect_gguf(path)

    def _source_changed(self) -> None:
        self._set_base(None, "Choose a base model.")
        if self.use_ollama.isChecked() and self.model_list.currentItem():
            self._model_chosen(self.model_list.currentItem().text())
        elif self.use_file.isChecked() and self.file_edit.text():
            self.choose_file(self.file_edit.text())

    # -- showing the result ----------------------------------------------------------------
    def _set_base(self, info, text: str) -> None:
        self.info = info
        self.gguf_path = Path(info.path) if info is not None else None
        self.details.setText(text)
        wizard = self.wizard()
        if wizard is not None and hasattr(wizard, "update_training_format"):
            wizard.update_training_format()
        self.completeChanged.emit()

    def _show_info(self, info) -> None:
        size = backend.human_size(info.size_bytes)
        quant = info.file_type or ", ".join(sorted(info.tensor_types))
        ctx = info.context_length or "unknown"
        if info.trainability == "not-a-model":
            verdicts = f"<b>✘ not a model</b>: {info.explain_trainability()}"
        else:  # LoRA trains every model type as stored; full fine-tuning needs F32 weights
            full = {"ready": "✔ ready", "convert": "✔ after a lossless conversion to F32",
                    "quantized": "✘ not as it is"}[info.trainability]
            verdicts = (f"<b>✔ trainable with LoRA as it is</b>: {info.explain_for('lora')}"
                        f"<br>Full fine-tune: {full}. {info.explain_trainability()}")
        text = (f"<b>{info.name or Path(info.path).name}</b> — {info.architecture}, "
                f"{info.parameters / 1e6:,.1f} M parameters, {size}, {quant}, context {ctx}"
                f"<br>{verdicts}<br><small>{info.path}</small>")
        self._set_base(info, text)

    def _show_problem(self, exc: BaseException) -> None:
        self._set_base(None, f"<b>✘ This base cannot be used.</b> {exc}")

    def _run(self, key: str, fn, on_success, on_failure) -> None:
        old = self._tasks.get(key)
        if old is not None:
            old.cancel()
        task = BackgroundTask(fn, self)
        self._tasks[key] = task

        # The answer is in once it is shown: the task leaves _tasks then, not at `ended`, which
        # comes as a second queued signal (the Name page asks `listing` in between).
        def done(result):
            if self._tasks.get(key) is task:
                self._tasks.pop(key)
                on_success(result)

        def failed(exc):
            if self._tasks.get(key) is task:
                self._tasks.pop(key)
                on_failure(exc)

        task.succeeded.connect(done)
        task.failed.connect(failed)
        task.ended.connect(lambda: self._tasks.get(key) is task and self._tasks.pop(key))
        self._live.add(task)
        task.ended.connect(lambda: self._live.discard(task))
        task.start()

    @property
    def listing(self) -> bool:
        """True while Ollama's model list is being asked for."""
        return "list" in self._tasks

    @property
    def busy(self) -> bool:
        """True until every task this page started has ended (shown or not)."""
        return bool(self._live)

    # -- wizard ----------------------------------------------------------------------------
    def isComplete(self) -> bool:
        return self.info is not None and self.info.trainability != "not-a-model"

    def contribute(self, values: dict) -> None:
        if self.use_ollama.isChecked() and self.model_list.currentItem():
            values["base"] = self.model_list.currentItem().text()
        values["base_gguf"] = self.gguf_path
        values["ollama_host"] = self.ollama_host()

    def remember(self, settings) -> None:
        if self.host.text():
            settings.ollama_host = self.host.text().strip()
        if self.use_ollama.isChecked() and self.model_list.currentItem():
            settings.last_base = self.model_list.currentItem().text()
        if self.use_file.isChecked() and self.file_edit.text():
            settings.last_gguf_dir = str(Path(self.file_edit.text()).parent)
        settings.last_base_gguf = (str(self.gguf_path) if self.use_file.isChecked()
                                   and self.gguf_path else None)

    def ollama_host(self) -> str:
        return self.host.text().strip() or backend.ollama_host(None)
