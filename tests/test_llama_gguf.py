"""Base model inspection with the gguf package, on the generated tiny models."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
from tinymodel import N_EMBD, N_LAYER, VOCAB_GGUF, make_tiny_model, tiny_tensors

from forge_gui.core.base.steps import StepFailed
from forge_gui.core.llamacpp.gguf_info import check_same_model, inspect_gguf


def test_tiny_models_are_llamas_with_the_real_vocabulary(tiny_gguf):
    info = inspect_gguf(tiny_gguf["f32"])
    assert info.architecture == "llama" and info.general_type == "model"
    assert info.vocab_size == 32000 and info.context_length == 1024
    assert info.parameters == 2 * 32000 * N_EMBD + N_EMBD + N_LAYER * (
        2 * N_EMBD + 4 * N_EMBD * N_EMBD + 3 * 128 * N_EMBD)
    assert info.tensor_types == {"F32": 21} and info.file_type == "ALL_F32"
    assert not info.has_chat_template


def test_the_tokenizer_is_copied_byte_for_byte_and_the_tensors_stay(tiny_gguf):
    """tinymodel splices the vocab's records into the written file (gguf_header spans): every
    tokenizer value and every tensor must read back as gguf's own reader sees them."""
    model, vocab = gguf.GGUFReader(tiny_gguf["f32"]), gguf.GGUFReader(VOCAB_GGUF)
    for name, field in vocab.fields.items():
        if name.startswith("tokenizer."):
            assert model.fields[name].contents() == field.contents(), name
    written = tiny_tensors(32000, seed=0)
    assert {t.name for t in model.tensors} == set(written)
    for tensor in model.tensors:  # the data moved with the header: read at the new offset
        assert np.array_equal(np.asarray(tensor.data).reshape(written[tensor.name].shape),
                              written[tensor.name]), tensor.name


def test_trainability_follows_the_weight_types(tiny_gguf):
    f32, f16, q8 = (inspect_gguf(tiny_gguf[k]) for k in ("f32", "f16", "q8_0"))
    assert f32.trainability == "ready"
    assert f16.trainability == "convert" and "losslessly" in f16.explain_trainability()
    assert q8.trainability == "quantized"
    assert "Q8_0" in q8.explain_trainability() and "unquantized" in q8.explain_trainability()
    assert f16.f32_bytes == f32.parameters * 4


def test_generator_is_deterministic_by_seed(tmp_path):
    a = make_tiny_model(tmp_path / "a.gguf", "f32", seed=3).read_bytes()
    b = make_tiny_model(tmp_path / "b.gguf", "f32", seed=3).read_bytes()
    c = make_tiny_model(tmp_path / "c.gguf", "f32", seed=4).read_bytes()
    assert a == b and a != c


def test_adapter_is_recognised_and_not_trainable(tiny_gguf):
    info = inspect_gguf(tiny_gguf["lora"])
    assert info.general_type == "adapter" and info.trainability == "not-a-model"
    assert "blk.0.attn_q.weight.lora_a" in info.tensor_names


def test_legacy_ggla_and_non_gguf_files_are_refused_with_a_reason(tmp_path):
    ggla = tmp_path / "old-lora.gguf"  # named .gguf, but the legacy finetune wrote GGLA
    ggla.write_bytes(b"algg" + b"\0" * 64)
    with pytest.raises(StepFailed, match="legacy GGLA"):
        inspect_gguf(ggla)
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(StepFailed, match="not a GGUF"):
        inspect_gguf(text)
    with pytest.raises(StepFailed, match="does not exist"):
        inspect_gguf(tmp_path / "missing.gguf")


def test_trained_output_must_hold_the_base_tensors(tiny_gguf):
    base = inspect_gguf(tiny_gguf["f32"])
    assert check_same_model(base, tiny_gguf["f16"]).architecture == "llama"
    with pytest.raises(StepFailed, match="tensors"):
        check_same_model(base, tiny_gguf["lora"])


def test_a_truncated_gguf_is_refused_not_crashed_on(tiny_gguf, tmp_path):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(tiny_gguf["f32"].read_bytes()[:5000])  # ends inside the tokenizer
    with pytest.raises(StepFailed, match="not a readable GGUF"):
        inspect_gguf(cut)
