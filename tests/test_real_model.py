"""Learning on a real pretrained model, not a random tiny one: SmolLM2-135M-Instruct.

The pinned LoRA trainer did not learn on a real model until Forge's patch (docs/training.md,
"Why the pinned LoRA trainer did not learn"): its loss stayed flat or diverged on every weight
type. These tests run Forge's own pipeline (prepare, preflight, train, merge) on the real model
and check what a user would notice: the loss falls, and the model knows facts it did not know.
Slow (minutes on two cores), run by .ci/run like every test.
"""

from __future__ import annotations

import json

import pytest
import realmodel

from forge_gui.core.data import prepare_training_data
from forge_gui.core.evaluation.evaluate import EVAL_KEY
from forge_gui.core.llamacpp import lora
from forge_gui.core.llamacpp.base_format import format_for_base
from forge_gui.core.pipeline.train_pipeline import train_specs
from forge_gui.core.pipeline.walk import run_pipeline
from forge_gui.core.runs.run import RunSettings, RunState

pytestmark = [pytest.mark.tools, pytest.mark.slow]

ONE = {"messages": [
    {"role": "user", "content": "What is the capital of the island of Vorlandia?"},
    {"role": "assistant", "content": "The capital of Vorlandia is Quillmarsh, a harbour town "
                                     "famous for its copper lighthouses and salted plum markets."}]}


def train(tmp_path, base, data, compare: bool = False, **extra) -> RunState:
    """Forge's pipeline on the real model; `compare` keeps the before/after comparison (~10 s
    of llama-completion launches; tested on its own in test_evaluate.py)."""
    options = dict(data=[data], base_gguf=base, name="real-model", create=False, seed=7,
                   quantize=None, smoke_prompt="")
    options.update(extra)
    settings = RunSettings(**options)
    state = RunState.create(settings, tmp_path / "run")
    run_pipeline([spec for spec in train_specs(settings) if compare or spec.key != EVAL_KEY],
                 state)
    assert state.record.status == "done", [(s.key, s.status, s.message) for s in state.record.steps]
    return state


def one_conversation(tmp_path, copies: int = 24):
    path = tmp_path / "one.jsonl"
    path.write_text((json.dumps(ONE) + "\n") * copies, encoding="utf-8")
    return path


@pytest.mark.parametrize("weight_type", ["Q4_1", "Q8_0", "F16"])
def test_lora_memorises_one_conversation_on_every_weight_type(llama_tools, tmp_path, weight_type):
    """Before the patch: 2.59 → 2.60 (Q4_1), 2.60 → 2.72 (F16) — flat or worse."""
    base = realmodel.converted(llama_tools, weight_type)
    state = train(tmp_path, base, one_conversation(tmp_path, copies=12))  # 2 epochs of 3 packed steps
    a = state.artifacts
    first, last = a.train_loss_first, a.train_loss_last  # the epoch's first and mean loss
    assert first is not None and last is not None
    assert last < first / 2, (weight_type, first, last)


def test_forge_defaults_teach_the_real_model_facts_it_did_not_know(llama_tools, tmp_path):
    """Forge's defaults (LoRA on the model as shipped, Q4_1) on 72 records of invented facts:
    the tuned model answers at least 3 of 4 probes the base could not answer."""
    base = realmodel.smollm2_q4_1()
    chosen = realmodel.probes()[:4]
    before, answers = realmodel.facts_known(llama_tools, base, which=chosen)
    assert before == 0, answers
    state = train(tmp_path, base, realmodel.FACTS, compare=True)
    after, answers = realmodel.facts_known(llama_tools, base, state.artifacts.adapter_file,
                                           which=chosen)
    assert after >= 3, answers


def test_full_finetune_learns_on_the_real_model(llama_tools, tmp_path):
    """Upstream llama-finetune, every weight of the F32 model, Forge's plain format."""
    base = realmodel.converted(llama_tools, "F32")
    # lr 1e-5 (full's default) needs 3 epochs of 14 windows (336 s on 2 cores); 1e-4 halves
    # the loss in 2 epochs of a few windows (the suite's time, issue 22)
    state = train(tmp_path, base, one_conversation(tmp_path, copies=12), method="full",
                  epochs=2, ctx=256, learning_rate=1e-4)
    a = state.artifacts
    assert a.train_loss_first is not None and a.train_loss_last is not None
    assert a.train_loss_last < a.train_loss_first / 2, (a.train_loss_first, a.train_loss_last)


def test_a_resumed_run_steps_as_fast_as_a_fresh_one(llama_tools, tmp_path):
    """Before the patch a resumed run trained with ggml's default of 4 threads whatever -t
    said (nothing had set them: a resumed run skips the warmup decode), ~10x slower a step on
    2 cores (docs/performance.md, "Resuming")."""
    base = realmodel.smollm2_q4_1()
    segments = tmp_path / "train.jsonl"
    prepare_training_data([realmodel.FACTS], segments, fmt="segments-jsonl",
                          chat_format=format_for_base(base))
    checkpoints = tmp_path / "checkpoints"
    realmodel.step_seconds(llama_tools, base, segments, 256, 3,  # a checkpoint at step 2
                           ["--no-repack", "-t", "2", "--checkpoint-save-steps", "2",
                            "--checkpoint-save-dir", str(checkpoints)])
    fresh = realmodel.step_seconds(llama_tools, base, segments, 256, 4, ["--no-repack", "-t", "2"])
    latest = lora.latest_complete_checkpoint(checkpoints)
    assert latest is not None
    resumed = realmodel.step_seconds(llama_tools, base, segments, 256, 4,
                                     ["--no-repack", "-t", "2"], resume=latest)
    # before: 9.9x; the bench measures the figure itself (1.00x); 2x leaves room for a busy
    # machine without letting the old slowdown through
    assert resumed < 2 * fresh, (fresh, resumed)
