"""forge-cli train-run end to end on the tiny model with the real llama.cpp tools."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fixtures_llama import write_colour_dataset

from forge_gui.core.llamacpp.gguf_info import inspect_gguf
from forge_gui.core.runs.run import RunSettings, RunState

SUMMARY_KEYS = {"run_dir", "output_gguf", "train_loss_first", "train_loss_last",
                "val_loss_last", "modelfile", "model"}


def forge(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "forge_gui.cli", *args], capture_output=True,
                          timeout=timeout)


def test_train_run_trains_quantizes_and_generates(llama_tools, tiny_gguf, tmp_path):
    data = write_colour_dataset(tmp_path / "colours.jsonl", records=40)
    run_dir = tmp_path / "run"
    done = forge("train-run", "--data", str(data), "--base-gguf", str(tiny_gguf["f32"]),
                 "--name", "tiny-colours", "--method", "full", "--epochs", "2", "--lr", "1e-3",
                 "--ctx", "256",
                 "--val-split", "0.1", "--workdir", str(run_dir), "--no-create", "--json")
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 0, err[-3000:]

    summary = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert set(summary) == SUMMARY_KEYS
    assert summary["train_loss_last"] < 0.6 * summary["train_loss_first"]
    assert summary["val_loss_last"] is not None and summary["model"] is None

    # the output is a Q8_0 GGUF of the same model, and llama-completion generated with it
    out = inspect_gguf(summary["output_gguf"])
    assert out.file_type == "MOSTLY_Q8_0" and out.architecture == "llama"
    # llama-finetune saves its training context (256) as the model's; Forge restores the base's
    assert inspect_gguf(run_dir / "trained-f32.gguf").context_length == 256
    assert out.context_length == inspect_gguf(tiny_gguf["f32"]).context_length == 1024
    state = RunState.load(run_dir)
    assert state.record.status == "done"
    assert state.artifacts.completion_tokens and state.artifacts.completion_tokens > 1
    assert state.settings.epochs == 2 and state.settings.learning_rate == 1e-3

    # the run folder: recipe, argv of every tool, logs, outputs, Modelfile
    for name in ("run.json", "train.txt", "trained-f32.gguf", "model-Q8_0.gguf", "Modelfile",
                 "commands/train.json", "commands/quantize.json", "commands/preflight.json",
                 "commands/completion.json", "logs/train.log"):
        assert (run_dir / name).is_file(), name
    argv = json.loads((run_dir / "commands" / "train.json").read_text())["argv"]
    assert argv[argv.index("-o") + 1] == str(run_dir / "trained-f32.gguf")
    assert [argv[argv.index(f) + 1] for f in ("-c", "-b", "-ub")] == ["256", "256", "256"]
    assert "FROM " + str(run_dir / "model-Q8_0.gguf") in (run_dir / "Modelfile").read_text()

    # a label per step, llama.cpp's status line streamed as it is ('\r' redraws), the finish
    assert "==> [6/" in err and "Fine-tune" in err
    assert "\rtrain: [" in err or "\r" in err.split("train: [", 1)[1]
    assert "ollama create tiny-colours -f" in err


def test_f16_base_is_converted_to_f32_first(llama_tools, tiny_gguf, colour_data, tmp_path):
    run_dir = tmp_path / "run"
    done = forge("train", "--data", str(colour_data), "--base-gguf", str(tiny_gguf["f16"]),
                 "--name", "tiny-f16", "--method", "full", "--epochs", "1", "--lr", "1e-3", "--ctx", "256",
                 "--quantize", "none", "--workdir", str(run_dir), "--no-create", "--json")
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    summary = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert inspect_gguf(run_dir / "base-f32.gguf").tensor_types == {"F32": 21}
    # kept in F32, but still copied once to restore the base's context length
    assert summary["output_gguf"] == str(run_dir / "model-F32.gguf")
    out = inspect_gguf(run_dir / "model-F32.gguf")
    assert out.tensor_types == {"F32": 21} and out.context_length == 1024


@pytest.mark.parametrize("alias", ["finetune"])
def test_aliases_take_the_same_options(alias, capsys):
    from forge_gui.cli import build_parser

    args = build_parser().parse_args([alias, "--data", "x", "--name", "n", "--epochs", "3"])
    assert args.epochs == 3 and args.handler.__name__ == "train_run"


def test_the_tried_prompt_is_in_the_training_format(tmp_path):
    from forge_gui.core.data import render_turns
    from forge_gui.core.pipeline.train_pipeline import smoke_prompt_text

    settings = RunSettings(data=[tmp_path], name="n", smoke_prompt="Name a colour.",
                           system="Be brief.")
    prompt = smoke_prompt_text(settings)
    assert prompt == ("### System:\nBe brief.\n\n### Instruction:\nName a colour.\n\n"
                      "### Input:\n(none)\n\n### Response:\n")
    # the training text of the same exchange continues exactly where the prompt ends
    trained = render_turns((("system", "Be brief.", None), ("user", "Name a colour.", None),
                            ("assistant", "Blue.", None)))
    assert trained == prompt + "Blue.\n"
