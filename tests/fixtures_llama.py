"""Fixtures for the llama tests: the real tools (built once, cached), a tiny model, tiny data."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from tinymodel import make_tiny_lora, make_tiny_model

COLOURS = ("red", "green", "blue", "yellow")


@pytest.fixture(scope="session")
def llama_tools() -> Path:
    """The bin folder of the pinned llama.cpp build; builds it when missing (minutes, once)."""
    from forge_gui.core.llamacpp.build import ensure_tools

    return ensure_tools()


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory) -> dict[str, Path]:
    """{"f32", "f16", "q8_0", "lora"} -> GGUF files of the tiny random-weight Llama."""
    folder = tmp_path_factory.mktemp("tiny-models")
    models = {dtype: make_tiny_model(folder / f"tiny-{dtype}.gguf", dtype)
              for dtype in ("f32", "f16", "q8_0")}
    models["lora"] = make_tiny_lora(folder / "tiny-lora.gguf", models["f32"])
    return models


def write_colour_dataset(path: Path, records: int = 24, seed: int = 1) -> Path:
    """A small Alpaca JSONL with one easy pattern, so a tiny model's loss falls fast."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(records):
            colour = rng.choice(COLOURS)
            fh.write(json.dumps({"instruction": f"What colour is the {colour} ball?",
                                 "output": f"The ball is {colour}."}) + "\n")
    return path


@pytest.fixture
def colour_data(tmp_path) -> Path:
    return write_colour_dataset(tmp_path / "colours.jsonl")


CHATML_TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                   "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
                   "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


@pytest.fixture(scope="session")
def tiny_chatml(tmp_path_factory) -> Path:
    """The tiny F16 model with a ChatML chat template, like a Qwen instruct model."""
    folder = tmp_path_factory.mktemp("tiny-chatml")
    return make_tiny_model(folder / "tiny-chatml-f16.gguf", "f16", chat_template=CHATML_TEMPLATE)


@pytest.fixture(scope="session")
def tiny_q4k(tmp_path_factory, llama_tools) -> Path:
    """A k-quant base as `ollama pull` gives: the wide tiny model through llama-quantize
    Q4_K_M (real Q4_K and Q6_K tensors: its rows are 256 values, the k-quant block)."""
    import subprocess

    folder = tmp_path_factory.mktemp("tiny-q4k")
    f32 = make_tiny_model(folder / "tiny-wide-f32.gguf", "f32", wide=True)
    out = folder / "tiny-wide-Q4_K_M.gguf"
    subprocess.run([str(llama_tools / "llama-quantize"), str(f32), str(out), "Q4_K_M"],
                   check=True, capture_output=True, timeout=300)
    return out
