"""The Run page with real child processes: Back while running, closing asks then stops."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QMessageBox, QWizard

from forge_gui.core.base.process import wait_until_gone
from forge_gui.core.base.steps import ProcessStep
from forge_gui.core.runs.run import RunSettings, RunState, StepSpec
from forge_gui.gui.showcase import show_page
from forge_gui.gui.wizard import PAGE_RUN


def _long_run(tmp_path):
    state = RunState.create(RunSettings(data=[tmp_path / "d.jsonl"], name="m"), tmp_path / "run")
    code = "import time\nprint('working', flush=True)\ntime.sleep(60)\n"
    specs = [StepSpec("train", "Fine-tune",
                      lambda s: ProcessStep("train", "Fine-tune", [sys.executable, "-c", code]))]
    return specs, state


def test_closing_during_a_run_asks_and_stops_it_cleanly(qtbot, wizard, tmp_path, monkeypatch):
    wizard.run_page.simulated = True  # the page is filled by hand below
    show_page(wizard, PAGE_RUN)
    page = wizard.run_page
    specs, state = _long_run(tmp_path)
    page.start(specs, state)
    qtbot.waitUntil(lambda: page.runner.pid is not None, timeout=10000)
    pid = page.runner.pid
    assert not wizard.button(QWizard.WizardButton.BackButton).isEnabled()

    answers = [QMessageBox.StandardButton.No]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: answers.pop(0))
    wizard.close()
    assert wizard.isVisible() and page.running  # "No" keeps the run going

    answers.append(QMessageBox.StandardButton.Yes)
    wizard.close()
    assert not wizard.isVisible()
    assert not page.running
    assert wait_until_gone([pid], timeout=5) == []
    assert RunState.load(state.run_dir).record.status == "cancelled"


def test_after_cancel_the_run_can_start_again_from_the_stopped_step(qtbot, wizard, tmp_path):
    wizard.run_page.simulated = True
    show_page(wizard, PAGE_RUN)
    page = wizard.run_page
    specs, state = _long_run(tmp_path)
    page.start(specs, state)
    qtbot.waitUntil(lambda: "working" in page.log._pending + page.log.toPlainText().splitlines(),
                    timeout=10000)
    page.cancel_button.click()
    qtbot.waitUntil(lambda: not page.running, timeout=10000)
    assert page.outcome == "cancelled" and not page.retry_button.isHidden()
    assert wizard.button(QWizard.WizardButton.BackButton).isEnabled()
    page.retry_button.click()
    assert page.running
    page.stop_and_wait()
    assert page.outcome == "cancelled"
