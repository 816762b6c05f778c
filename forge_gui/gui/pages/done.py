"""Page 6 — done: how to run the model, its first answer, a box to ask more, the run folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QVBoxLayout

from forge_gui.gui import backend
from forge_gui.gui.pages import ForgePage
from forge_gui.gui.tasks import BackgroundTask
from forge_gui.gui.widgets import action_button
from forge_gui.gui.widgets.compare_table import CompareTable
from forge_gui.gui.wording import in_app_words


class QuestionEdit(QLineEdit):
    """The ask box: Enter asks, and stops there (else it would also press Finish, the
    dialog's default button, and close the app with the answer still coming)."""

    def keyPressEvent(self, event) -> None:
        super().keyPressEvent(event)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()


class DonePage(ForgePage):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setTitle("Your model is ready")
        self.setFinalPage(True)
        self.model: str | None = None
        self.host: str | None = None
        self.run_dir: Path | None = None
        self.settings = None
        self._task: BackgroundTask | None = None
        self.simulated = False  # --screenshots / --self-test: filled from outside

        self.headline = QLabel()
        self.headline.setWordWrap(True)
        self.headline.setAccessibleName("Result")
        self.command = QLineEdit()
        self.command.setReadOnly(True)
        self.command.setAccessibleName("Command to chat with the model")
        self.copy_button = action_button("&Copy", "Copy the command", self.copy_command)
        self.answer = QPlainTextEdit()
        self.answer.setTabChangesFocus(True)  # Tab moves on, as everywhere else
        self.answer.setReadOnly(True)
        self.answer.setAccessibleName("The model's answers")
        self.question = QuestionEdit()
        self.question.setAccessibleName("Ask the model")
        self.question.setPlaceholderText("Ask your model something and press Enter")
        self.question.returnPressed.connect(self.ask)
        self.ask_button = action_button("&Ask", "Ask the model", self.ask)
        self.folder_label = QLabel()
        self.folder_label.setWordWrap(True)
        self.folder_label.setAccessibleName("Run folder")
        open_folder = action_button("&Open the run folder", "Open the run folder", self.open_folder)
        export = action_button(
            "&Export as script…", "Export the run as a shell script", self._export_dialog)
        self.export_state = QLabel()
        self.export_state.setWordWrap(True)
        self.compare = CompareTable()  # base and fine-tuned on held-out records

        row = QHBoxLayout()
        row.addWidget(self.command, 1)
        row.addWidget(self.copy_button)
        ask_row = QHBoxLayout()
        ask_row.addWidget(self.question, 1)
        ask_row.addWidget(self.ask_button)
        folder_row = QHBoxLayout()
        folder_row.addWidget(open_folder)
        folder_row.addWidget(export)
        folder_row.addStretch()
        layout = QVBoxLayout(self)
        layout.addWidget(self.headline)
        layout.addLayout(row)
        layout.addWidget(QLabel("The model's answers:"))
        layout.addWidget(self.answer, 1)
        layout.addLayout(ask_row)
        layout.addWidget(self.compare, 1)
        layout.addWidget(self.folder_label)
        layout.addLayout(folder_row)
        layout.addWidget(self.export_state)

    def initializePage(self) -> None:
        if self.simulated:
            return
        run = self.forge().run_page
        state = run.state
        self.show_result(state.settings, state.artifacts, state.run_dir)

    def show_result(self, settings, artifacts, run_dir: Path) -> None:
        self.settings, self.run_dir = settings, Path(run_dir)
        self.host = backend.ollama_host(settings.ollama_host)
        self.model = artifacts.model
        registered = artifacts.model is not None
        if registered:
            self.headline.setText(f"<b>{artifacts.model}</b> is in Ollama. Chat with it:")
            self.command.setText(f"ollama run {artifacts.model}")
        else:
            finish = artifacts.finish_command or backend.finish_command(
                settings.name, artifacts.modelfile or Path(run_dir) / "Modelfile")
            self.headline.setText(
                f"The model file is ready but was <b>not registered with Ollama</b>. When Ollama "
                f"runs, register it with the command below, then 'ollama run {settings.name}'.")
            self.command.setText(finish)
        first = artifacts.smoke_answer
        prompt = settings.smoke_prompt
        self.answer.setPlainText(f"» {prompt}\n{first}\n" if first else "")
        self.question.setEnabled(registered)
        self.ask_button.setEnabled(registered)
        self.compare.set_result(backend.load_evaluation(run_dir, artifacts))
        self.folder_label.setText(f"Everything about this run (data, commands, logs, model, "
                                  f"Modelfile, run.json) is in {run_dir}")

    def copy_command(self) -> None:
        QGuiApplication.clipboard().setText(self.command.text())

    def ask(self) -> None:
        prompt = self.question.text().strip()
        if not prompt or not self.model or (self._task and self._task.running):
            return
        host, model = self.host or backend.ollama_host(None), self.model
        self.answer.appendPlainText(f"» {prompt}\n…")
        self.question.clear()
        self.ask_button.setEnabled(False)
        task = BackgroundTask(lambda p, c: backend.generate(host, model, prompt), self)
        task.succeeded.connect(lambda text: self._answered(str(text)))
        task.failed.connect(lambda exc: self._answered(f"(no answer: {exc})"))
        self._task = task
        task.start()

    def _answered(self, text: str) -> None:
        content = self.answer.toPlainText()
        if content.endswith("…"):
            content = content[:-1]
        self.answer.setPlainText(content + text + "\n")
        self.ask_button.setEnabled(True)

    def open_folder(self) -> None:
        if not self.run_dir:
            return
        if QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.run_dir))):
            return
        # no file manager answered: say where it is, and put the path on the clipboard
        QGuiApplication.clipboard().setText(str(self.run_dir))
        self.folder_label.setText(f"No file manager could open the run folder. It is "
                                  f"{self.run_dir} (the path is copied: paste it into a "
                                  f"terminal or a file manager).")

    def _export_dialog(self) -> None:
        # core refuses to write over an existing file, so the dialog need not ask
        path, _ = QFileDialog.getSaveFileName(self, "Export the run as a script",
                                              str(Path.home() / "forge-train.sh"),
                                              "Shell scripts (*.sh)", "",
                                              QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.export_script(Path(path))

    def export_script(self, path: Path) -> None:
        """Write the script `forge-cli train --write-script` writes (it probes the tools and
        reads the base model: in the background)."""
        settings = self.settings
        self.export_state.setText(f"Writing {path}…")
        task = BackgroundTask(lambda p, c: backend.write_script(settings, path), self)
        task.succeeded.connect(lambda _: self.export_state.setText(
            f"✔ Wrote {path}: it repeats this run from a terminal (bash {path.name})."))
        task.failed.connect(lambda exc: self.export_state.setText(
            f"✘ Could not write the script: {in_app_words(str(exc))}"))
        self._export_task = task
        task.start()
