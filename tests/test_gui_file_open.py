"""A file opened with Forge from the desktop (macOS sends a FileOpen event) lands on the Data page."""

from __future__ import annotations

from fixtures_gui import GOOD_RECORDS, write_jsonl
from PySide6.QtGui import QFileOpenEvent
from PySide6.QtWidgets import QApplication

from forge_gui.gui.file_open import FileOpenForwarder


def test_a_file_open_event_adds_the_file_and_validates_it(wizard, qtbot, tmp_path):
    data = write_jsonl(tmp_path / "opened.jsonl", GOOD_RECORDS)
    app = QApplication.instance()
    forwarder = FileOpenForwarder(wizard)
    app.installEventFilter(forwarder)
    try:
        QApplication.sendEvent(app, QFileOpenEvent(str(data)))
    finally:
        app.removeEventFilter(forwarder)
    assert wizard.data_page.paths == [data]
    qtbot.waitUntil(lambda: "3 valid" in wizard.data_page.summary.text(), timeout=10000)
