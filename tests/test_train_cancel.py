"""Ctrl-C during a real llama-finetune stops the whole process tree and marks the run cancelled."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import psutil
import pytest
from fixtures_llama import write_colour_dataset
from test_cli_cancel import ctrl_c_as_in_a_terminal

from forge_gui.core.base.process import wait_until_gone
from forge_gui.core.runs.run import RunState


def _cmdline(proc: psutil.Process) -> list[str]:
    """A short-lived step (llama-tokenize, llama-quantize) may end while we look at it."""
    try:
        return proc.cmdline()
    except psutil.Error:  # gone, or a zombie not yet reaped
        return []


def _wait_for(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return None


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals; Windows uses CTRL_BREAK")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_cancel_stops_llama_finetune_and_leaves_no_orphan(signum, llama_tools, tiny_gguf,
                                                          tmp_path):
    data = write_colour_dataset(tmp_path / "data.jsonl", records=60)
    run_dir = tmp_path / "run"
    cli = subprocess.Popen(
        [sys.executable, "-m", "forge_gui.cli", "train-run", "--data", str(data), "--base-gguf",
         str(tiny_gguf["f32"]), "--name", "cancel-me", "--method", "full", "--epochs", "50", "--lr", "1e-3",
         "--ctx", "256", "--workdir", str(run_dir), "--no-create"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=ctrl_c_as_in_a_terminal)
    try:
        def finetune_running():
            try:
                kids = psutil.Process(cli.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                return None
            return [k for k in kids if "llama-finetune" in " ".join(_cmdline(k))]

        kids = _wait_for(finetune_running, 60)
        assert kids, "llama-finetune never started"
        train_log = run_dir / "logs" / "train.log"

        def training() -> bool:  # a batch reported: it trains (not loading the model)
            try:
                return "data=" in train_log.read_text("utf-8", "replace")
            except OSError:
                return False

        assert _wait_for(training, 60), "llama-finetune reported no batch"
        tree = [k.pid for k in psutil.Process(cli.pid).children(recursive=True)]
        cli.send_signal(signum)
        assert wait_until_gone(tree, timeout=5.0) == []  # the whole tree, within 5 s
        code = cli.wait(timeout=10)
    finally:
        if cli.poll() is None:
            cli.kill()
    err = cli.stderr.read().decode("utf-8", "replace")
    assert code == 130, err[-2000:]
    assert "cancelled" in err
    state = RunState.load(run_dir)
    assert state.record.status == "cancelled"
    assert state.step_record("train").status == "cancelled"
    assert not any("llama-finetune" in " ".join(p.info["cmdline"] or [])
                   and str(run_dir) in " ".join(p.info["cmdline"] or [])
                   for p in psutil.process_iter(["cmdline"]))
    assert json.loads((run_dir / "run.json").read_text())["status"] == "cancelled"
