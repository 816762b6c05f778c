"""Refusals before anything long starts: too little text, a quantized base, bad input."""

from __future__ import annotations

import json
import re

import pytest
from fixtures_llama import write_colour_dataset

from forge_gui.cli import main
from forge_gui.core.base.steps import StepFailed
from forge_gui.core.llamacpp.packing import plan_windows
from forge_gui.core.llamacpp.tool_steps import suggest_ctx, training_ctx, training_windows
from forge_gui.core.pipeline.preflight import check_packing, check_windows
from forge_gui.core.runs.run import RunState
from forge_gui.gui.wording import in_app_words


def test_windows_follow_llama_finetune():
    # (tokens - ctx - 1) / (ctx / 2), as common_opt_dataset_init computes it, with the context
    # llama.cpp really uses (padded to a multiple of 256)
    assert training_ctx(64) == 256 and training_ctx(512) == 512 and training_ctx(600) == 768
    assert training_windows(2219, 256) == 15 and training_windows(2219, 64) == 15
    assert training_windows(600, 512) == 0
    assert training_windows(513, 512) == 0  # would underflow inside llama-finetune
    assert check_windows(2219, 256, 0.05) == 15
    with pytest.raises(StepFailed) as exc:
        check_windows(1000, 1024, 0.05)
    assert "--ctx 256" in exc.value.hint and "1,000 tokens" in exc.value.message
    assert suggest_ctx(5000, 0.05) == 512
    assert suggest_ctx(300, 0.05) is None


def _run(tmp_path, data, base, *extra):
    return main(["train-run", "--data", str(data), "--base-gguf", str(base), "--name", "t",
                 "--workdir", str(tmp_path / "run"), "--no-create", *extra])


def test_too_little_text_is_refused_with_a_suggested_context(llama_tools, tiny_gguf, tmp_path,
                                                             capsys):
    data = write_colour_dataset(tmp_path / "few.jsonl", records=24)  # ~900 tokens
    assert _run(tmp_path, data, tiny_gguf["f32"], "--ctx", "1024", "--method", "full") == 1
    err = capsys.readouterr().err
    assert "too little to train on" in err and "--ctx 256" in err
    state = RunState.load(tmp_path / "run")
    assert state.record.status == "failed"
    assert state.step_record("preflight").status == "failed"
    assert state.artifacts.tokens and state.artifacts.tokens > 50  # counted by llama-tokenize
    assert not (tmp_path / "run" / "trained-f32.gguf").exists()


def test_a_quantized_base_is_explained_not_trained(llama_tools, tiny_gguf, colour_data, tmp_path,
                                                   capsys):
    assert _run(tmp_path, colour_data, tiny_gguf["q8_0"], "--method", "full") == 1
    err = capsys.readouterr().err
    assert "quantized (Q8_0)" in err and "unquantized tag" in err
    assert RunState.load(tmp_path / "run").step_record("base").status == "failed"


def test_usage_errors_exit_2_without_traceback(tiny_gguf, colour_data, tmp_path, capsys):
    assert main(["train-run", "--data", str(tmp_path / "nope.jsonl"), "--base-gguf",
                 str(tiny_gguf["f32"]), "--name", "t"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train-run", "--data", str(colour_data), "--name", "t"]) == 2
    assert "--base" in capsys.readouterr().err
    assert main(["train-run", "--data", str(colour_data), "--base-gguf", str(tiny_gguf["f32"]),
                 "--name", "t", "--ctx", "300"]) == 2
    assert "multiple of 256" in capsys.readouterr().err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me")
    assert _run(tmp_path / "x", colour_data, tiny_gguf["f32"], "--workdir", str(busy)) == 2
    assert (busy / "mine.txt").read_text() == "keep me"
    err = capsys.readouterr().err
    assert "not empty" in err and "Traceback" not in err


def test_invalid_records_stop_the_run_before_training(llama_tools, tiny_gguf, tmp_path, capsys):
    data = tmp_path / "bad.jsonl"
    data.write_text(json.dumps({"instruction": "hi", "output": "hello"}) + "\n{not json\n")
    assert _run(tmp_path, data, tiny_gguf["f32"]) == 1
    assert "invalid record" in capsys.readouterr().err
    assert RunState.load(tmp_path / "run").step_record("validate").status == "failed"


def test_lora_needs_two_training_windows():
    """llama-finetune-lora skips each epoch's first window: with one it trains nothing and
    saves an all-zero adapter, so the LoRA preflight asks for two (and says what to change)."""
    from forge_gui.core.llamacpp.tool_steps import training_windows

    tokens = 257 + 128 * 2 + 10  # two windows at a context of 256: one trains after the skip
    assert training_windows(tokens, 256) == 2
    assert check_windows(tokens, 256, 0.0) == 2  # full fine-tuning trains both
    with pytest.raises(StepFailed, match="llama-finetune-lora needs at least") as exc:
        check_windows(tokens, 256, 0.05, min_train=2, tool="llama-finetune-lora")
    assert "add more training data" in exc.value.hint.lower()
    assert check_windows(257 + 128 * 4, 256, 0.05, min_train=2) == 4


def _numbers(text: str) -> list[int]:
    return [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", text)]


@pytest.mark.parametrize("tokens", [483, 700, 1024, 1200])
def test_a_refusal_never_contradicts_itself(tokens):
    """Old bug: "483 tokens … needs more than 385". What the tool needs is always more than
    the text has, and that many tokens really pass the same check."""
    with pytest.raises(StepFailed) as exc:
        check_windows(tokens, 512, 0.05, min_train=2, tool="llama-finetune-lora")
    message = exc.value.message
    have, needed = _numbers(message)[:2]
    assert have == tokens and needed > tokens, message
    assert check_windows(needed, 512, 0.05, min_train=2) >= 3  # exactly enough
    with pytest.raises(StepFailed):
        check_windows(needed - 1, 512, 0.05, min_train=2)


def test_the_validation_split_is_named_when_it_is_the_cause():
    # two windows at 512, but the 5 % validation split keeps one back: one left, two needed
    tokens = 513 + 2 * 256
    with pytest.raises(StepFailed) as exc:
        check_windows(tokens, 512, 0.05, min_train=2, tool="llama-finetune-lora")
    assert "validation split" in exc.value.message
    assert "Its 2 windows leave 1" in exc.value.message
    assert "--ctx 256" in exc.value.hint


def test_each_front_end_names_what_to_change_in_its_own_words():
    """The CLI names its flag; the app (run page, Data page: gui/wording.py) the Trainer
    page's context, never a command-line flag."""
    with pytest.raises(StepFailed) as exc:
        check_windows(900, 512, 0.05, min_train=2, tool="llama-finetune-lora")
    assert "--ctx 256" in str(exc.value)
    in_app = in_app_words(str(exc.value))
    assert "--" not in in_app and "Trainer page" in in_app and "256" in in_app
    lengths = [100, 100, 1000]  # packs into one window: nothing left after validation
    with pytest.raises(StepFailed) as exc:
        check_packing(plan_windows(lengths, 1280), lengths, 1280)
    assert "--ctx 1024" in str(exc.value)
    in_app = in_app_words(str(exc.value))
    assert "--" not in in_app and "Trainer page" in in_app and "1024" in in_app
