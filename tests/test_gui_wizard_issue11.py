"""The wizard as a new user meets it: Enter in the ask box, a second run's chart, the time
left, messages in the app's own words, the run folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from forge_gui.core.run import RunArtifacts, RunSettings
from forge_gui.gui.showcase import show_page


def _done_page(wizard, tmp_path, ollama, model="asker"):
    ollama.add_model(model)
    done = wizard.done_page
    done.simulated = True
    wizard.run_page.simulated = True
    show_page(wizard, wizard.pageIds()[-1])
    done.show_result(RunSettings(data=[], name=model, ollama_host=ollama.url),
                     RunArtifacts(model=model, smoke_answer="Hi."), tmp_path)
    return done


def test_enter_in_the_ask_box_asks_and_keeps_the_app_open(qtbot, wizard, ollama, tmp_path):
    done = _done_page(wizard, tmp_path, ollama)
    assert wizard.currentPage() is done
    done.question.setFocus()
    qtbot.keyClicks(done.question, "Are you there?")
    qtbot.keyClick(done.question, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "Hello from asker" in done.answer.toPlainText().split("Are you there?")[-1],
                    timeout=10000)
    assert wizard.isVisible() and wizard.result() != QDialog.DialogCode.Accepted
    qtbot.keyClick(done.question, Qt.Key.Key_Enter)  # the keypad's Enter too
    assert wizard.isVisible()


def test_open_the_run_folder_says_where_it_is_when_nothing_opens_it(qtbot, wizard, ollama,
                                                                    tmp_path, monkeypatch):
    from PySide6.QtGui import QDesktopServices, QGuiApplication

    done = _done_page(wizard, tmp_path, ollama)
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or False)
    button = next(b for b in done.findChildren(type(done.ask_button))
                  if b.accessibleName() == "Open the run folder")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert opened and opened[0].toLocalFile() == str(tmp_path)
    assert f"No file manager could open the run folder. It is {tmp_path}" in done.folder_label.text()
    assert QGuiApplication.clipboard().text() == str(tmp_path)
