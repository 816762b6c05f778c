"""Small things a user of forge-cli notices: the created model's line with --json, sizes of
small files, and doctor while a build is going."""

from __future__ import annotations

import json

from fixtures_data import alpaca, jl
from fixtures_ollama import write_small_gguf

from forge_gui.cli import main
from forge_gui.core.data import validate_paths
from forge_gui.core.llamacpp import build


def test_retrain_json_keeps_the_created_line_on_stderr(ollama, tmp_path, capsys):
    gguf = write_small_gguf(tmp_path / "m.gguf")
    code = main(["retrain", "--adapter", str(gguf), "--name", "quiet", "--json",
                 "--workdir", str(tmp_path / "run")])
    out, err = capsys.readouterr()
    assert code == 0
    assert json.loads(out)["model"] == "quiet"  # stdout is the JSON alone
    assert "Created model 'quiet'. Run: ollama run quiet" in err
    assert "First answer: Hello from quiet" in err


def test_train_run_json_keeps_the_created_line_on_stderr(ollama, llama_tools, tiny_gguf,
                                                         colour_data, tmp_path, capsys):
    code = main(["train-run", "--data", str(colour_data), "--base-gguf", str(tiny_gguf["f32"]),
                 "--name", "colours", "--epochs", "1", "--lr", "1e-3", "--ctx", "256",
                 "--val-split", "0", "--workdir", str(tmp_path / "run"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    assert json.loads(out.strip().splitlines()[-1])["model"] == "colours"
    assert "Created model 'colours'. Run: ollama run colours" in err
    assert "Read 0 MB" not in err and f"Read {colour_data.stat().st_size / 1e3:.1f} KB" in err


def test_small_files_are_not_read_as_0_mb(write):
    src = write("a.jsonl", jl(*(alpaca(i) for i in range(12))))
    assert src.stat().st_size < 1000
    messages = []
    validate_paths([src], progress=lambda event: messages.append(event.message))
    assert messages[-1] == f"Read {src.stat().st_size} bytes"
    assert not any("0 MB" in (m or "") for m in messages)


def test_doctor_says_a_build_is_in_progress(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    root = build.tools_cache_root()
    root.mkdir(parents=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    main(["doctor", "--tools-dir", str(empty)])
    assert "MISSING" in capsys.readouterr().out  # nothing built, nothing building
    with build._build_lock(root / "build-cpu.lock"):  # as setup-llama-cpp holds it
        code = main(["doctor", "--tools-dir", str(empty)])
        out = capsys.readouterr().out
        assert "MISSING" not in out and "being built" in out
        assert "A build of the llama.cpp tools is in progress" in out
        assert code == 1
        main(["doctor", "--tools-dir", str(empty), "--json"])
        assert json.loads(capsys.readouterr().out)["llama_cpp"]["building"] is True
