"""forge-cli train-run with LoRA: registering a model, and resuming an interrupted run."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from fixtures_llama import write_colour_dataset
from tinymodel import make_tiny_lora

from forge_gui.core.base.steps import StepFailed
from forge_gui.core.llamacpp import lora
from forge_gui.core.llamacpp.gguf_info import inspect_gguf
from forge_gui.core.runs.run import RunState


def forge(*args, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forge_gui.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------------ adapter checks (no tools)

def test_an_all_zero_adapter_is_refused(tiny_gguf, tmp_path):
    zero = make_tiny_lora(tmp_path / "zero.gguf", tiny_gguf["f32"], zero=True)
    with pytest.raises(StepFailed, match="all zeros: training ran no step") as err:
        lora.check_adapter(inspect_gguf(tiny_gguf["f32"]), zero)
    assert "more training data" in err.value.hint
    good = make_tiny_lora(tmp_path / "good.gguf", tiny_gguf["f32"])
    assert lora.check_adapter(inspect_gguf(tiny_gguf["f32"]), good).general_type == "adapter"


def test_a_missing_or_foreign_adapter_is_refused(tiny_gguf, tmp_path):
    base = inspect_gguf(tiny_gguf["f32"])
    with pytest.raises(StepFailed, match="ended without writing the adapter"):
        lora.check_adapter(base, tmp_path / "adapter.gguf")
    with pytest.raises(StepFailed, match="not a LoRA adapter"):
        lora.check_adapter(base, tiny_gguf["f16"])


# ------------------------------------------------------------------ with the real tools

@pytest.mark.tools
@pytest.mark.slow
def test_train_run_lora_on_a_q8_0_base_registers_a_model(llama_tools, tiny_gguf, tmp_path,
                                                           ollama):
    ollama.add_model("tiny-base:q8", parameters={"temperature": 0.2})
    data = write_colour_dataset(tmp_path / "colours.jsonl", records=40)
    done = forge("train-run", "--data", data, "--base-gguf", tiny_gguf["q8_0"], "--base",
                 "tiny-base:q8", "--name", "tiny-colours", "--method", "lora", "--lr", "1e-3",
                 "--lora-modules", "attn_q,attn_k,attn_v,attn_o,ffn_gate,ffn_up,ffn_down,output",
                 "--ctx", "256", "--workdir", tmp_path / "run", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Created model 'tiny-colours'" in done.stderr
    model = ollama.models["tiny-colours:latest"]
    assert model["parameters"]["temperature"] == 0.2  # the base's parameters are kept
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert inspect_gguf(summary["output_gguf"]).file_type == "MOSTLY_Q8_0"
    assert summary["train_loss_last"] < summary["train_loss_first"]


def _wait_for_checkpoint(run_dir, proc, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = lora.latest_complete_checkpoint(run_dir / "checkpoints")
        if found is not None:
            return found
        if proc.poll() is not None:
            pytest.fail("the run ended before its first checkpoint: "
                        + proc.stderr.read()[-2000:])
        time.sleep(0.2)
    pytest.fail("no checkpoint was written in time")


@pytest.mark.tools
@pytest.mark.slow
def test_resume_after_sigterm_continues_from_the_checkpoint(llama_tools, tiny_gguf, tmp_path):
    data = write_colour_dataset(tmp_path / "colours.jsonl", records=40)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "forge_gui.cli", "train-run", "--data", str(data), "--base-gguf",
         str(tiny_gguf["f16"]), "--name", "resume-me", "--method", "lora", "--epochs", "2",
         "--lr", "1e-3", "--ctx", "256", "--checkpoint-every", "2", "--workdir", str(run_dir),
         "--no-create"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        _wait_for_checkpoint(run_dir, proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    state = RunState.load(run_dir)
    assert state.record.status == "cancelled"
    assert not (run_dir / "adapter.gguf").exists()

    complete = lora.latest_complete_checkpoint(run_dir / "checkpoints")
    step = lora.checkpoint_step(complete)
    # A later checkpoint cut short (the tool writes in place; a kill can leave 32 KB of it):
    broken = run_dir / "checkpoints" / "checkpoint_step_99999999"
    shutil.copytree(complete, broken)
    with open(broken / "model.gguf", "r+b") as fh:
        fh.truncate(32 * 1024)
    assert not lora.checkpoint_is_complete(broken)

    done = forge("train-run", "--resume", run_dir, "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    argv = json.loads((run_dir / "commands" / "train.json").read_text())["argv"]
    assert argv[argv.index("--resume-from") + 1] == str(complete)  # the broken one skipped
    log = (run_dir / "logs" / "train.log").read_text("utf-8", "replace")
    # the log goes on (appended), the tool loaded that checkpoint and went on from its step
    # (the optimizer counts one more step than the checkpoint's name), not from the start
    assert log.count("Starting epoch 0 (step 0,") == 1
    assert f"Loading checkpoint from: {complete}" in log
    resumed = re.search(r"Resuming training from global step (\d+)", log)
    assert resumed and step <= int(resumed.group(1)) <= step + 1, resumed
    state = RunState.load(run_dir)
    assert state.record.status == "done" and state.artifacts.resumed_from == complete
    assert lora.check_adapter(inspect_gguf(tiny_gguf["f16"]), run_dir / "adapter.gguf")
    # old checkpoints are pruned: at most the two newest complete ones stay (+ the broken one)
    kept = [p for _, p in lora.checkpoints(run_dir / "checkpoints") if p != broken]
    assert 1 <= len(kept) <= lora.KEEP_CHECKPOINTS


def test_resume_of_a_finished_or_missing_run_is_one_sentence(tmp_path, capsys):
    from forge_gui.cli import main

    assert main(["train-run", "--resume", str(tmp_path / "nope")]) == 2
    assert "is not a Forge run folder" in capsys.readouterr().err
