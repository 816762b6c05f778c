"""LoRA training on the base as the user has it (llama-finetune-lora), end to end.

Real tools built from the pinned sources, tiny models the suite makes, the Ollama double.
"""

from __future__ import annotations

import json

import pytest
from fixtures_llama import write_colour_dataset

from forge_gui.core.formats.chat_format import PLAIN
from forge_gui.core.llamacpp.gguf_info import inspect_gguf
from forge_gui.core.pipeline.train_pipeline import train_specs
from forge_gui.core.pipeline.walk import run_pipeline
from forge_gui.core.runs.run import RunSettings, RunState

pytestmark = [pytest.mark.tools, pytest.mark.slow]


# On the tiny random model, adapters on attention and MLP alone leave the loss flat; with the
# output layer adapted too it falls within two epochs (docs/training.md, "LoRA defaults").
TINY_MODULES = "attn_q,attn_k,attn_v,attn_o,ffn_gate,ffn_up,ffn_down,output"


def lora_run(tmp_path, base, name="tiny-lora", records=40, **extra) -> RunState:
    data = write_colour_dataset(tmp_path / "colours.jsonl", records=records)
    options = dict(data=[data], base_gguf=base, name=name, method="lora", epochs=2,
                   learning_rate=1e-3, ctx=256, seed=7, lora_modules=TINY_MODULES)
    options.update(extra)
    settings = RunSettings(**options)
    state = RunState.create(settings, tmp_path / "run")
    run_pipeline(train_specs(settings), state)
    return state


def argv_of(state: RunState, step: str) -> list[str]:
    return json.loads((state.run_dir / "commands" / f"{step}.json").read_text())["argv"]


def assert_learned(state: RunState) -> None:
    a = state.artifacts
    assert a.train_loss_first is not None and a.train_loss_last is not None
    assert a.train_loss_last < 0.95 * a.train_loss_first, (a.train_loss_first, a.train_loss_last)
    adapter = inspect_gguf(a.adapter_file)
    assert adapter.general_type == "adapter" and adapter.architecture == "llama"
    # every linear layer of every block got an adapter (the default that learns)
    for part in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"):
        assert f"blk.1.{part}.weight.lora_a" in adapter.tensor_names, part
    # the merged model loaded in llama-completion and generated
    assert a.completion_tokens and a.completion_tokens > 1


def test_lora_on_an_f16_base_trains_merges_and_registers(llama_tools, tiny_gguf, tmp_path,
                                                         ollama):
    state = lora_run(tmp_path, tiny_gguf["f16"])
    a = state.artifacts
    assert state.record.status == "done"
    assert_learned(state)
    argv = argv_of(state, "train")
    assert argv[0].endswith("llama-finetune-lora")
    assert argv[argv.index("-fa") + 1] == "off" and "--no-repack" not in argv
    # the window comes from the data (a few short records: less than the 256 asked for)
    window = str(a.train_ctx)
    assert a.train_ctx and a.train_ctx < 256 and a.train_ctx % 64 == 0
    assert [argv[argv.index(f) + 1] for f in ("-c", "-b", "-ub")] == [window] * 3
    assert "--segments" in argv
    assert argv_of(state, "merge")[0].endswith("llama-export-lora")
    # auto output type: the base's own (F16): the merge is already that, nothing requantized
    assert a.output_gguf == state.run_dir / "merged.gguf"
    assert set(inspect_gguf(a.output_gguf).tensor_types) == {"F16", "F32"}
    assert a.chat_format == "plain"  # the tiny vocab has no chat template
    model = ollama.models["tiny-lora:latest"]
    assert model["template"] == PLAIN.go_template
    assert model["parameters"]["stop"] == ["### Instruction:", "### System:"]
    assert a.model == "tiny-lora" and a.smoke_answer


def test_lora_on_a_q8_0_base_gives_a_q8_0_model(llama_tools, tiny_gguf, tmp_path):
    state = lora_run(tmp_path, tiny_gguf["q8_0"], create=False)
    assert_learned(state)
    out = inspect_gguf(state.artifacts.output_gguf)
    assert out.file_type == "MOSTLY_Q8_0" and set(out.tensor_types) == {"Q8_0", "F32"}
    assert "--allow-requantize" in argv_of(state, "quantize")


def test_lora_on_a_k_quant_base(llama_tools, tiny_q4k, tmp_path):
    base = inspect_gguf(tiny_q4k)
    assert {"Q4_K", "Q6_K"} <= set(base.tensor_types)  # a real k-quant model
    state = lora_run(tmp_path, tiny_q4k, create=False, records=60)
    assert_learned(state)
    assert "--no-repack" in argv_of(state, "train")  # without it the CPU backend aborts
    out = inspect_gguf(state.artifacts.output_gguf)
    assert out.file_type == "MOSTLY_Q4_K_M" and "Q4_K" in out.tensor_types


def test_adapter_route_registers_from_the_base(llama_tools, tiny_gguf, tmp_path, ollama):
    state = lora_run(tmp_path, tiny_gguf["f16"], use_adapter=True)
    a = state.artifacts
    assert a.route == "adapter" and not (state.run_dir / "merged.gguf").exists()
    assert "--lora" in argv_of(state, "completion")  # tried with the adapter applied
    model = ollama.models["tiny-lora:latest"]
    assert list(model["adapters"]) == ["adapter.gguf"] and list(model["files"]) == [
        tiny_gguf["f16"].name]
    assert "ADAPTER " + str(a.adapter_file) in (state.run_dir / "Modelfile").read_text()


def test_chat_format_run_on_a_chatml_base(llama_tools, tiny_chatml, tmp_path, ollama):
    state = lora_run(tmp_path, tiny_chatml, epochs=3)
    a = state.artifacts
    assert a.chat_format == "template" and "own chat format" in a.chat_format_note
    lines = (state.run_dir / "train.jsonl").read_text().splitlines()
    segments = json.loads(lines[0])["segments"]  # the base's own rendering, answers marked
    assert segments[0][0].startswith("<|im_start|>user\n") and segments[0][1] is False
    assert segments[1][1] is True and segments[1][0].endswith("<|im_end|>")
    argv = argv_of(state, "train")
    assert "--segments" in argv and "--assistant-loss-only" not in argv
    assert a.train_loss_last < a.train_loss_first
    model = ollama.models["tiny-lora:latest"]
    assert "<|im_end|>" in model["parameters"]["stop"]
    prompt = argv_of(state, "completion")
    assert prompt[prompt.index("-p") + 1].endswith("<|im_start|>assistant\n")
