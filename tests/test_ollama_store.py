"""Base discovery in a local store laid out as Ollama lays it out (manifests and blobs)."""

from __future__ import annotations

import json

import pytest
from fixtures_ollama import add_to_store, write_small_gguf

from forge_gui.cli import main
from forge_gui.core.ollama.store import BaseModelMissing, inspect_base, resolve_base_gguf, store_dirs


@pytest.fixture
def small(tmp_path):
    return {"f32": write_small_gguf(tmp_path / "f32.gguf"),
            "q8_0": write_small_gguf(tmp_path / "q8.gguf", dtype="q8_0")}


@pytest.fixture
def store(tmp_path, small, monkeypatch):
    models = tmp_path / "ollama models"
    monkeypatch.setenv("OLLAMA_MODELS", str(models))
    add_to_store(models, "tiny:q8", small["q8_0"])
    add_to_store(models, "me/tiny:f32", small["f32"])
    add_to_store(models, "hf.co/someone/tiny-gguf:latest", small["f32"])
    return models


def test_names_with_defaults_namespaces_and_other_hosts(store, small):
    assert resolve_base_gguf("tiny:q8").read_bytes() == small["q8_0"].read_bytes()
    assert resolve_base_gguf("registry.ollama.ai/library/tiny:q8") == resolve_base_gguf("tiny:q8")
    assert resolve_base_gguf("me/tiny:f32").read_bytes() == small["f32"].read_bytes()
    assert resolve_base_gguf("hf.co/someone/tiny-gguf").parent == store / "blobs"


def test_ollama_models_comes_first_then_the_os_defaults(store):
    dirs = store_dirs()
    assert dirs[0] == store
    assert any(str(d).endswith(".ollama/models") for d in dirs[1:])


def test_missing_manifest_and_missing_blob_say_what_to_do(tmp_path, small):
    models = tmp_path / "models"
    add_to_store(models, "gone:1b", small["q8_0"], with_blob=False)
    with pytest.raises(BaseModelMissing) as err:
        resolve_base_gguf("absent:7b", models)
    assert "ollama pull absent:7b" in err.value.hint
    with pytest.raises(BaseModelMissing) as err:
        resolve_base_gguf("gone:1b", models)
    assert "is missing" in err.value.message and "ollama pull gone:1b" in err.value.hint


def test_inspect_reports_what_can_be_trained(store):
    f32 = inspect_base("me/tiny:f32")
    assert (f32.architecture, f32.trainability, f32.unquantized_hint) == ("llama", "ready", None)
    q8 = inspect_base("tiny:q8")
    assert q8.trainability == "quantized" and q8.file_type == "MOSTLY_Q8_0"
    assert "ollama pull tiny:fp16" in q8.unquantized_hint


def test_train_resolve_base_command(store, capsys):
    assert main(["train-resolve-base", "me/tiny:f32"]) == 0
    out = capsys.readouterr().out
    assert "Architecture: llama" in out and "llama-finetune can train it" in out
    assert main(["train-resolve-base", "tiny:q8", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trainability"] == "quantized" and report["gguf"].startswith(str(store))
    assert main(["train-resolve-base", "nothing:here"]) == 1
    assert "ollama pull nothing:here" in capsys.readouterr().err
    assert main(["train-resolve-base", "bad name"]) == 2
