"""The Forge wizard: Data → Base model → Trainer → Name → Run → Done.

Pages are thin: each one fills its part of the run's settings (`contribute`) and calls core
through gui/backend.py in background tasks. The wizard owns the app settings and asks before
closing while a run is in progress.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtWidgets import QMessageBox, QWizard

from forge_gui.gui.pages.base import BasePage
from forge_gui.gui.pages.data import DataPage
from forge_gui.gui.pages.done import DonePage
from forge_gui.gui.pages.name import NamePage
from forge_gui.gui.pages.run import RunPage
from forge_gui.gui.pages.trainer import TrainerPage

if TYPE_CHECKING:
    from forge_gui.core.runs.run import RunSettings

log = logging.getLogger(__name__)

PAGE_DATA, PAGE_BASE, PAGE_TRAINER, PAGE_NAME, PAGE_RUN, PAGE_DONE = range(6)


class ForgeWizard(QWizard):
    def __init__(self, settings=None, paths: list[Path] | None = None, parent=None) -> None:
        """settings: the AppSettings; None reads them from the config dir when first needed
        (after the first window is shown: pydantic is not needed before)."""
        super().__init__(parent)
        self._app_settings = settings
        self.settings_problem: str | None = None
        self.setWindowTitle("Forge — fine-tune a model for Ollama")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.HaveHelpButton, False)
        self.data_page = DataPage(self)
        self.base_page = BasePage(self)
        self.trainer_page = TrainerPage(self)
        self.name_page = NamePage(self)
        self.run_page = RunPage(self)
        self.done_page = DonePage(self)
        for page_id, page in enumerate(self.pages()):
            self.setPage(page_id, page)
        for which, name in ((QWizard.WizardButton.BackButton, "Back"),
                            (QWizard.WizardButton.NextButton, "Next"),
                            (QWizard.WizardButton.CancelButton, "Cancel"),
                            (QWizard.WizardButton.FinishButton, "Finish")):
            self.button(which).setAccessibleName(name)
        self.setButtonText(QWizard.WizardButton.CustomButton1, "R&uns…")  # the Runs window
        self.setOption(QWizard.WizardOption.HaveCustomButton1, True)
        self.button(QWizard.WizardButton.CustomButton1).setAccessibleName("Show every run")
        self.customButtonClicked.connect(lambda _: self.show_runs(on_resume=self.resume_run))
        # QWizard sets Back itself on every page change: the Run page corrects it afterwards
        self.currentIdChanged.connect(lambda _: self.run_page._update_back())
        self.resize(900, 700)
        geometry = settings.window_geometry if settings else _saved_geometry()
        if geometry:
            self.restoreGeometry(QByteArray.fromHex(geometry.encode()))
        if paths:
            self.data_page.add_paths(paths)

    @property
    def app_settings(self):
        if self._app_settings is None:
            from forge_gui.core.base.app_settings import load_settings

            self._app_settings, self.settings_problem = load_settings()
        return self._app_settings

    def pages(self):
        return [self.data_page, self.base_page, self.trainer_page, self.name_page,
                self.run_page, self.done_page]

    def update_training_format(self) -> None:
        """The Data page previews (and measures) the format the run will train in, and the
        Trainer page says which and why: the base's chat format for LoRA where Forge can
        train it, else Forge's plain format (core/formats/chat_format.py)."""
        from forge_gui.gui import backend

        key, why = backend.training_format_for(self.base_page.info, self.trainer_page.method_key)
        self.data_page.set_chat_format(key, why)
        self.trainer_page.format_note.setText(why)  # the Trainer page says it in words

    def run_settings(self) -> RunSettings:
        """The recipe of the run (RunSettings), from what every page holds now; SettingsError
        (core's one sentence) for a setting core refuses."""
        from forge_gui.core.runs.run import RunSettings  # pydantic models: loaded when first needed

        values: dict = {}
        for page in (self.data_page, self.base_page, self.trainer_page, self.name_page):
            page.contribute(values)
        values.setdefault("ollama_host", self.app_settings.ollama_host)
        return RunSettings.checked(**values)

    def show_runs(self, on_resume=None):
        """The Runs window (gui/runs_window.py); on_resume(run_dir) resumes a run."""
        from forge_gui.gui.runs_window import RunsWindow

        self.runs_window = RunsWindow(self, on_resume=on_resume)
        self.runs_window.show()
        return self.runs_window

    def resume_run(self, run_dir: Path) -> bool:
        """Continue an interrupted, cancelled or failed run on the Run page, at its first
        unfinished step (a LoRA run from its last complete checkpoint). False, with the reason
        shown, when it cannot be resumed now."""
        if self.run_page.running:
            QMessageBox.information(self, "Forge", "A run is in progress; resume the other "
                                                   "one when it has ended.")
            return False
        from forge_gui.gui import backend

        try:
            specs, state, index = backend.resume(Path(run_dir))
        except Exception as exc:
            log.warning("Run %s cannot be resumed", run_dir, exc_info=True)
            QMessageBox.warning(self, "Forge", f"This run cannot be resumed: {exc}")
            return False
        self.run_page.pending = (specs, state, index)
        self.setStartId(PAGE_RUN)
        self.restart()  # shows the Run page, which starts the pending run
        self.setStartId(PAGE_DATA)
        return True

    def set_back_enabled(self, enabled: bool) -> None:
        self.button(QWizard.WizardButton.BackButton).setEnabled(enabled)

    # -- closing ---------------------------------------------------------------------------
    def save_app_settings(self) -> None:
        self.app_settings.window_geometry = bytes(self.saveGeometry().toHex().data()).decode()
        for page in (self.data_page, self.base_page, self.trainer_page, self.name_page):
            page.remember(self.app_settings)
        from forge_gui.core.base.app_settings import save_settings

        try:
            save_settings(self.app_settings)
        except OSError as exc:  # a read-only config dir must not stop the app from closing
            log.warning("The app settings could not be saved: %s", exc)

    def ask_to_stop(self) -> bool:
        """True when nothing runs, or the user agreed to stop it (then it is being stopped)."""
        if not self.run_page.running:
            return True
        answer = QMessageBox.question(
            self, "Stop the training?",
            "A training run is in progress. Stop it and close Forge?\n\n"
            "The run folder keeps everything done so far.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.run_page.stop_and_wait()
        return True

    def closeEvent(self, event) -> None:
        if not self.ask_to_stop():
            event.ignore()
            return
        self.save_app_settings()
        super().closeEvent(event)

    def accept(self) -> None:  # Finish
        self.save_app_settings()
        super().accept()

    def reject(self) -> None:  # Cancel button and Esc
        if self.ask_to_stop():
            self.save_app_settings()
            super().reject()

    def keyPressEvent(self, event) -> None:
        # Esc while a run is going must ask, not close at once (reject asks too)
        if event.key() == Qt.Key.Key_Escape and self.run_page.running:
            self.reject()
            return
        super().keyPressEvent(event)


def _saved_geometry() -> str | None:
    """The window geometry from the settings file, read without pydantic (before the first
    window; the file is validated properly when the settings are loaded)."""
    import json

    from forge_gui.core.base.paths import config_dir

    try:
        value = json.loads((config_dir() / "settings.json").read_text("utf-8")).get("window_geometry")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, AttributeError) as exc:  # load_settings says so to the user
        log.info("No saved window geometry: %s", exc)
        return None
    return value if isinstance(value, str) else None
