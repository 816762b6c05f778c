"""A model is never replaced silently: names are compared as Ollama compares them (case
folded, ollama#7676) before any work starts, and one run per name at a time."""

from __future__ import annotations

import subprocess
import sys
import threading

from fixtures_ollama import write_small_gguf

from forge_gui.cli import main

CLI = [sys.executable, "-c", "import sys; from forge_gui.cli import main; sys.exit(main())"]


def test_retrain_refuses_a_name_that_differs_only_in_case(ollama, tmp_path, capsys):
    ollama.add_model("llama3.2:1b")
    gguf = write_small_gguf(tmp_path / "m.gguf")
    code = main(["retrain", "--adapter", str(gguf), "--name", "LLAMA3.2:1B",
                 "--workdir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2
    assert "A model named 'LLAMA3.2:1B' already exists in Ollama as 'llama3.2:1b'" in err
    assert "--force" in err and not (tmp_path / "run").exists()
    assert ollama.models["llama3.2:1b"]["files"] == {}  # untouched
    assert ("POST", "/api/create") not in ollama.requests


def test_train_run_refuses_a_taken_name_before_any_work(ollama, tmp_path, capsys, tiny_gguf,
                                                        colour_data):
    ollama.add_model("Colours:latest")
    code = main(["train-run", "--data", str(colour_data), "--base-gguf", str(tiny_gguf["f32"]),
                 "--name", "colours", "--workdir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "already exists in Ollama as 'Colours:latest'" in err
    assert not (tmp_path / "run").exists()  # nothing validated, prepared or trained


def test_two_runs_with_one_name_at_once_the_second_is_told_why(ollama, tmp_path):
    ollama.hold_create = threading.Event()  # the first run holds the name until it is set
    gguf = write_small_gguf(tmp_path / "m.gguf")
    first = subprocess.Popen([*CLI, "retrain", "--adapter", str(gguf), "--name", "shared",
                              "--workdir", str(tmp_path / "run1")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert ollama.create_arrived.wait(60), "the first run never asked Ollama to create"
        second = subprocess.run([*CLI, "retrain", "--adapter", str(gguf), "--name", "SHARED",
                                 "--workdir", str(tmp_path / "run2")],
                                capture_output=True, text=True, timeout=120)
        ollama.hold_create.set()
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    assert "Created model 'shared'" in out
    assert second.returncode == 1
    assert f"Another Forge run is creating the model 'SHARED' right now (process {first.pid})" \
        in second.stderr
    assert "Created model" not in second.stdout and not (tmp_path / "run2").exists()
    assert list(ollama.models) == ["shared:latest"]


def test_the_name_is_free_again_once_a_run_has_ended(ollama, tmp_path, capsys):
    gguf = write_small_gguf(tmp_path / "m.gguf")
    argv = ["retrain", "--adapter", str(gguf), "--name", "again"]
    assert main(argv + ["--workdir", str(tmp_path / "run1")]) == 0
    assert main(argv + ["--force", "--workdir", str(tmp_path / "run2")]) == 0
    assert "Another Forge run" not in capsys.readouterr().err
