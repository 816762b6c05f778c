"""Every family trains for real, in its own chat format, through Forge's own pipeline.

A tiny random Llama carrying each family's real tokenizer (models/ggml-vocab-*.gguf) and real
chat template (models/templates/*.jinja) from the pinned llama.cpp tree is trained with the
patched llama-finetune-lora on chat records (single-turn, system prompt, multi-turn) exactly
as a user's run trains: validate, prepare in the base's format, count, train. What the user
would notice: the run finishes with an adapter, every conversation was packed, and the tool
trained exactly the tokens of the answers and their end-of-turn that Forge marked, as the
tool itself tokenized them (test_template_formats.py checks the texts and the Go templates).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from realmodel import PACKED
from test_template_formats import FAMILIES, RECORDS, models_dir, token_ids  # noqa: F401
from tinymodel import make_tiny_model

from forge_gui.core.evaluation.evaluate import EVAL_KEY
from forge_gui.core.llamacpp import lora
from forge_gui.core.llamacpp.gguf_info import inspect_gguf
from forge_gui.core.pipeline.train_pipeline import train_specs
from forge_gui.core.pipeline.walk import run_pipeline
from forge_gui.core.runs.run import RunSettings, RunState

pytestmark = [pytest.mark.tools, pytest.mark.slow]

# The tree's only Gemma vocab is Gemma 4's ("gemma4" tokenizer), which the pinned fork predates;
# Gemma 2 and 3 GGUFs carry a SentencePiece tokenizer ("llama"), which llama-spm is.
# Qwen 3 GGUFs carry Qwen 2's pre-tokenizer; the tree's qwen35 vocab is Qwen 3.5's, which the
# fork predates too (a Qwen 3.5 or Gemma 4 base cannot be trained with the pinned fork yet).
TRAIN_VOCAB = {"gemma-2": "llama-spm", "gemma-3": "llama-spm", "qwen-3": "qwen2"}
# One of each family (Llama 3.1/3.2/3.3 share tokenizer and template rules, as do the two
# DeepSeek-R1 distills): each trains in CI, a few seconds to a minute apiece.
TRAINED = ["llama-3.1", "qwen-2.5", "qwen-3", "smollm-3", "gemma-2", "gemma-3", "mistral-nemo",
           "mixtral", "phi-3.5", "phi-4", "deepseek-r1-qwen"]
COPIES = 8  # 24 records: several windows, so the tool's 5 % validation split is not empty


def _records(path: Path) -> Path:
    lines = []
    for turns in RECORDS.values():
        messages = [{"role": role, "content": content} for role, content, _ in turns]
        if messages[-1]["role"] == "user":
            messages = messages[:-1]  # a record ends with its last answer
        lines.append(json.dumps({"messages": messages}))
    path.write_text("\n".join(lines * COPIES) + "\n", encoding="utf-8")
    return path


def _trained_tokens(binary: Path, model: Path, segments_file: Path, tmp: Path) -> int:
    """The answer tokens as the patched trainer counts them: the whole text tokenized once,
    each segment's end found by tokenizing the text up to it (docs/training.md)."""
    def count(text: str) -> int:
        return len(token_ids(binary, model, text, tmp))

    trained = 0
    seen: dict[str, int] = {}  # the records repeat: tokenize each distinct one once
    for line in segments_file.read_text("utf-8").splitlines():
        if line in seen:
            trained += seen[line]
            continue
        start = trained
        segments = json.loads(line)["segments"]
        text = ""
        for piece, is_trained in segments:
            before = count(text) if text else 0
            text += piece
            if is_trained:
                trained += count(text) - before
        seen[line] = trained - start
    return trained


@pytest.mark.parametrize("family", TRAINED)
def test_each_family_trains_its_answers_in_its_own_format(family, models_dir, llama_tools,  # noqa: F811
                                                          tmp_path):
    binary = llama_tools / "llama-tokenize"  # built with the tools, as the trainer is
    template, vocab, eot, _ = FAMILIES[family]
    source = template if "{%" in template else (models_dir / "templates" / f"{template}.jinja"
                                                ).read_text("utf-8")
    vocab = TRAIN_VOCAB.get(family, vocab)
    model = make_tiny_model(tmp_path / "base.gguf", chat_template=source,
                            vocab=models_dir / f"ggml-vocab-{vocab}.gguf")
    settings = RunSettings(data=[_records(tmp_path / "chat.jsonl")], base_gguf=model,
                           name="family", create=False, quantize=None, smoke_prompt="",
                           epochs=1, seed=7)
    state = RunState.create(settings, tmp_path / "run")
    # without the before/after comparison: it is tested on its own (test_evaluate.py), and its
    # eight llama-completion launches would be most of the time here
    run_pipeline([spec for spec in train_specs(settings) if spec.key != EVAL_KEY], state)
    assert state.record.status == "done", [(s.key, s.status, s.message)
                                           for s in state.record.steps]
    assert lora.check_adapter(inspect_gguf(model), state.artifacts.adapter_file)

    segments_file = tmp_path / "run" / "train.jsonl"
    first = json.loads(segments_file.read_text("utf-8").splitlines()[0])["segments"]
    assert [t for t, trained in first if trained][-1].endswith(eot)  # the family's end-of-turn
    log = state.log_path("train").read_text("utf-8", "replace")
    packed = PACKED.search(log)
    assert packed, log[-3000:]
    assert int(packed.group(1)) == len(RECORDS) * COPIES  # none skipped
    assert int(packed.group(6)) == _trained_tokens(binary, model, segments_file, tmp_path)
