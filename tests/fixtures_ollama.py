"""Fixtures for the ollama tests: the Ollama test double, and a private sha256 cache."""

from __future__ import annotations

import pytest
from ollama_double import OllamaDouble


@pytest.fixture(autouse=True)
def _private_hash_cache(tmp_path_factory, monkeypatch):
    """Each test starts with an empty sha256 cache (the real one is in the user's cache dir)."""
    from forge_gui.core.ollama import hashing

    path = tmp_path_factory.mktemp("hashcache") / "sha256-cache.json"
    monkeypatch.setattr(hashing, "cache_file", lambda: path)


def _start(tmp_path_factory, monkeypatch, mode: str, render=None):
    double = OllamaDouble(tmp_path_factory.mktemp("ollama-store"), mode=mode, render=render)
    monkeypatch.setenv("OLLAMA_HOST", double.url)
    return double


@pytest.fixture
def ollama(tmp_path_factory, monkeypatch, go_template):
    """A current Ollama (0.34.1: ADAPTER refused) at OLLAMA_HOST, rendering with Go."""
    double = _start(tmp_path_factory, monkeypatch, "current", go_template)
    yield double
    double.stop()


@pytest.fixture
def ollama_legacy(tmp_path_factory, monkeypatch, go_template):
    """An Ollama older than 0.34.1 (0.34.0: ADAPTER accepted) at OLLAMA_HOST."""
    double = _start(tmp_path_factory, monkeypatch, "legacy", go_template)
    yield double
    double.stop()


@pytest.fixture
def ollama_down(tmp_path_factory, monkeypatch):
    """OLLAMA_HOST points at a port where nothing listens (Ollama not running)."""
    double = _start(tmp_path_factory, monkeypatch, "current")
    double.stop()
    yield double


def write_small_gguf(path, arch: str = "llama", general_type: str = "model", dtype: str = "f32"):
    """A GGUF with one tensor, no vocabulary: enough for type, architecture and weight-type
    detection, and written (and read) in milliseconds, unlike a model with a tokenizer."""
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(path, arch)
    if general_type == "adapter":
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    data = np.linspace(-1, 1, 4 * 32, dtype=np.float32).reshape(4, 32)
    if dtype == "q8_0":
        quant = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
        writer.add_tensor("blk.0.attn_q.weight", quant, raw_shape=quant.shape,
                          raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    else:
        writer.add_file_type(gguf.LlamaFileType.ALL_F32)
        writer.add_tensor("blk.0.attn_q.weight", data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def add_to_store(models_dir, name: str, gguf_path, *, with_blob: bool = True):
    """Lay a model out the way Ollama does: manifests/<host>/<ns>/<model>/<tag> -> blobs/."""
    import hashlib
    import json
    import shutil

    import ollama_names_rules

    n = ollama_names_rules.parse(name)  # Ollama's own rules, not Forge's
    digest = "sha256:" + hashlib.sha256(gguf_path.read_bytes()).hexdigest()
    blobs = models_dir / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    if with_blob:
        shutil.copyfile(gguf_path, blobs / digest.replace(":", "-"))
    manifest = models_dir / "manifests" / n.host / n.namespace / n.model / n.tag
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": "sha256:" + "c" * 64, "size": 10},
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": digest,
             "size": gguf_path.stat().st_size},
            {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "d" * 64,
             "size": 5}]}), "utf-8")
    return blobs / digest.replace(":", "-")



@pytest.fixture(scope="session")
def tiny_models(tiny_gguf):
    """The old name of fixtures_llama's tiny_gguf (other areas' tests still use it)."""
    return tiny_gguf


@pytest.fixture(scope="session")
def go_template(tmp_path_factory):
    """render(template, messages, system="") with real Go text/template."""
    import functools

    import gorender

    binary = gorender.build(tmp_path_factory.mktemp("go"))
    return functools.partial(gorender.render, binary)
