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
