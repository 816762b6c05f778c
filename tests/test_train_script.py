"""`forge-cli train --write-script`: a bash script that survives hostile names and really runs."""

from __future__ import annotations

import shutil
import subprocess

from fixtures_llama import write_colour_dataset

from forge_gui.cli import main
from forge_gui.core.llamacpp.gguf_info import inspect_gguf

HOSTILE = "it's a \"test\" $(touch PWNED) `touch PWNED2` ; rm -rf ~ & $HOME"


def test_script_quotes_everything_and_does_the_same_run(llama_tools, tiny_gguf, tmp_path,
                                                        monkeypatch, capsys):
    folder = tmp_path / HOSTILE
    folder.mkdir()
    data = write_colour_dataset(folder / f"data {HOSTILE}.jsonl", records=40)
    base = folder / f"base {HOSTILE}.gguf"
    shutil.copy2(tiny_gguf["f16"], base)  # F16: the script must convert it first
    out_dir = tmp_path / f"out {HOSTILE}"
    script = tmp_path / "train.sh"
    monkeypatch.chdir(tmp_path)

    assert main(["train", "--data", str(data), "--base-gguf", str(base), "--name", "tiny-script",
                 "--method", "full", "--epochs", "1", "--lr", "1e-3", "--ctx", "256", "--quantize", "Q8_0",
                 "--system", HOSTILE, "--workdir", str(out_dir), "--no-create",
                 "--write-script", str(script)]) == 0
    text = script.read_text()
    assert not out_dir.exists(), "--write-script must not run anything"
    assert text.startswith("#!/usr/bin/env bash\n# Forge training run")
    assert "set -euo pipefail" in text and "|| true" not in text
    header = text.split("set -euo pipefail")[0]
    assert "# Name:" in header and "tiny-script" in header and "# Outputs:" in header
    assert [line for line in text.splitlines() if line.startswith("BASE_GGUF=")]
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0

    done = subprocess.run(["bash", str(script)], cwd=tmp_path, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")[-3000:]
    assert not list(tmp_path.rglob("PWNED*")), "a name was run as a command"
    # the hostile paths came through: data prepared, base converted and trained, outputs there
    assert (out_dir / "train.txt").read_text().count("### Instruction:") == 40
    assert inspect_gguf(out_dir / "base-f32.gguf").tensor_types == {"F32": 21}
    out = inspect_gguf(out_dir / "model-Q8_0.gguf")
    assert out.file_type == "MOSTLY_Q8_0" and out.context_length == 1024  # the base's
    modelfile = (out_dir / "Modelfile").read_text()
    assert "FROM ./model-Q8_0.gguf" in modelfile and HOSTILE in modelfile
    assert b"ollama create" in done.stdout


def test_script_refuses_to_overwrite_a_file(tiny_gguf, colour_data, tmp_path, capsys):
    script = tmp_path / "mine.sh"
    script.write_text("echo keep me\n")
    assert main(["train", "--data", str(colour_data), "--base-gguf", str(tiny_gguf["f32"]),
                 "--name", "x", "--write-script", str(script)]) == 2
    assert script.read_text() == "echo keep me\n"
    assert "already exists" in capsys.readouterr().err
