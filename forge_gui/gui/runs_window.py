"""The Runs window: every run under the runs folder, the same list as `forge-cli runs`.

For the selected run: its loss chart (from logs/train.log, with the base's held-out loss as a
reference line), its before/after table, and actions: open its folder or log, export its
script, resume it (a callback the wizard provides), delete it after asking (only the folder:
a model registered in Ollama stays). The listing is core/runs/runs_index.py, through gui/backend.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from forge_gui.core.base.events import ProgressEvent
from forge_gui.gui import backend
from forge_gui.gui.tasks import BackgroundTask
from forge_gui.gui.widgets import action_button
from forge_gui.gui.widgets.compare_table import CompareTable
from forge_gui.gui.widgets.loss_chart import LossChart

log = logging.getLogger(__name__)

COLUMNS = ("Status", "Started", "Model", "Base", "Method", "Data", "Train loss",
           "Held-out loss (base → tuned)", "Duration")
STATUS_TEXT = {"done": "✔ done", "failed": "✘ failed", "cancelled": "■ cancelled",
               "interrupted": "⚠ interrupted", "running": "▶ running", "unreadable": "? unreadable"}


class RunsWindow(QWidget):
    def __init__(self, parent=None, root: Path | None = None,
                 on_resume: Callable[[Path], object] | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Forge — runs")
        self.setAccessibleName("Runs")
        self.root = root
        self.on_resume = on_resume
        self.runs: list = []
        self._tasks: set = set()

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("Runs")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setTabKeyNavigation(False)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _: self.open_folder())

        self.refresh_button = action_button("Re&fresh", "Refresh the list of runs", self.refresh)
        self.folder_button = action_button("&Open folder", "Open the run's folder", self.open_folder)
        self.log_button = action_button("Open &log", "Open the run's training log", self.open_log)
        self.export_button = action_button("&Export script…", "Export the run as a shell script",
                                           self._export_dialog)
        self.resume_button = action_button("Res&ume", "Resume the run", self.resume)
        self.register_button = action_button("Re&gister as…", "Register the run's model again "
                                             "under a new name", self._register_dialog)
        self.delete_button = action_button("&Delete…", "Delete the run's folder", self.delete_selected)
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.state.setAccessibleName("Runs window status")
        self.chart = LossChart()
        self.compare = CompareTable()

        buttons = QHBoxLayout()
        for button in (self.refresh_button, self.folder_button, self.log_button,
                       self.export_button, self.resume_button, self.register_button,
                       self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch()
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.chart)
        lower.addWidget(self.compare)
        lower.setSizes([400, 500])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(lower)
        split.setSizes([260, 320])
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(split, 1)
        layout.addWidget(self.state)
        self.resize(1000, 640)
        self.refresh()

    # -- the list -------------------------------------------------------------------------
    def refresh(self) -> None:
        self.set_runs(backend.list_runs(self.root))

    def set_runs(self, runs: list) -> None:
        """Show these RunSummary rows (refresh() reads them from the runs folder)."""
        keep = self.selected()
        self.runs = list(runs)
        self.table.setRowCount(0)
        for summary in self.runs:
            self._add_row(summary)
        self.table.resizeColumnsToContents()
        if keep is not None:
            for i, summary in enumerate(self.runs):
                if summary.run_dir == keep.run_dir:
                    self.table.selectRow(i)
        if not self.runs:
            self.state.setText("No runs yet. Each training run gets its own folder; it will "
                               "be listed here.")
        self._selection_changed()

    def _add_row(self, s) -> None:
        from forge_gui.core.runs.runs_index import format_loss, human_duration

        i = self.table.rowCount()
        self.table.insertRow(i)
        cells = (STATUS_TEXT.get(s.status, s.status), (s.created or "")[:16].replace("T", " "),
                 s.model or s.name or "", s.base or "", s.method or "",
                 ", ".join(Path(d).name for d in s.data),
                 format_loss(s.train_loss_first, s.train_loss_last),
                 format_loss(s.base_loss, s.tuned_loss), human_duration(s.duration_seconds))
        for col, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(s.message or str(s.run_dir))
            self.table.setItem(i, col, item)

    def row_of(self, run_dir: Path) -> int:
        return next((i for i, s in enumerate(self.runs) if s.run_dir == Path(run_dir)), -1)

    def status_of(self, run_dir: Path) -> str | None:
        i = self.row_of(run_dir)
        item = self.table.item(i, 0) if i >= 0 else None
        return item.text() if item is not None else None

    def select(self, run_dir: Path) -> None:
        self.table.selectRow(self.row_of(run_dir))

    def selected(self):
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows or rows[0].row() >= len(self.runs):
            return None
        return self.runs[rows[0].row()]

    def _selection_changed(self) -> None:
        s = self.selected()
        for button in (self.folder_button, self.log_button, self.export_button,
                       self.delete_button):
            button.setEnabled(s is not None)
        self.resume_button.setEnabled(bool(s and s.resumable and self.on_resume))
        self.resume_button.setToolTip("" if self.on_resume else
                                      "Resuming a run is not available in this version.")
        self.delete_button.setEnabled(bool(s and s.status != "running"))
        self.register_button.setEnabled(bool(s and s.output_gguf and s.status != "running"))
        if s is None:
            self.chart.set_points([], [])
            self.chart.set_reference(None)
            self.compare.set_result(None)
            return
        train, val = backend.run_loss_points(s.run_dir, s.epochs)
        self.chart.set_points(train, val)
        self.chart.set_reference(s.base_loss)
        self.compare.set_result(backend.load_evaluation(s.run_dir))
        self.state.setText(f"{s.run_dir}" + (f" — {s.message}" if s.message else ""))

    # -- actions --------------------------------------------------------------------------
    def open_folder(self) -> None:
        s = self.selected()
        if s is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(s.run_dir)))

    def log_path(self, s) -> Path | None:
        logs = s.run_dir / "logs"
        train = logs / "train.log"
        if train.is_file():
            return train
        found = sorted(logs.glob("*.log"), key=lambda p: p.stat().st_mtime) if logs.is_dir() else []
        return found[-1] if found else None

    def open_log(self) -> None:
        s = self.selected()
        if s is None:
            return
        path = self.log_path(s)
        if path is None:
            self.state.setText(f"This run has no log yet ({s.run_dir / 'logs'}).")
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))

    def resume(self) -> None:
        s = self.selected()
        if s is not None and self.on_resume is not None and s.resumable:
            self.on_resume(s.run_dir)

    def _export_dialog(self) -> None:
        s = self.selected()
        if s is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export the run as a script",
                                              str(Path.home() / f"forge-{s.name or 'run'}.sh"),
                                              "Shell scripts (*.sh)", "",
                                              QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.export_script(Path(path))

    def export_script(self, path: Path) -> BackgroundTask | None:
        """The script `forge-cli train --write-script` writes for this run's settings."""
        s = self.selected()
        if s is None:
            return None
        run_dir = s.run_dir
        self.state.setText(f"Writing {path}…")
        task = BackgroundTask(lambda p, c: backend.write_script(backend.run_settings(run_dir), path))
        task.succeeded.connect(lambda _: self.state.setText(
            f"✔ Wrote {path}: it repeats this run from a terminal (bash {path.name})."))
        task.failed.connect(lambda exc: self.state.setText(f"✘ Could not write the script: {exc}"))
        self._tasks.add(task)
        task.ended.connect(lambda: self._tasks.discard(task))
        task.start()
        return task

    def _register_dialog(self) -> None:
        s = self.selected()
        if s is None:
            return
        name, ok = QInputDialog.getText(self, "Register again",
                                        "Register this run's model with Ollama as:",
                                        text=f"{s.name or 'model'}-2")
        if ok and name.strip():
            self.register_again(name.strip())

    def register_again(self, name: str) -> BackgroundTask | None:
        """Register the selected run's model under a new name (a new run folder records it)."""
        s = self.selected()
        if s is None:
            return None
        problem = backend.validate_model_name(name)
        if problem:
            self.state.setText(f"✘ '{name}' cannot be an Ollama model name. {problem}")
            return None
        run_dir = s.run_dir
        self.state.setText(f"Registering {name} with Ollama…")
        self.register_button.setEnabled(False)
        task = BackgroundTask(lambda p, c: backend.register_again(run_dir, name, p, c))
        task.progress.connect(self._register_progress)
        task.succeeded.connect(lambda state: self._registered(name, state))
        task.failed.connect(lambda exc: self._register_failed(exc))
        self._tasks.add(task)
        task.ended.connect(lambda: self._tasks.discard(task))
        task.start()
        return task

    def _register_progress(self, event: ProgressEvent) -> None:
        if event.message:
            self.state.setText(event.message)

    def _registered(self, name: str, state) -> None:
        self.refresh()
        answer = state.artifacts.smoke_answer
        self.state.setText(f"✔ Registered '{state.artifacts.model or name}': ollama run "
                           f"{state.artifacts.model or name}"
                           + (f" — it answered: {answer}" if answer else ""))

    def _register_failed(self, exc) -> None:
        self.refresh()
        self.state.setText(f"✘ Could not register: {exc}")

    def delete_selected(self) -> bool:
        """Ask, then delete the selected run's folder. True when it was deleted."""
        s = self.selected()
        if s is None:
            return False
        size = backend.human_size(_folder_size(s.run_dir))
        keep = (f"\n\nThe Ollama model '{s.model}' is not deleted (remove it with "
                f"'ollama rm {s.model}' if you no longer want it)." if s.model else "")
        answer = QMessageBox.question(
            self, "Delete this run?",
            f"Delete the run folder of “{s.name or s.run_dir.name}” and everything in it "
            f"({size})?\n\n{s.run_dir}{keep}",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            self.state.setText("Nothing was deleted.")
            return False
        try:
            backend.delete_run(s.run_dir)
        except Exception as exc:
            log.warning("could not delete %s: %s", s.run_dir, exc)
            self.state.setText(f"✘ {exc}")
            return False
        self.refresh()
        self.state.setText(f"Deleted {s.run_dir}.")
        return True


def _folder_size(run_dir: Path) -> int:
    from forge_gui.core.runs.runs_index import folder_size
    return folder_size(run_dir)
