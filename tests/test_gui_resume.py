"""An interrupted LoRA run is resumed from the Runs window: the Run page continues it from its
last complete checkpoint, with the chart of what was trained before."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fixtures_llama import write_colour_dataset
from test_lora_cli import _wait_for_checkpoint

from forge_gui.core.base import paths
from forge_gui.core.runs.run import RunState

pytestmark = [pytest.mark.tools, pytest.mark.slow]


def test_resume_an_interrupted_run_from_the_runs_window(qtbot, wizard, llama_tools, tiny_gguf,
                                                        tmp_path):
    data = write_colour_dataset(tmp_path / "colours.jsonl", records=40)
    proc = subprocess.Popen(  # a run in Forge's runs folder, where the Runs window looks
        [sys.executable, "-m", "forge_gui.cli", "train-run", "--data", str(data), "--base-gguf",
         str(tiny_gguf["f16"]), "--name", "resume-gui", "--epochs", "2", "--lr", "1e-3",
         "--ctx", "256", "--checkpoint-every", "2", "--no-create"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        qtbot.waitUntil(lambda: any(paths.runs_dir().glob("*/run.json")), timeout=60000)
        (run_dir,) = [p.parent for p in paths.runs_dir().glob("*/run.json")]
        checkpoint = _wait_for_checkpoint(run_dir, proc)
        proc.kill()  # no chance to clean up: a crash, a closed lid
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()

    window = wizard.show_runs(on_resume=wizard.resume_run)
    qtbot.waitUntil(lambda: any(s.run_dir == run_dir for s in window.runs), timeout=15000)
    row = next(i for i, s in enumerate(window.runs) if s.run_dir == run_dir)
    assert window.runs[row].status == "interrupted"
    window.table.selectRow(row)
    assert window.resume_button.isEnabled()
    window.resume_button.click()

    run = wizard.run_page
    assert wizard.currentPage() is run and run.running
    # the points trained before the interruption are drawn too (read from its log)
    qtbot.waitUntil(lambda: bool(run.chart.train) and run.chart.train[0][0] < 0.5, timeout=60000)
    qtbot.waitUntil(lambda: not run.running, timeout=300000)
    assert run.outcome == "done", run.status.text()
    argv = json.loads((run_dir / "commands" / "train.json").read_text())["argv"]
    assert argv[argv.index("--resume-from") + 1] == str(checkpoint)
    assert RunState.load(run_dir).record.status == "done"
