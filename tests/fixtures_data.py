"""Fixtures for the data tests: writing small data files and reading back issues."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

NOBODY = 65534


def forge_cli_as_nobody(argv: list[str], cwd: Path,
                        warm_up: list[str]) -> subprocess.CompletedProcess:
    """forge-cli `argv` as the user nobody. Forge is imported as root and `warm_up` run first
    (it loads the command's lazy imports): the checkout may sit where only root can enter, as
    under mktemp -d, and nobody could not import it from there. Skips unless run as root."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run forge-cli as another user (a non-root test user "
                    "cannot be made here)")
    code = ("import contextlib, io, json, os, sys, forge_gui.cli as c\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "    c.main(json.loads(sys.argv[1]))\n"
            f"os.setgroups([]); os.setgid({NOBODY}); os.setuid({NOBODY})\n"
            "sys.exit(c.main(json.loads(sys.argv[2])))\n")
    env = {**os.environ, "HOME": str(cwd), "FORGE_DATA_DIR": str(cwd / "forge-data"),
           "FORGE_CONFIG_DIR": str(cwd / "forge-config")}
    return subprocess.run([sys.executable, "-c", code, json.dumps(warm_up), json.dumps(argv)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def jl(*records) -> bytes:
    """JSONL bytes: dicts/lists are dumped, bytes and str are taken as they are."""
    lines = []
    for rec in records:
        if isinstance(rec, bytes):
            lines.append(rec)
        elif isinstance(rec, str):
            lines.append(rec.encode("utf-8"))
        else:
            lines.append(json.dumps(rec, ensure_ascii=False).encode("utf-8"))
    return b"\n".join(lines) + b"\n"


def alpaca(i: int = 0, **extra) -> dict:
    return {"instruction": f"Question {i}?", "output": f"Answer {i}.", **extra}


def chat(*pairs: tuple[str, str], system: str | None = None) -> dict:
    messages = [{"role": "system", "content": system}] if system else []
    for user, assistant in pairs:
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return {"messages": messages}


def issues(items) -> list[tuple[str, int, str]]:
    """(file name, line, code) of each issue, file given relative to its folder."""
    return [(Path(i.file).name if i.file else "", i.line, i.code) for i in items]


@pytest.fixture
def write(tmp_path):
    """write("a.jsonl", bytes) -> the path, under tmp_path/data."""
    root = tmp_path / "data"

    def _write(name: str, content: bytes) -> Path:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return path

    _write.root = root
    return _write
