"""The wizard as a new user meets it: Enter in the ask box, a second run's chart, the time
left, messages in the app's own words, the run folder."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from forge_gui.core.runs.run import RunArtifacts, RunSettings
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


# -- the Run page with a stand-in training step (no tools needed) ---------------------------

def _fake_run(wizard, tmp_path, behaviours, **settings):
    """Start the Run page on one 'train' step; each start of it runs the next behaviour."""
    from forge_gui.core.base.events import ProgressEvent
    from forge_gui.core.base.steps import FunctionStep
    from forge_gui.core.runs.run import RunState, StepSpec

    starts = iter(behaviours)

    def build(state):
        behaviour = next(starts)

        def run(progress, cancel):
            behaviour(lambda **kw: progress(ProgressEvent(step="train", epochs=2, **kw)), cancel)
        return FunctionStep("train", "Fine-tune", run)

    page = wizard.run_page
    page.simulated = True
    settings = RunSettings(**{"data": [tmp_path], "name": "fake", "create": False, **settings})
    state = RunState.create(settings, tmp_path / "run")
    page.start([StepSpec("train", "Fine-tune", build)], state)
    return page


def _until_cancelled(emit, cancel):
    from forge_gui.core.base.steps import Cancelled

    for i in range(1, 4):
        emit(fraction=i / 10, loss=9.0 - i, x=i / 10, eta_seconds=100.0)
    while not cancel.cancelled:
        cancel._event.wait(0.05)
    raise Cancelled()


def test_start_again_after_cancel_draws_a_fresh_curve_in_epochs(qtbot, wizard, tmp_path):
    def second(emit, cancel):
        emit(fraction=0.05, loss=8.5, x=0.05)
        emit(fraction=0.1, loss=8.0, x=0.1)

    page = _fake_run(wizard, tmp_path, [_until_cancelled, second])
    qtbot.waitUntil(lambda: len(page.chart.train) == 3, timeout=10000)
    page.cancel()
    qtbot.waitUntil(lambda: page.outcome == "cancelled", timeout=10000)
    assert "Start again" in page.retry_button.text()
    page.retry_button.click()
    qtbot.waitUntil(lambda: page.outcome == "done", timeout=10000)
    assert page.chart.train == [(0.05, 8.5), (0.1, 8.0)]  # nothing of the cancelled run
    assert page.chart.epochs == 2 and "at epoch 0.1 of 2" in page.chart.summary()


def test_a_failed_run_shows_no_time_left(qtbot, wizard, tmp_path):
    from forge_gui.core.base.steps import StepFailed

    def fails(emit, cancel):
        emit(fraction=0.9, loss=3.0, x=1.8, eta_seconds=2.0)
        raise StepFailed("llama-finetune crashed.")

    page = _fake_run(wizard, tmp_path, [fails])
    qtbot.waitUntil(lambda: page.outcome == "failed", timeout=10000)
    assert page.eta.text() == ""
    assert "crashed" in page.status.text()


def test_the_time_left_does_not_jump_by_minutes(monkeypatch):
    from forge_gui.gui.widgets.run_progress import EtaSmoother

    smoother = EtaSmoother()
    shown = [smoother.update(600.0, 0.0)]
    # under load the raw estimate swings between 4 and 16 minutes from one second to the next
    for t in range(1, 60):
        shown.append(smoother.update(240.0 if t % 2 else 960.0, float(t)))
    steps = [abs(b - a) for a, b in zip(shown, shown[1:], strict=False)]
    assert max(steps) < 60, max(steps)  # never a jump of a minute between two updates
    assert 400 < shown[-1] < 700  # and it still follows the estimates' middle


# -- messages in the app's own words ---------------------------------------------------------

FLAG = r"(?<![\w-])--[a-z]"


def _core_messages(tmp_path) -> list[str]:
    """Messages core gives with a command-line remedy, produced the way a run produces them."""
    import pytest

    from forge_gui.core.base.process import run_process_step
    from forge_gui.core.base.steps import ProcessStep, StepFailed
    from forge_gui.core.data.prepare import prepare_training_data
    from forge_gui.core.pipeline.preflight import check_windows
    from forge_gui.core.pipeline.train_pipeline import resolve_base
    from forge_gui.core.registration.register import model_exists

    messages = [str(model_exists("mine", "mine"))]
    for attempt in (lambda: check_windows(2000, 2048, 0.05),
                    lambda: resolve_base(RunSettings(data=[], name="x")),
                    lambda: run_process_step(ProcessStep("x", "x", [str(tmp_path / "nope")])),
                    lambda: prepare_training_data([_bad_data(tmp_path)], tmp_path / "t.txt")):
        with pytest.raises(StepFailed) as err:
            attempt()
        messages.append(str(err.value))
    return messages


def _bad_data(tmp_path) -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"instruction": "no answer"}\n')
    return path


def test_core_remedies_are_said_with_the_apps_controls(tmp_path):
    import re

    from forge_gui.gui.wording import in_app_words

    messages = _core_messages(tmp_path)
    assert all(re.search(FLAG, m) or "forge-cli" in m for m in messages)  # what core says
    for message in messages:
        shown = in_app_words(message)
        assert not re.search(FLAG, shown) and "forge-cli" not in shown, shown


def test_the_run_page_says_replace_not_force(qtbot, wizard, tmp_path):
    from forge_gui.core.registration.register import model_exists

    def taken(emit, cancel):
        raise model_exists("mine", "Mine:latest")

    page = _fake_run(wizard, tmp_path, [taken])
    qtbot.waitUntil(lambda: page.outcome == "failed", timeout=10000)
    text = page.status.text()
    assert "already exists" in text and "Replace the existing model" in text
    assert "--force" not in text and "CLI" not in text


def test_the_data_page_says_field_mapping_not_map(qtbot, wizard, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("".join('{"instruction": "q", "context": "", "response": "r"}\n'
                            for _ in range(3)))
    page = wizard.data_page
    page.add_paths([data])
    qtbot.waitUntil(lambda: page.report is not None and not page.validating, timeout=15000)
    text = page.summary.text()
    assert "field mapping input=context,output=response" in text
    assert "--map" not in text and "--strict" not in text


def test_a_file_that_is_not_a_gguf_is_described_not_dumped(qtbot, wizard, tmp_path):
    junk = tmp_path / "weights.gguf"
    junk.write_bytes(b"\xfb\xc0\x01\x02 not a model")
    wizard.base_page.choose_file(junk)
    qtbot.waitUntil(lambda: "cannot be used" in wizard.base_page.details.text(), timeout=15000)
    details = wizard.base_page.details.text()
    assert "it starts with the bytes fb c0 01 02" in details
    assert "b'" not in details and "\\x" not in details


def test_a_second_run_of_a_name_being_created_is_told_why(qtbot, wizard, tmp_path):
    from forge_gui.core.runs.name_lock import hold_name

    ran = []
    other = hold_name("shared")  # as a forge-cli run creating 'shared' right now would
    page = _fake_run(wizard, tmp_path, [lambda emit, cancel: ran.append(1)], name="SHARED",
                     create=True)
    assert page.outcome == "failed" and not ran
    assert f"Another Forge run is creating the model 'SHARED' right now (process {os.getpid()})" \
        in page.status.text()
    other.release()
    page.retry_button.click()
    qtbot.waitUntil(lambda: page.outcome == "done", timeout=10000)
    assert ran == [1]
    hold_name("shared").release()  # and the page let go of it when the run ended


def test_the_base_gguf_file_is_remembered(qtbot, wizard, tiny_base):
    from forge_gui.core.base.app_settings import load_settings
    from forge_gui.gui.wizard import ForgeWizard

    wizard.base_page.choose_file(tiny_base)
    qtbot.waitUntil(lambda: wizard.base_page.info is not None, timeout=15000)
    wizard.save_app_settings()

    settings, _ = load_settings()
    again = ForgeWizard(settings)
    qtbot.addWidget(again)
    again.show()
    show_page(again, again.pageIds()[1])  # the Base model page, opened again another day
    page = again.base_page
    qtbot.waitUntil(lambda: page.info is not None, timeout=15000)
    assert page.use_file.isChecked() and page.file_edit.text() == str(tiny_base)
    assert page.gguf_path == tiny_base and again.currentPage() is page
    for p in again.pages():
        qtbot.waitUntil(lambda p=p: not getattr(p, "busy", False), timeout=10000)
