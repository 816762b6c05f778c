"""The Trainer page's "Train elsewhere…": the wizard's settings written as an Axolotl job
folder for a GPU host or cluster (core/export/job.py, docs/cluster.md), in a worker thread."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QLabel, QWidget

from forge_gui.gui import backend
from forge_gui.gui.tasks import BackgroundTask, start_task
from forge_gui.gui.widgets import action_button
from forge_gui.gui.wording import in_app_words


class TrainElsewhere:
    """A button (ask for the Hugging Face model and a folder) and a label with the result."""

    def __init__(self, parent: QWidget, values: Callable[[], dict]) -> None:
        self.parent, self.values = parent, values
        self.button = action_button(
            "Train else&where…", "Write a training job for a GPU host or cluster (Axolotl)",
            self.ask)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setAccessibleName("Training job for a GPU host")
        self._task: BackgroundTask | None = None

    def ask(self) -> None:
        hf_base, ok = QInputDialog.getText(
            self.parent, "Train elsewhere", "The Hugging Face model to train on the GPU host "
            "(ORG/NAME, the same model as your base):")
        if not ok or not hf_base.strip():
            return
        folder = QFileDialog.getExistingDirectory(self.parent, "A new or empty folder for the job")
        if folder:
            self.export(hf_base.strip(), Path(folder))

    def export(self, hf_base: str, out_dir: Path) -> None:
        """Write the job folder off the UI thread; the result shows in the label."""
        values = self.values()
        self.button.setEnabled(False)
        self.label.setText("Writing the training job…")

        def done(result) -> None:
            self.button.setEnabled(True)
            notes = "".join(f"<br>⚠ {w}" for w in result.warnings)
            self.label.setText(f"✔ Wrote {result.out_dir} ({result.samples:,} conversations): "
                               f"copy it to the GPU host and follow its README.md.{notes}")

        def failed(exc) -> None:
            self.button.setEnabled(True)
            self.label.setText(f"✘ {in_app_words(str(exc))}")

        self._task = start_task(self.parent, lambda progress, cancel: backend.export_job(
            values, hf_base, out_dir, progress, cancel), done, failed)
