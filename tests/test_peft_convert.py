"""A PEFT LoRA (PEFT's exact on-disk format, tests/peft_writer.py) comes home: converted to a
GGUF LoRA without torch (core/peft/convert.py), merged by the real llama-export-lora, and the
merged weights equal W + scale·B·A computed here with numpy (Llama's q/k rows permuted as
convert_hf_to_gguf.py permutes the base's); then registered through the usual route."""

from __future__ import annotations

import json

import gguf
import numpy as np
import pytest
from fixtures_ollama import add_to_store, write_small_gguf
from peft_writer import write_peft
from tinymodel import N_HEAD, N_HEAD_KV, make_tiny_model

from forge_gui.cli import main
from forge_gui.core.base.process import run_process_step
from forge_gui.core.llamacpp.gguf_info import inspect_gguf
from forge_gui.core.peft.convert import PeftError, convert
from forge_gui.core.registration.route import merge_step


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("peft-base") / "tiny-llama-f32.gguf", "f32")


def _shapes(path):
    return inspect_gguf(path).tensor_shapes


def _tensors(path) -> dict[str, np.ndarray]:
    return {t.name: np.array(t.data) for t in gguf.GGUFReader(path).tensors}


def _rope_rows(delta: np.ndarray, heads: int) -> np.ndarray:
    """convert_hf_to_gguf.py's LlamaModel.permute of a q/k weight, written out here."""
    head_dim = delta.shape[0] // heads
    return delta.reshape(heads, 2, head_dim // 2, -1).swapaxes(1, 2).reshape(delta.shape)


def _expected_delta(name: str, a, b, scale: float) -> np.ndarray:
    delta = scale * (b.astype(np.float64) @ a.astype(np.float64))
    if name.endswith("attn_q"):
        return _rope_rows(delta, N_HEAD)
    if name.endswith("attn_k"):
        return _rope_rows(delta, N_HEAD_KV)
    return delta


CASES = {
    "plain": (dict(r=4, alpha=16.0), lambda name, r: 16.0 / r),
    "rslora-and-patterns": (dict(r=4, alpha=8.0, use_rslora=True, rank_pattern={"v_proj": 2},
                                 alpha_pattern={"down_proj": 32.0}),
                            lambda name, r: (32.0 if "ffn_down" in name else 8.0) / np.sqrt(r)),
    "bf16": (dict(r=8, alpha=16.0, bf16=True), lambda name, r: 16.0 / r),
}


@pytest.mark.tools
@pytest.mark.parametrize("case", CASES)
def test_peft_merged_by_llama_export_lora_equals_numpy(case, tiny_base, llama_tools, tmp_path):
    options, scale_of = CASES[case]
    pairs = write_peft(tmp_path / "peft", _shapes(tiny_base), **options)
    lora = convert(tmp_path / "peft", tiny_base, tmp_path / "lora.gguf")
    merged = tmp_path / "merged.gguf"
    run_process_step(merge_step(llama_tools / "llama-export-lora", tiny_base, lora, merged))
    base, out = _tensors(tiny_base), _tensors(merged)
    assert len(pairs) == 2 * 7
    for name, (a, b) in pairs.items():
        want = base[f"{name}.weight"] + _expected_delta(name, a, b, scale_of(name, a.shape[0]))
        got = out[f"{name}.weight"]
        assert np.abs(got - want).max() < 1e-6, name
        assert np.abs(got - base[f"{name}.weight"]).max() > 1e-3, name  # the LoRA did something
    untouched = "blk.0.attn_norm.weight"
    assert np.array_equal(out[untouched], base[untouched])


def test_converted_gguf_holds_what_llama_cpp_reads(tiny_base, tmp_path):
    """Without the tools: the GGUF LoRA's header and tensors, A as is, B permuted for q/k."""
    pairs = write_peft(tmp_path / "peft", _shapes(tiny_base), r=4, alpha=16.0)
    lora = convert(tmp_path / "peft", tiny_base, tmp_path / "lora.gguf")
    reader = gguf.GGUFReader(lora)
    fields = {name: field.contents() for name, field in reader.fields.items()}
    assert fields["general.type"] == "adapter" and fields["adapter.type"] == "lora"
    assert fields["general.architecture"] == "llama" and fields["adapter.lora.alpha"] == 16.0
    got = _tensors(lora)
    a, b = pairs["blk.1.attn_k"]
    assert np.array_equal(got["blk.1.attn_k.weight.lora_a"], a)
    assert np.array_equal(got["blk.1.attn_k.weight.lora_b"], _rope_rows(b, N_HEAD_KV))
    assert not np.array_equal(got["blk.1.attn_k.weight.lora_b"], b)
    a, b = pairs["blk.0.ffn_down"]
    assert np.array_equal(got["blk.0.ffn_down.weight.lora_b"], b)
    assert not list(tmp_path.glob(".lora.gguf.*"))  # no temp file left


def test_fan_in_fan_out_is_transposed_back(tiny_base, tmp_path):
    shapes = _shapes(tiny_base)
    pairs = write_peft(tmp_path / "peft", shapes, modules=("mlp.down_proj",), r=2)
    # As a Conv1D layer stores it: lora_A is the transposed B and lora_B the transposed A.
    from safetensors.numpy import load_file, save_file
    path = tmp_path / "peft" / "adapter_model.safetensors"
    swapped = {}
    for name, x in load_file(str(path)).items():
        other = name.replace("lora_A", "lora_X").replace("lora_B", "lora_A").replace("lora_X", "lora_B")
        swapped[other] = np.ascontiguousarray(x.T)
    save_file(swapped, str(path))
    config = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    config["fan_in_fan_out"] = True
    (tmp_path / "peft" / "adapter_config.json").write_text(json.dumps(config))
    got = _tensors(convert(tmp_path / "peft", tiny_base, tmp_path / "lora.gguf"))
    a, b = pairs["blk.0.ffn_down"]
    assert np.array_equal(got["blk.0.ffn_down.weight.lora_a"], a)
    assert np.array_equal(got["blk.0.ffn_down.weight.lora_b"], b)


def _edit_config(folder, **changes):
    path = folder / "adapter_config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


@pytest.mark.parametrize("change, words", [
    ({"use_dora": True}, "DoRA adapter"),
    ({"peft_type": "IA3"}, "PEFT IA3 adapter"),
    ({"modules_to_save": ["lm_head"]}, r"saves whole modules \(lm_head\)"),
])
def test_what_a_gguf_lora_cannot_hold_is_refused(change, words, tiny_base, tmp_path):
    write_peft(tmp_path / "peft", _shapes(tiny_base), modules=("self_attn.q_proj",))
    _edit_config(tmp_path / "peft", **change)
    with pytest.raises(PeftError, match=words):
        convert(tmp_path / "peft", tiny_base, tmp_path / "lora.gguf")
    assert not (tmp_path / "lora.gguf").exists()


def test_an_adapter_for_another_model_is_refused(tiny_base, tmp_path):
    shapes = {k: [n * 2 for n in v] for k, v in _shapes(tiny_base).items()}
    write_peft(tmp_path / "peft", shapes, modules=("self_attn.q_proj",))
    with pytest.raises(PeftError, match="does not fit this base: .*choose the base the adapter"):
        convert(tmp_path / "peft", tiny_base, tmp_path / "lora.gguf")


def test_a_pickle_adapter_is_refused(tiny_base, tmp_path):
    write_peft(tmp_path / "peft", _shapes(tiny_base), modules=("self_attn.q_proj",))
    (tmp_path / "peft" / "adapter_model.safetensors").rename(tmp_path / "peft" / "adapter_model.bin")
    with pytest.raises(PeftError, match="safe_serialization=True"):
        convert(tmp_path / "peft", tiny_base, tmp_path / "lora.gguf")


def test_unsupported_architecture_is_one_sentence_and_exit_1(tiny_base, tmp_path, ollama,
                                                              capsys):
    write_peft(tmp_path / "peft", _shapes(tiny_base), modules=("self_attn.q_proj",))
    base = write_small_gguf(tmp_path / "gpt2.gguf", arch="gpt2")
    code = main(["retrain", "--adapter", str(tmp_path / "peft"), "--base-gguf", str(base),
                 "--name", "nope", "--workdir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1
    assert "Forge cannot convert a PEFT adapter for a gpt2 model; it converts Llama" in err
    assert "Traceback" not in err and "nope:latest" not in ollama.models


def test_retrain_base_given_twice_is_a_usage_error(tiny_base, tmp_path, capsys):
    write_peft(tmp_path / "peft", _shapes(tiny_base), modules=("self_attn.q_proj",))
    code = main(["retrain", "--adapter", str(tmp_path / "peft"), "--base-gguf", str(tiny_base),
                 "--base", "x:1b", "--name", "n"])
    assert code == 2 and "give the base once" in capsys.readouterr().err


def test_peft_as_adapter_on_a_server_that_runs_gguf_adapters(ollama_legacy, tiny_base, tmp_path,
                                                             monkeypatch):
    """No merge needed: the converted GGUF LoRA is the ADAPTER, FROM the Ollama base, and the
    model keeps the base's own template and stops (it was trained in that chat format)."""
    models = tmp_path / "models"
    monkeypatch.setenv("OLLAMA_MODELS", str(models))
    add_to_store(models, "tiny:1b", tiny_base)
    ollama_legacy.add_model("tiny:1b", template="{{ .Prompt }}<base>",
                            parameters={"stop": ["<end>"]})
    write_peft(tmp_path / "peft", _shapes(tiny_base), modules=("self_attn.q_proj",))
    code = main(["retrain", "--adapter", str(tmp_path / "peft"), "--base", "tiny:1b", "--name",
                 "came-home", "--use-adapter", "--workdir", str(tmp_path / "run")])
    assert code == 0
    converted = tmp_path / "run" / "adapter-from-peft.gguf"
    assert inspect_gguf(converted).general_type == "adapter"
    model = ollama_legacy.models["came-home:latest"]
    assert model["from"] == "tiny:1b" and list(model["adapters"]) == ["adapter-from-peft.gguf"]
    assert model["template"] == "{{ .Prompt }}<base>"
    assert model["parameters"]["stop"] == ["<end>"]


@pytest.mark.tools
def test_retrain_peft_end_to_end(ollama, tiny_base, llama_tools, tmp_path, capsys):
    """forge-cli retrain --adapter PEFT --base-gguf: converted, merged, created FROM the merged
    file on a current Ollama (PEFT refused there), the template left to the GGUF's own."""
    write_peft(tmp_path / "peft dir", _shapes(tiny_base), r=4, alpha=8.0)
    run = tmp_path / "run"
    code = main(["retrain", "--adapter", str(tmp_path / "peft dir"), "--base-gguf",
                 str(tiny_base), "--name", "peft-home", "--tools-dir", str(llama_tools),
                 "--workdir", str(run), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out)
    assert summary["route"] == "merge" and summary["model"] == "peft-home"
    model = ollama.models["peft-home:latest"]
    assert list(model["files"]) == ["merged.gguf"] and "adapters" not in model
    assert "TEMPLATE" not in (run / "Modelfile").read_text("utf-8")
    assert inspect_gguf(run / "merged.gguf").general_type == "model"
