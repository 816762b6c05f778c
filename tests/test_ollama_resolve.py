"""What the trainer or the user produced is recognised, and the route to Ollama chosen."""

from __future__ import annotations

import json
import struct

import pytest
from fixtures_ollama import write_small_gguf

from forge_gui.core.ollama.resolve import ResolveError, check_adapter_matches, choose_route, resolve_output


def _peft(folder, base="meta-llama/Llama-3.2-1B"):
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps(
        {"base_model_name_or_path": base, "peft_type": "LORA", "r": 8}), "utf-8")
    (folder / "adapter_model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    return folder


def test_whole_gguf_and_gguf_lora(tmp_path):
    whole = resolve_output(write_small_gguf(tmp_path / "model.gguf"))
    assert (whole.kind, whole.architecture, whole.is_adapter) == ("whole", "llama", False)
    lora = resolve_output(write_small_gguf(tmp_path / "lora.gguf", general_type="adapter"))
    assert (lora.kind, lora.architecture) == ("gguf-lora", "llama")


def test_a_folder_with_one_adapter_file_uses_it(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    write_small_gguf(folder / "adapter.bin", general_type="adapter")  # llama.cpp's .bin naming
    (folder / "notes.txt").write_text("hi")
    found = resolve_output(folder)
    assert found.kind == "gguf-lora" and found.path == folder / "adapter.bin"
    assert "only .gguf/.bin" in found.note


def test_a_folder_with_several_candidates_asks_which(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    write_small_gguf(folder / "a.gguf", general_type="adapter")
    write_small_gguf(folder / "b.gguf", general_type="adapter")
    with pytest.raises(ResolveError, match="a.gguf, b.gguf") as err:
        resolve_output(folder)
    assert "Pass the file itself" in err.value.hint


def test_an_empty_or_unrelated_folder_explains_what_to_pass(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResolveError) as err:
        resolve_output(tmp_path / "empty")
    assert "If this is a llama.cpp LoRA, pass the .bin or .gguf file" in err.value.hint


def test_peft_folder_reports_its_base(tmp_path):
    found = resolve_output(_peft(tmp_path / "peft"))
    assert (found.kind, found.base_model_hint) == ("peft", "meta-llama/Llama-3.2-1B")
    (tmp_path / "peft" / "adapter_model.safetensors").unlink()
    with pytest.raises(ResolveError, match="no adapter_model"):
        resolve_output(tmp_path / "peft")


def test_legacy_ggla_is_recognised_and_explained(tmp_path):
    ggla = tmp_path / "lora.bin"
    ggla.write_bytes(struct.pack("<I", 0x67676C61) + b"\x01\x00\x00\x00" + b"\x00" * 64)
    with pytest.raises(ResolveError) as err:
        resolve_output(ggla)
    assert "legacy GGLA" in err.value.message and "2024" in err.value.hint


def test_other_files_and_missing_paths(tmp_path):
    other = tmp_path / "weights.bin"
    other.write_bytes(b"PK\x03\x04 not a gguf")
    with pytest.raises(ResolveError, match="neither a GGUF"):
        resolve_output(other)
    with pytest.raises(ResolveError, match="does not exist"):
        resolve_output(tmp_path / "nothing")


def test_adapter_architecture_must_match_the_base(tmp_path):
    lora = resolve_output(write_small_gguf(tmp_path / "lora.gguf", "qwen2", "adapter"))
    base = write_small_gguf(tmp_path / "base.gguf", "llama")
    with pytest.raises(ResolveError, match="for a qwen2 model, but the base is a llama"):
        check_adapter_matches(lora, base)
    with pytest.raises(ResolveError, match="itself an adapter"):
        check_adapter_matches(lora, tmp_path / "lora.gguf")
    check_adapter_matches(resolve_output(write_small_gguf(tmp_path / "l2.gguf", "llama", "adapter")),
                          base)


def test_routes(tmp_path):
    whole = resolve_output(write_small_gguf(tmp_path / "m.gguf"))
    lora = resolve_output(write_small_gguf(tmp_path / "l.gguf", general_type="adapter"))
    peft = resolve_output(_peft(tmp_path / "peft"))
    assert choose_route(whole, "0.35.0", False)[0] == "from-file"
    assert choose_route(lora, "0.35.0", False)[0] == "merge"  # default everywhere
    assert choose_route(lora, "0.29.0", False)[0] == "merge"
    # A GGUF LoRA as ADAPTER, when asked for: servers from 0.30 run it (0.34.1 still takes it).
    assert choose_route(lora, "0.35.0", True)[0] == "adapter"
    assert choose_route(lora, "0.30.0", True)[0] == "adapter"
    route, why = choose_route(lora, "0.29.3", True)
    assert route == "merge" and "older than 0.30" in why
    assert choose_route(lora, None, True)[0] == "merge"  # Ollama down: merge, works everywhere
    assert choose_route(peft, "0.34.0", False, "llama")[0] == "adapter"
    with pytest.raises(ResolveError, match="0.34.1") as err:
        choose_route(peft, "0.34.1", False, "llama")
    # the exact command: the converter (from the pinned fork), what it needs, where it writes
    hint = err.value.hint
    assert "convert_lora_to_gguf.py" in hint and "pip install torch transformers" in hint
    assert f"--outfile {tmp_path / 'peft.gguf'} " in hint and hint.endswith(str(tmp_path / "peft"))
    with pytest.raises(ResolveError, match="llama and gemma2, not 'qwen2'"):
        choose_route(peft, "0.34.0", False, "qwen2")
