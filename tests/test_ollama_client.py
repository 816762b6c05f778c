"""The Ollama client against the test double: API, blobs, streaming, and every failure."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from forge_gui.core.ollama import hashing
from forge_gui.core.ollama.client import (
    ModelNotFound,
    OllamaClient,
    OllamaError,
    OllamaHTTPError,
    OllamaNotReachable,
    accepts_adapters,
    base_url,
    parse_show_parameters,
)


@pytest.mark.parametrize("host, url", [
    ("", "http://127.0.0.1:11434"),
    ("example.com", "http://example.com:11434"),
    ("example.com:8080", "http://example.com:8080"),
    ("http://example.com", "http://example.com:80"),
    ("https://example.com", "https://example.com:443"),
    ("0.0.0.0", "http://127.0.0.1:11434"),
    ("0.0.0.0:9999", "http://127.0.0.1:9999"),
    ("[::1]:5000", "http://[::1]:5000"),
    ("http://proxy:9/ollama/", "http://proxy:9/ollama"),
])
def test_ollama_host_is_read_like_ollama_reads_it(host, url):
    assert base_url(host) == url


def test_ollama_host_from_the_environment(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "myserver:1234")
    assert OllamaClient().url == "http://myserver:1234"


@pytest.mark.parametrize("version, accepts", [
    ("0.34.0", True), ("0.3.14", True), ("0.34.1", False), ("0.34.1-rc0", False),
    ("0.35.2", False), ("1.0.0", False), ("0.0.0", False), ("garbage", False)])
def test_adapter_support_by_version(version, accepts):
    assert accepts_adapters(version) is accepts


def _gguf_like(path, size=300_000, fill=b"x"):
    path.write_bytes(b"GGUF" + fill * size)
    return path


def test_version_models_show_and_generate(ollama):
    ollama.add_model("base:1b", parameters={"temperature": 0.5, "stop": ["<|eot|>"]})
    with OllamaClient() as client:
        assert client.version() == "0.34.1"
        assert [m["name"] for m in client.list_models()] == ["base:1b"]
        shown = client.show("base:1b")
        assert parse_show_parameters(shown["parameters"]) == [("temperature", "0.5"),
                                                              ("stop", "<|eot|>")]
        assert client.exists("base:1b") and not client.exists("nope")
        with pytest.raises(ModelNotFound):
            client.show("nope")
        assert "base:1b" in client.generate("base:1b", "Hi")


def test_blob_upload_is_checked_and_not_repeated(ollama, tmp_path):
    blob = _gguf_like(tmp_path / "model file.gguf")
    expected = "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest()
    seen = []
    with OllamaClient() as client:
        digest, uploaded = client.push_blob(blob, progress=lambda d, t: seen.append((d, t)))
        assert (digest, uploaded) == (expected, True)
        assert ollama.blob_path(digest).read_bytes() == blob.read_bytes()
        assert seen[-1] == (blob.stat().st_size, blob.stat().st_size)
        assert client.push_blob(blob) == (expected, False)
    assert ollama.uploads == [expected]


def test_the_server_rejects_a_body_that_does_not_match_its_digest(ollama, tmp_path):
    blob = _gguf_like(tmp_path / "m.gguf")
    wrong = "sha256:" + "0" * 64
    with OllamaClient() as client, pytest.raises(OllamaError, match="does not match"):
        client.push_blob(blob, digest=wrong)
    assert not ollama.blob_path(wrong).exists()


def test_the_digest_is_cached_until_the_file_changes(tmp_path, monkeypatch):
    blob = _gguf_like(tmp_path / "m.gguf")
    calls = []
    real = hashing.hash_file
    monkeypatch.setattr(hashing, "hash_file", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = hashing.file_digest(blob)
    assert hashing.file_digest(blob) == first and len(calls) == 1
    _gguf_like(blob, fill=b"y")  # same size, new content and mtime
    import os
    st = blob.stat()
    os.utime(blob, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert hashing.file_digest(blob) != first and len(calls) == 2


def test_create_streams_progress_until_success(ollama, tmp_path):
    blob = _gguf_like(tmp_path / "m.gguf")
    events = []
    with OllamaClient() as client:
        digest, _ = client.push_blob(blob)
        client.create({"model": "me/new:v1", "files": {"m.gguf": digest}}, events.append)
        assert client.exists("me/new:v1")
    assert [e.message for e in events] == ["parsing GGUF", f"using existing layer {digest}",
                                           "writing manifest", "success"]


def test_create_refuses_unknown_blobs_and_fields(ollama):
    with OllamaClient() as client:
        with pytest.raises(OllamaHTTPError, match="no such file"):
            client.create({"model": "m", "files": {"m.gguf": "sha256:" + "1" * 64}})
        with pytest.raises(OllamaHTTPError, match="unknown fields"):
            client.create({"model": "m", "from": "x", "temperature": 1})
        with pytest.raises(OllamaHTTPError, match="invalid model name"):
            client.create({"model": "bad name", "from": "x"})


def test_current_server_takes_one_gguf_adapter_and_refuses_peft(ollama, ollama_legacy,
                                                                tmp_path):
    blob = _gguf_like(tmp_path / "lora.gguf")
    peft = tmp_path / "adapter_model.safetensors"
    peft.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    for double in (ollama, ollama_legacy):
        double.add_model("base")
        with OllamaClient(double.url) as client:
            digest, _ = client.push_blob(blob)
            client.create({"model": "tuned", "from": "base", "adapters": {"lora.gguf": digest}})
            assert client.exists("tuned")
    with OllamaClient(ollama.url) as client:  # 0.34.1+: safetensors import is gone
        digest, _ = client.push_blob(peft)
        with pytest.raises(OllamaHTTPError, match="must be in GGUF format"):
            client.create({"model": "peft", "from": "base",
                           "adapters": {"adapter_model.safetensors": digest}})


def test_error_in_the_middle_of_the_stream(ollama, tmp_path):
    blob = _gguf_like(tmp_path / "m.gguf")
    ollama.failure = "midstream"
    with OllamaClient() as client:
        digest, _ = client.push_blob(blob)
        with pytest.raises(OllamaError, match="error mid-stream"):
            client.create({"model": "m", "files": {"m.gguf": digest}})
        assert not client.exists("m")


def test_http_500_says_what_to_do(ollama):
    ollama.failure = "http500"
    with OllamaClient() as client, pytest.raises(OllamaHTTPError) as err:
        client.version()
    assert err.value.status == 500 and "restart" in err.value.hint.lower()


def test_server_down_says_how_to_start_it(ollama_down):
    with OllamaClient() as client, pytest.raises(OllamaNotReachable) as err:
        client.list_models()
    assert ollama_down.url in err.value.message and "ollama serve" in err.value.hint


def test_slow_server_times_out_with_a_message(ollama):
    import threading

    ollama.hold = threading.Event()  # the server answers nothing until it is set
    client = OllamaClient(timeout=httpx.Timeout(0.2, connect=1.0))
    with client, pytest.raises(OllamaError, match="did not answer in time"):
        client.version()
    ollama.hold.set()
    with OllamaClient() as patient:
        assert patient.version() == "0.34.1"
