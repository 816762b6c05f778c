"""forge-cli writes a session log in the log folder; -v says more on stderr; a bug is one
sentence on stderr with the traceback in the log (core/base/logs.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FORGE_LOG_DIR": str(tmp_path / "logs"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "forge_gui.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_usage_error_is_in_the_session_log(tmp_path):
    done = _cli(tmp_path, "train-run", "--data", str(tmp_path / "nope.jsonl"), "--name", "x",
                "--base", "y")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    logs = list((tmp_path / "logs").glob("forge-cli-*.log"))
    assert len(logs) == 1
    text = logs[0].read_text("utf-8")
    assert "train-run --data" in text and "does not exist" in text


def test_verbose_logs_info_on_stderr(tmp_path):
    quiet = _cli(tmp_path, "train-run", "--name", "x")
    loud = _cli(tmp_path, "-v", "train-run", "--name", "x")
    assert "forge-cli session started" not in quiet.stderr
    assert "forge-cli session started" in loud.stderr


def test_a_bug_is_one_sentence_and_the_traceback_is_in_the_log(tmp_path, monkeypatch, capsys):
    from forge_gui import cli
    from forge_gui.commands import tools
    from forge_gui.core.base import logs

    def broken(args):
        raise KeyError("a bug in a command")

    monkeypatch.setenv("FORGE_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(tools, "doctor", broken)
    path = logs.setup_logging("forge-cli", force=True)
    try:
        assert cli.main(["doctor"]) == 1
    finally:
        logs.shutdown_logging()
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" in err and str(path) in err
    text = path.read_text("utf-8")
    assert "Traceback" in text and "a bug in a command" in text and "in broken" in text
