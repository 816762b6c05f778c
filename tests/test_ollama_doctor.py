"""What `forge-cli doctor` learns about Ollama: where, which version, what it accepts, the store."""

from __future__ import annotations

from forge_gui.core.ollama.doctor import ollama_status


def test_current_server(ollama, tmp_path, monkeypatch):
    (tmp_path / "models" / "manifests").mkdir(parents=True)
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "models"))
    ollama.add_model("base:1b")
    status = ollama_status()
    assert (status.reachable, status.version, status.accepts_adapters, status.models) == \
        (True, "0.34.1", False, 1)
    text = "\n".join(status.lines())
    assert ollama.url in text and "ADAPTER is not accepted" in text
    assert f"Model store:  {tmp_path / 'models'}" in text


def test_older_server_accepts_adapters(ollama_legacy):
    status = ollama_status(ollama_legacy.url)
    assert status.accepts_adapters is True
    assert "ADAPTER also accepted" in "\n".join(status.lines())


def test_server_down(ollama_down, tmp_path, monkeypatch):
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "nothing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    status = ollama_status()
    assert not status.reachable and status.version is None
    text = "\n".join(status.lines())
    assert f"not reachable at {ollama_down.url}" in text and "ollama serve" in text
    if not any((d / "manifests").is_dir() for d in status.store_candidates):
        assert "Model store:  none found (looked in " + str(tmp_path / "nothing") in text


def test_server_too_old_for_registration(ollama):
    ollama.version_override = "0.5.1"
    assert "older than 0.5.5" in "\n".join(ollama_status().lines())
