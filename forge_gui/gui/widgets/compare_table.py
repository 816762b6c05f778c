"""The base and the fine-tuned model side by side: held-out loss, then one row per prompt.

Shows an EvaluationResult (core/evaluation/evaluate.py): the Done page and the Runs window use it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

COLUMNS = ("Prompt", "Reference", "Base", "Fine-tuned")


class CompareTable(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.result = None
        self.figures = QLabel()
        self.figures.setWordWrap(True)
        self.figures.setTextFormat(Qt.TextFormat.RichText)
        self.figures.setAccessibleName("Held-out loss before and after")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("Answers of the base and the fine-tuned model")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        self.table.setTabKeyNavigation(False)  # Tab moves on, as everywhere else
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        for col in range(len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Stretch)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.figures)
        layout.addWidget(self.table, 1)
        self.set_result(None)

    def set_result(self, result) -> None:
        """An EvaluationResult, or None (no evaluation in this run: the widget says so)."""
        self.result = result
        self.table.setRowCount(0)
        if result is None:
            self.figures.setText("No before/after comparison for this run.")
            self.table.hide()
            return
        if result.base is not None and result.tuned is not None:
            better = result.tuned.loss < result.base.loss
            mark = "▼ lower" if better else "▲ higher"
            self.figures.setText(
                f"<b>Held-out loss</b>: base <b>{result.base.loss:.3f}</b> → fine-tuned "
                f"<b>{result.tuned.loss:.3f}</b> ({mark}; perplexity "
                f"{result.base.perplexity:.2f} → {result.tuned.perplexity:.2f})"
                + (f"<br><small>{_html(result.loss_note)}</small>" if result.loss_note else ""))
        else:
            self.figures.setText(_html(result.loss_note or "No held-out loss was measured."))
        self.table.setVisible(bool(result.answers))
        for row in result.answers:
            i = self.table.rowCount()
            self.table.insertRow(i)
            for col, text in enumerate((row.prompt, row.reference, row.base, row.tuned)):
                item = QTableWidgetItem(_cell(text))
                item.setToolTip(text or "")
                item.setTextAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
                self.table.setItem(i, col, item)
        self.table.resizeRowsToContents()

    def cell_text(self, row: int, column: str) -> str:
        item = self.table.item(row, COLUMNS.index(column))
        return item.text() if item else ""


def _cell(text: str | None, limit: int = 300) -> str:
    if text is None:
        return "—"
    text = text.strip() or "(nothing)"
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
