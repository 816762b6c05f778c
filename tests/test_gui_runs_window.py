"""The Runs window: runs made by the CLI and the GUI, one killed mid-training (interrupted),
deleting one after asking, its loss chart, resume through the wizard's callback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import psutil
import pytest
from fixtures_llama import write_colour_dataset
from PySide6.QtWidgets import QMessageBox
from test_runs_index import make_runs

from forge_gui.core.base import paths


@pytest.fixture
def answer(monkeypatch):
    """QMessageBox.question answered with what the test sets; the questions asked are kept."""
    asked: list[str] = []
    reply = {"button": QMessageBox.StandardButton.No}

    def question(parent, title, text, *args, **kwargs):
        asked.append(text)
        return reply["button"]

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked, reply


def _window(qtbot, **kwargs):
    from forge_gui.gui.runs_window import RunsWindow

    window = RunsWindow(**kwargs)
    qtbot.addWidget(window)
    window.show()
    return window


def test_runs_are_listed_and_one_is_deleted_after_asking(qtbot, tmp_path, answer):
    asked, reply = answer
    runs = make_runs(tmp_path)
    resumed = []
    window = _window(qtbot, on_resume=resumed.append)
    assert window.table.rowCount() == 4
    assert window.status_of(runs["killed"].run_dir) == "⚠ interrupted"
    assert window.status_of(runs["good"].run_dir) == "✔ done"
    good_row = window.row_of(runs["good"].run_dir)
    assert window.table.item(good_row, 7).text() == "10.404 → 2.996"

    # a finished run: its chart (epochs, the base's held-out loss as a line), its table
    window.select(runs["good"].run_dir)
    assert window.chart.train[-1] == (2.0, 5.5) and window.chart.val == [(1.0, 8.9), (2.0, 6.1)]
    assert window.chart.reference == (10.404, "base, held-out")
    assert not window.resume_button.isEnabled()

    # an interrupted run can be resumed: the callback gets its folder
    window.select(runs["killed"].run_dir)
    assert window.resume_button.isEnabled()
    window.resume_button.click()
    assert resumed == [runs["killed"].run_dir]

    # delete asks; "No" keeps everything
    window.select(runs["good"].run_dir)
    window.delete_button.click()
    assert len(asked) == 1 and str(runs["good"].run_dir) in asked[0]
    assert "The Ollama model 'good:latest' is not deleted" in asked[0]
    assert runs["good"].run_dir.is_dir() and window.table.rowCount() == 4
    reply["button"] = QMessageBox.StandardButton.Yes
    window.delete_button.click()
    assert len(asked) == 2 and not runs["good"].run_dir.exists()
    assert window.table.rowCount() == 3 and window.row_of(runs["good"].run_dir) == -1
    assert window.state.text() == f"Deleted {runs['good'].run_dir}."


def test_every_control_of_the_runs_window_has_an_accessible_name(qtbot, tmp_path):
    from PySide6.QtWidgets import QAbstractButton, QAbstractItemView

    make_runs(tmp_path)
    window = _window(qtbot)
    unnamed = [type(w).__name__ for kind in (QAbstractButton, QAbstractItemView)
               for w in window.findChildren(kind)
               if not isinstance(w.parent(), QAbstractItemView)
               and not isinstance(w.parent().parent(), QAbstractItemView)
               and not w.accessibleName() and not (isinstance(w, QAbstractButton) and w.text())]
    assert unnamed == []


def test_the_wizard_opens_the_runs_window(qtbot, wizard, tmp_path):
    from PySide6.QtWidgets import QWizard

    make_runs(tmp_path)
    button = wizard.button(QWizard.WizardButton.CustomButton1)
    assert button.isVisible() and button.text().replace("&", "") == "Runs…"
    button.click()
    qtbot.waitUntil(lambda: getattr(wizard, "runs_window", None) is not None
                    and wizard.runs_window.isVisible())
    assert wizard.runs_window.table.rowCount() == 4
    wizard.runs_window.close()


@pytest.mark.tools
@pytest.mark.slow
def test_cli_and_gui_runs_with_one_killed_mid_training(qtbot, tmp_path, tiny_gguf, llama_tools,
                                                       answer):
    """A finished and a killed `forge-cli train` run, and a run the GUI's runner made."""
    from forge_gui.core.pipeline.train_pipeline import train_specs
    from forge_gui.core.runs.run import RunSettings, RunState
    from forge_gui.gui.runner import PipelineRunner

    asked, reply = answer
    common = ["--base-gguf", str(tiny_gguf["f32"]), "--method", "full", "--lr", "1e-3",
              "--ctx", "256", "--no-create", "--quantize", "none"]
    small = write_colour_dataset(tmp_path / "small.jsonl", records=24)
    done = subprocess.run([sys.executable, "-m", "forge_gui.cli", "train", "--data", str(small),
                           "--name", "cli-done", "--epochs", "1", *common],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]

    big = write_colour_dataset(tmp_path / "big.jsonl", records=400)
    killed = subprocess.Popen([sys.executable, "-m", "forge_gui.cli", "train", "--data", str(big),
                               "--name", "cli-killed", "--epochs", "50", *common],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def training() -> bool:
            logs = list(paths.runs_dir().glob("*cli-killed*/logs/train.log"))
            return bool(logs) and b"train: [" in logs[0].read_bytes()
        qtbot.waitUntil(training, timeout=120000)
        window = _window(qtbot)
        [killed_dir] = paths.runs_dir().glob("*cli-killed*")
        assert window.status_of(killed_dir) == "▶ running"  # alive: holds run.lock
        assert not window.delete_button.isEnabled() or window.selected() is None
    finally:
        # kill -9 Forge and its llama-finetune: no handler runs, run.json says "running"
        tree = [killed] + psutil.Process(killed.pid).children(recursive=True)
        for proc in reversed(tree):
            os.kill(proc.pid, signal.SIGKILL)
        killed.wait()
    assert json.loads((killed_dir / "run.json").read_text())["steps"][-1]["status"] == "running"

    # a run made by the GUI's runner: too little text for the context, it fails at preflight
    settings = RunSettings(data=[write_colour_dataset(tmp_path / "tiny.jsonl", records=2)],
                           name="gui-failed", base_gguf=tiny_gguf["f32"], ctx=256,
                           tools_dir=llama_tools, create=False)
    state = RunState.create(settings)
    runner = PipelineRunner(train_specs(settings), state)
    with qtbot.waitSignal(runner.finished, timeout=60000) as outcome:
        runner.start()
    assert outcome.args == ["failed"]

    window.refresh()
    statuses = {s.name: window.status_of(s.run_dir) for s in window.runs}
    assert statuses == {"cli-done": "✔ done", "cli-killed": "⚠ interrupted",
                        "gui-failed": "✘ failed"}
    window.select(killed_dir)
    assert len(window.chart.train) >= 1  # what it learnt before it was killed
    assert "Stopped during “Fine-tune”" in window.state.text()

    # delete the killed run after asking
    reply["button"] = QMessageBox.StandardButton.Yes
    window.delete_button.click()
    assert len(asked) == 1 and "cli-killed" in asked[0]
    assert not killed_dir.exists() and window.table.rowCount() == 2


def test_a_run_is_registered_again_under_a_new_name(qtbot, tmp_path, ollama, monkeypatch):
    from fixtures_ollama import write_small_gguf
    from PySide6.QtWidgets import QInputDialog

    from forge_gui.core.runs.run import RunSettings, RunState

    settings = RunSettings(data=[tmp_path], name="first", base_gguf=write_small_gguf(
        tmp_path / "base.gguf"), system="Be brief.", parameters={"temperature": "0.3"},
        ollama_host=ollama.url)
    state = RunState.create(settings, paths.runs_dir() / "first")
    state.artifacts.output_gguf = write_small_gguf(state.run_dir / "model-Q8_0.gguf")
    state.artifacts.model = "first"
    state.record.status = "done"
    state.save()
    window = _window(qtbot)
    window.select(state.run_dir)
    assert window.register_button.isEnabled()
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("second", True))
    window.register_button.click()
    qtbot.waitUntil(lambda: window.state.text().startswith(("✔", "✘")), timeout=30000)
    assert window.state.text().startswith("✔ Registered 'second': ollama run second")
    created = ollama.models["second:latest"]
    assert created["system"] == "Be brief." and created["parameters"]["temperature"] == 0.3
    # a new run folder records it; the original run is as it was
    assert {s.name: s.method for s in window.runs} == {"first": "LoRA (llama.cpp)",
                                                      "second": "register only"}
    assert RunState.load(state.run_dir).artifacts.model == "first"
    # a name Ollama would refuse: one sentence, nothing started
    window.select(state.run_dir)
    assert window.register_again("bad name") is None
    assert "cannot be an Ollama model name" in window.state.text()
