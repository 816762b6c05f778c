"""A name Ollama would refuse stops train-run before any work, with or without --no-create."""

from __future__ import annotations

import pytest

from forge_gui.cli import main


@pytest.mark.parametrize("extra", [[], ["--no-create"]])
def test_train_run_refuses_a_bad_model_name_before_any_work(tmp_path, capsys, extra):
    data = tmp_path / "d.jsonl"
    data.write_text('{"instruction": "Hi", "output": "Hello"}\n')
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF")
    workdir = tmp_path / "run"
    code = main(["train-run", "--data", str(data), "--base-gguf", str(base), "--name", "my model",
                 "--workdir", str(workdir), *extra])
    assert code == 2
    assert "cannot be an Ollama model name" in capsys.readouterr().err
    assert not workdir.exists()


def test_retrain_with_a_missing_base_file_is_a_usage_error(tmp_path, capsys):
    """`--base` names a file that is not there: core's name rule says why, exit 2, no trace."""
    from forge_gui.cli import main

    adapter = tmp_path / "adapter.gguf"
    adapter.write_bytes(b"GGUF")
    code = main(["retrain", "--adapter", str(adapter), "--base", str(tmp_path / "gone.gguf"),
                 "--name", "fine"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot be an Ollama model name" in err and "Traceback" not in err
