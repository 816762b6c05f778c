"""Page 1 driven as a user would: real drops, real validation in the background."""

from __future__ import annotations

import threading

from fixtures_gui import write_jsonl
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox, QWizard


def _drop(widget, paths) -> bool:
    """Send the drag-enter and drop events a file manager causes; True when accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = widget.rect().center()
    actions = Qt.DropAction.CopyAction
    enter = QDragEnterEvent(pos, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(pos.toPointF(), actions, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, drop)
    return drop.isAccepted()


def _validated(qtbot, page):
    qtbot.waitUntil(lambda: page.report is not None and not page.validating, timeout=15000)
    return page.report


def test_dropping_a_folder_validates_it_and_enables_next(qtbot, wizard, data_folder):
    page = wizard.data_page
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    assert not next_button.isEnabled()

    assert _drop(page.drop_zone, [data_folder])

    report = _validated(qtbot, page)
    assert report.valid == 3 and report.invalid == 0
    assert "3 valid record(s), 0 rejected" in page.summary.text()
    assert next_button.isEnabled()
    # the preview is the trainer's text, system prompt included
    assert "### System:\nBe brief.\n\n### Instruction:\nCapital of France?" in page.preview.toPlainText()
    assert page.files.count() == 1 and page.files.item(0).text() == str(data_folder)


def test_a_drop_of_text_is_refused(qtbot, wizard):
    mime = QMimeData()
    mime.setText("not a file")
    event = QDragEnterEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(wizard.data_page.drop_zone, event)
    assert not event.isAccepted()


def test_bad_file_shows_error_table_and_the_line_on_double_click(qtbot, wizard, bad_file):
    page = wizard.data_page
    page.add_paths([bad_file])
    report = _validated(qtbot, page)
    assert report.valid == 1 and report.invalid == 2
    model = page.errors.model()
    rows = [[model.index(r, c).data() for c in range(4)] for r in range(model.rowCount())]
    assert [(r[0], r[1]) for r in rows] == [("bad.jsonl", "2"), ("bad.jsonl", "3")]
    assert all(r[2] and r[3] for r in rows)  # a code and a sentence on each

    page.errors.doubleClicked.emit(model.index(1, 0))
    box = page.error_box
    assert isinstance(box, QMessageBox) and box.isVisible()
    qtbot.waitUntil(lambda: '"no answer"' in box.detailedText(), timeout=5000)
    assert "line 3" in box.windowTitle()
    box.close()
    # the trainer refuses rejected records, so the wizard says so instead of failing later
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    assert "fix or remove them" in page.summary.text()


def test_nothing_valid_keeps_next_disabled(qtbot, wizard, tmp_path):
    broken = write_jsonl(tmp_path / "broken.jsonl", [], ["{not json", "[1, 2]"])
    wizard.data_page.add_paths([broken])
    report = _validated(qtbot, wizard.data_page)
    assert report.valid == 0
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    assert "nothing to train on" in wizard.data_page.summary.text()


def test_field_mapping_turns_an_unknown_schema_into_records(qtbot, wizard, tmp_path):
    odd = write_jsonl(tmp_path / "odd.jsonl", [{"question": "Q1?", "answer": "A1."},
                                               {"question": "Q2?", "answer": "A2."}])
    page = wizard.data_page
    page.add_paths([odd])
    assert _validated(qtbot, page).valid == 0
    page.field_map_edit.setText("instruction=question, output=answer")
    page.field_map_edit.editingFinished.emit()
    qtbot.waitUntil(lambda: page.report is not None and page.report.valid == 2, timeout=15000)
    assert "### Instruction:\nQ1?" in page.preview.toPlainText()
    values = {}
    page.contribute(values)
    assert values["field_map"] == {"instruction": "question", "output": "answer"}


def test_stop_interrupts_a_long_validation(qtbot, wizard, tmp_path):
    big = tmp_path / "big.jsonl"
    line = '{"instruction": "' + "x" * 200 + '", "output": "y"}\n'
    big.write_text(line * 400_000, "utf-8")  # ~90 MB: seconds to validate
    page = wizard.data_page
    page.add_paths([big])
    assert page.validating and page.stop_button.isVisible()
    task = page._task
    qtbot.waitUntil(lambda: page.progress.value() > 0, timeout=15000)  # the worker is reading
    with qtbot.waitSignal(task.cancelled, timeout=15000):  # the worker stops, not finishes
        page.stop_button.click()
        assert not page.validating
    qtbot.waitUntil(lambda: not task.running, timeout=15000)
    assert "stopped" in page.summary.text() and page.report is None
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_a_line_far_into_a_big_file_is_read_off_the_ui_thread(qtbot, wizard, tmp_path,
                                                              monkeypatch):
    """Double-clicking an error reads up to its line: in a big file that froze the app."""
    from forge_gui.gui import backend

    big = tmp_path / "big.jsonl"
    line = '{"instruction": "' + "x" * 200 + '", "output": "y"}\n'
    big.write_text(line * 50_000 + '{"instruction": "last"}\n', "utf-8")
    page = wizard.data_page
    page.add_paths([big])
    _validated(qtbot, page)
    threads = []
    real = backend.read_source_line

    def reading(file, number):
        threads.append(threading.current_thread())
        return real(file, number)

    monkeypatch.setattr(backend, "read_source_line", reading)
    page.errors.doubleClicked.emit(page.errors.model().index(0, 0))
    box = page.error_box
    assert box.isVisible() and "Reading line 50001" in box.informativeText()
    qtbot.waitUntil(lambda: '{"instruction": "last"}' in box.detailedText(), timeout=15000)
    assert threads and threads[0] is not threading.main_thread()


def test_a_field_mapping_core_refuses_is_said_as_the_cli_says_it(qtbot, wizard, tmp_path,
                                                                  capsys):
    """`instruction:question` was silently dropped by the page's own parser, refused by the
    CLI's: one parser (core/data/mapping.py), one sentence, in both front ends."""
    from forge_gui.cli import main

    odd = write_jsonl(tmp_path / "odd.jsonl", [{"question": "Q1?", "output": "A1."}])
    assert main(["validate-training-data", str(odd), "--map", "instruction:question"]) == 2
    cli_error = capsys.readouterr().err
    page = wizard.data_page
    page.add_paths([odd])
    _validated(qtbot, page)
    page.field_map_edit.setText("instruction:question")
    page.field_map_edit.editingFinished.emit()
    core_sentence = "'instruction:question' is not of the form new=old"
    assert core_sentence in cli_error and core_sentence in page.summary.text()
    assert page.report is None and not page.validating  # nothing read with it
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    page.field_map_edit.setText("instruction=question")
    page.field_map_edit.editingFinished.emit()
    qtbot.waitUntil(lambda: page.report is not None and page.report.valid == 1, timeout=15000)
    assert wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def test_held_out_records_are_told_apart_from_the_validation_split(wizard):
    """"Held out for evaluation" and the Trainer page's "Validation split" sat side by side
    unexplained (issue 11): the Data page says what each is."""
    why = wizard.data_page.held_out.toolTip()
    assert "Done page" in why and "Validation split" in why and "Trainer page" in why
    assert wizard.data_page.held_out.accessibleDescription() == why


def test_the_validation_split_says_it_is_not_the_held_out_records(wizard):
    """The Trainer page's half: for a full fine-tune the box says what it holds back."""
    trainer = wizard.trainer_page
    from forge_gui.gui.pages.trainer import METHODS

    trainer.method.setCurrentIndex([key for key, _ in METHODS].index("full"))
    assert trainer.method_key == "full"
    why = trainer.val_split.toolTip()
    assert "training text" in why and "held-out records" in why
