"""The error table's model: rows are made when the view draws them, so a report with 10,000
errors shows at once (a QTableWidget would build 40,000 items on the UI thread)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

HEADERS = ("File", "Line", "Code", "Problem")


class IssueTableModel(QAbstractTableModel):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.issues: list = []  # core.data Issue objects: file, line, code, message

    def set_issues(self, issues: list) -> None:
        self.beginResetModel()
        self.issues = list(issues)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.issues)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(HEADERS)

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        issue = self.issues[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (Path(issue.file).name, str(issue.line), issue.code, issue.message)[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return issue.file if index.column() == 0 else issue.message
        return None

    def headerData(self, section: int, orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return HEADERS[section]
        return None
