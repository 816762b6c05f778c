"""Page 1 — the training data: drop or browse, validated in the background."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QTableView,
    QTabWidget,
    QVBoxLayout,
)

from forge_gui.core.data.lengths import RecordShapes, histogram, record_shapes, stats_rows
from forge_gui.core.data.mapping import parse_map
from forge_gui.core.data.models import ValidationOptions
from forge_gui.gui import backend
from forge_gui.gui.pages import ForgePage
from forge_gui.gui.tasks import BackgroundTask, start_task
from forge_gui.gui.widgets import action_button
from forge_gui.gui.widgets.drop_zone import DropZone
from forge_gui.gui.widgets.issue_model import IssueTableModel
from forge_gui.gui.widgets.length_histogram import StatsView
from forge_gui.gui.wording import in_app_words

PREVIEW_RECORDS = 3
MAX_WARNINGS_SHOWN = 500  # a list widget builds an item per row, unlike the error table


# Held out by default when there is enough data: 10 % of the records, if that is at least
# the 2 × 512 tokens llama-perplexity needs at the default context.
DEFAULT_HELD_OUT = 10
MIN_RECORDS_TO_HOLD_OUT = 20
MIN_HELD_OUT_TOKENS = 2 * 512
HELD_OUT_WHY = ("Whole records kept out of training, to compare the base and the trained model "
                "on the Done page. Not the Trainer page's Validation split: that is a share of "
                "the training text the trainer sets aside while it trains, to report a "
                "validation loss.")
DEFAULT_CTX = 512  # RunSettings' default, before the Trainer page exists


def field_map_problem(text: str) -> str | None:
    """core's sentence for a field mapping it refuses (the CLI's --map says the same)."""
    try:
        parse_map(text)
    except ValueError as exc:
        return f"Field mapping: {exc}."
    return None


def field_map_of(text: str) -> dict[str, str]:
    """The mapping core reads from `text`; {} while it is refused (Next is disabled then)."""
    return {} if field_map_problem(text) else parse_map(text)


class DataPage(ForgePage):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setTitle("Training data")
        self.setSubTitle("Drop JSONL or JSON files (Alpaca, chat messages or ShareGPT), or folders "
                         "holding them. Nothing you give is changed.")
        self.paths: list[Path] = []
        self.report = None
        self.previews: list[tuple] = []  # the first records' turns
        self.chat_format = "plain"  # set from the base page: the format the run trains in
        self._task: BackgroundTask | None = None
        self._last_dir: str | None = None

        self.drop_zone = DropZone("Drop training data files or folders here")
        self.drop_zone.paths_dropped.connect(self.add_paths)
        self.files = QListWidget()
        self.files.setAccessibleName("Chosen data files and folders")
        self.files.setMaximumHeight(70)
        add_files = action_button("Add &files…", "Add data files", self._browse_files)
        add_folder = action_button("Add f&older…", "Add a data folder", self._browse_folder)
        remove = action_button("&Remove", "Remove the selected data path", self._remove_selected)
        self.field_map_edit = QLineEdit()
        self.field_map_edit.setAccessibleName("Field mapping")
        self.field_map_edit.setPlaceholderText("e.g. instruction=question, output=answer")
        self.field_map_edit.editingFinished.connect(self._field_map_changed)
        self.held_out = QDoubleSpinBox()
        self.held_out.setAccessibleName("Held-out share of records for evaluation")
        self.held_out.setRange(0, 50)
        self.held_out.setSuffix(" %")
        self.held_out.setDecimals(0)
        self.held_out.setToolTip(HELD_OUT_WHY)
        self.held_out.setAccessibleDescription(HELD_OUT_WHY)
        self._held_out_chosen = False  # the user set it: no default replaces their choice
        self._suggesting = False
        self.held_out.valueChanged.connect(self._held_out_changed)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Validation progress")
        self.stop_button = action_button("&Stop", "Stop validation", self.stop_validation)
        self.summary = QLabel("No data yet.")
        self.summary.setWordWrap(True)
        self.summary.setAccessibleName("Validation summary")
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.error_model = IssueTableModel(self)
        self.errors = QTableView()
        self.errors.setModel(self.error_model)
        self.errors.setAccessibleName("Errors: double-click a row to see the line")
        self.errors.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.errors.verticalHeader().hide()
        self.errors.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        self.errors.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.errors.doubleClicked.connect(lambda index: self.show_error_line(index.row()))
        self.warnings = QListWidget()
        self.warnings.setAccessibleName("Warnings")
        self.stats = StatsView()
        self.lengths: RecordShapes | None = None  # each record's length, in any format
        self.preview = QPlainTextEdit()
        self.preview.setTabChangesFocus(True)  # Tab moves on, as everywhere else
        self.preview.setReadOnly(True)
        self.preview.setAccessibleName("Preview of the training text")
        self.preview.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Validation results")
        self.tabs.addTab(self.preview, "Preview (as the trainer sees it)")
        self.tabs.addTab(self.errors, "Errors")
        self.tabs.addTab(self.warnings, "Warnings")
        self.tabs.addTab(self.stats, "Statistics")
        self.tabs.currentChanged.connect(  # the context may have changed on the Trainer page
            lambda index: self.show_lengths() if self.tabs.widget(index) is self.stats else None)

        buttons = QHBoxLayout()
        for b in (add_files, add_folder, remove):
            buttons.addWidget(b)
        buttons.addStretch()
        form = QFormLayout()
        form.addRow("Field &mapping:", self.field_map_edit)
        form.addRow("&Held out for evaluation:", self.held_out)
        bar = QHBoxLayout()
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.drop_zone)
        layout.addWidget(self.files)
        layout.addLayout(buttons)
        layout.addLayout(form)
        layout.addLayout(bar)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)
        self._set_busy(False)

    # -- choosing data ---------------------------------------------------------------------
    def _start_dir(self) -> str:
        return self._last_dir or self.forge().app_settings.last_data_dir or ""

    def _browse_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add training data", self._start_dir(),
                                                "Training data (*.jsonl *.json);;All files (*)")
        self.add_paths([Path(f) for f in files])

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of training data",
                                                  self._start_dir())
        if folder:
            self.add_paths([Path(folder)])

    def add_paths(self, paths: list[Path]) -> None:
        new = [Path(p) for p in paths if Path(p) not in self.paths]
        if not new:
            return
        self.paths.extend(new)
        self._last_dir = str(new[-1] if new[-1].is_dir() else new[-1].parent)
        self._refresh_files()
        self.start_validation()

    def _remove_selected(self) -> None:
        row = self.files.currentRow()
        if row >= 0:
            del self.paths[row]
            self._refresh_files()
            self.start_validation()

    def _refresh_files(self) -> None:
        self.files.clear()
        self.files.addItems([str(p) for p in self.paths])

    def _field_map_changed(self) -> None:
        if self.paths or field_map_problem(self.field_map_edit.text()):
            self.start_validation()

    # -- validation in the background ------------------------------------------------------
    def start_validation(self) -> None:
        self.stop_validation()
        self.report, self.previews, self.lengths = None, [], None
        self._show_report()
        problem = field_map_problem(self.field_map_edit.text())
        if problem or not self.paths:  # nothing is read with a mapping core refuses
            self.summary.setText(problem or "No data yet.")
            self.completeChanged.emit()
            return
        paths, field_map = list(self.paths), parse_map(self.field_map_edit.text())

        def work(progress, cancel):
            report = backend.validate(paths, field_map, progress, cancel)
            previews = backend.preview(paths, field_map, PREVIEW_RECORDS) if report.valid else []
            lengths = (record_shapes(paths, ValidationOptions(field_map=field_map), cancel)
                       if report.valid else None)
            return report, previews, lengths

        task = BackgroundTask(work, self)
        # each handler checks it is about the current task: a stopped one may still report
        task.progress.connect(lambda ev: self._on_progress(task, ev))
        task.succeeded.connect(lambda result: self._on_validated(task, result))
        task.failed.connect(lambda exc: self._on_stopped(task, f"Validation failed: {exc}"))
        task.cancelled.connect(lambda: self._on_stopped(task, "Validation stopped. Add data or "
                                                        "press Enter in the field mapping to start again."))
        self._task = task
        self._set_busy(True)
        self.summary.setText("Checking every record…")
        task.start()
        self.completeChanged.emit()

    def stop_validation(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
            self._set_busy(False)

    @property
    def validating(self) -> bool:
        return self._task is not None

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.stop_button.setVisible(busy)
        self.progress.setValue(0)

    def _on_progress(self, task, event) -> None:
        if task is not self._task:
            return
        if event.fraction is not None:
            self.progress.setValue(int(event.fraction * 100))

    def _on_stopped(self, task, text: str) -> None:
        if task is not self._task and self._task is not None:
            return
        self._task = None
        self._set_busy(False)
        self.summary.setText(text)
        self.completeChanged.emit()

    def _on_validated(self, task, result) -> None:
        if task is not self._task:
            return
        self._task = None
        self._set_busy(False)
        self.report, self.previews, self.lengths = result
        self._show_report()
        self._suggest_held_out()
        self.completeChanged.emit()

    def set_chat_format(self, key: str, why: str) -> None:
        """Show the preview in the format the run will train in, and say why."""
        self.chat_format = key
        self.preview.setToolTip(why)
        self.preview.setAccessibleDescription(why)
        self.preview.setPlainText(backend.render_preview(self.previews, key))
        self.show_lengths()

    def training_ctx(self) -> int:
        """The context the run will train with: the Trainer page's, as the tool pads it."""
        from forge_gui.core.llamacpp.tool_steps import training_ctx

        trainer = getattr(self.wizard(), "trainer_page", None)
        return training_ctx(trainer.ctx.value() if trainer is not None else DEFAULT_CTX)

    def show_lengths(self) -> None:
        """The histogram against the current context, measured in the run's training format
        (the base's own chat template when it has one)."""
        if self.lengths is None:
            self.stats.set_histogram(None)
            return
        fmt = backend.training_format(self.chat_format)
        self.stats.set_histogram(histogram(self.lengths.tokens(fmt), self.training_ctx(),
                                           chat=fmt.chat))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.show_lengths()  # back from the Trainer page: its context may have changed
    def _held_out_changed(self, _value) -> None:
        if not self._suggesting:
            self._held_out_chosen = True

    def _suggest_held_out(self) -> None:
        """Hold out DEFAULT_HELD_OUT % for the before/after evaluation when that share is
        enough text for llama-perplexity (docs/training.md, "Did it get better?")."""
        if self._held_out_chosen or self.report is None:
            return
        stats = self.report.stats
        enough = (stats.records >= MIN_RECORDS_TO_HOLD_OUT
                  and stats.approx_tokens * DEFAULT_HELD_OUT / 100 >= MIN_HELD_OUT_TOKENS)
        self._suggesting = True
        self.held_out.setValue(DEFAULT_HELD_OUT if enough else 0)
        self._suggesting = False

    def _show_report(self) -> None:
        report = self.report
        self.error_model.set_issues([])
        self.warnings.clear()
        self.stats.clear()
        self.preview.setPlainText(backend.render_preview(self.previews, self.chat_format))
        if report is None:
            return
        text = f"{report.valid} valid record(s), {report.invalid} rejected"
        if report.warnings or report.warning_counts:
            text += f", {sum(report.warning_counts.values()) or len(report.warnings)} warning(s)"
        text += "."
        for schema in report.unknown_schemas:
            text += f"\n{schema.explanation}"
            if schema.suggested_map and not self.field_map_edit.text():
                self.field_map_edit.setText(", ".join(f"{k}={v}" for k, v in schema.suggested_map.items()))
                text += "\nA suggested field mapping was filled in: press Enter in it to apply it."
        for skipped in report.skipped_paths:
            text += f"\nSkipped {skipped.path}: {skipped.reason}"
        if report.valid == 0:
            text += "\nThere is nothing to train on yet: fix the errors below or add other data."
        elif report.invalid:
            text += ("\nThe trainer refuses data with rejected records (nothing is dropped "
                     "silently): fix or remove them, then add the files again.")
        self.summary.setText(in_app_words(text))
        self.error_model.set_issues(report.errors)
        if report.errors_omitted:
            self.summary.setText(self.summary.text()
                                 + f"\n{report.errors_omitted} more errors are not listed.")
        shown = report.warnings[:MAX_WARNINGS_SHOWN]
        self.warnings.addItems([f"{Path(w.file).name}:{w.line} [{w.code}] {in_app_words(w.message)}"
                                for w in shown])
        if len(report.warnings) > len(shown):
            self.warnings.addItem(f"… and {len(report.warnings) - len(shown)} more (a run writes "
                                  "every one to data-report.json in its run folder)")
        self.stats.set_rows(stats_rows(report))
        self.show_lengths()
        self.tabs.setTabText(1, f"Errors ({report.invalid})")
        self.tabs.setTabText(2, f"Warnings ({len(report.warnings)})")
        if report.errors and not report.valid:
            self.tabs.setCurrentWidget(self.errors)

    def show_error_line(self, row: int) -> None:
        """The line's text in a box; read in the background (the line may be far into a file
        of gigabytes: reading up to it on the UI thread froze the app)."""
        if self.report is None:
            return
        issue = self.report.errors[row]
        box = QMessageBox(QMessageBox.Icon.Information, f"{Path(issue.file).name}, line {issue.line}",
                          f"{issue.code}: {issue.message}", QMessageBox.StandardButton.Close, self)
        box.setInformativeText(f"Reading line {issue.line}…")
        box.setObjectName("errorLineBox")
        box.open()
        self.error_box = box  # tests read it

        def show(text: str) -> None:
            box.setDetailedText(text)
            box.setInformativeText(text[:300] + ("…" if len(text) > 300 else ""))

        def failed(exc: BaseException) -> None:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            show(f"(could not read the file: {reason})")

        self.line_task = start_task(  # referenced until it ends (tests wait on it too)
            box, lambda progress, cancel: backend.read_source_line(issue.file, issue.line),
            show, failed)

    # -- wizard ----------------------------------------------------------------------------
    def isComplete(self) -> bool:
        # the training pipeline refuses rejected records: Next would only lead to a failure
        return (self.report is not None and self.report.valid >= 1 and not self.report.invalid
                and not self.validating and not field_map_problem(self.field_map_edit.text()))

    def contribute(self, values: dict) -> None:
        values["data"] = list(self.paths)
        values["field_map"] = field_map_of(self.field_map_edit.text())
        values["val_fraction"] = self.held_out.value() / 100

    def remember(self, settings) -> None:
        if self._last_dir:
            settings.last_data_dir = self._last_dir
