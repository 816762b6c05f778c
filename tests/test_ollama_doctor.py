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


import pytest  # noqa: E402
from fixtures_ollama import write_small_gguf  # noqa: E402

from forge_gui.cli import main  # noqa: E402

BAD_HOSTS = [("http://a:b:c", "more than one ':'"), ("127.0.0.1\n:11434", "a line break"),
             ("[::1", "brackets"), ("ftp://x", "scheme 'ftp'")]


@pytest.mark.parametrize("host, why", BAD_HOSTS)
def test_doctor_says_what_is_wrong_with_a_malformed_ollama_host(host, why, monkeypatch, capsys):
    monkeypatch.setenv("OLLAMA_HOST", host)
    main(["doctor"])
    out, err = capsys.readouterr()
    assert f"Ollama:       OLLAMA_HOST is {host!r}, which is not a server address" in out
    assert why in out and "Traceback" not in out + err


@pytest.mark.parametrize("host, why", BAD_HOSTS)
def test_retrain_refuses_a_malformed_ollama_host_before_any_work(host, why, monkeypatch,
                                                                  capsys, tmp_path):
    monkeypatch.setenv("OLLAMA_HOST", host)
    gguf = write_small_gguf(tmp_path / "m.gguf")
    code = main(["retrain", "--adapter", str(gguf), "--name", "x", "--workdir",
                 str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and f"OLLAMA_HOST is {host!r}" in err and why in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()
