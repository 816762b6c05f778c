"""Fixtures for the data tests: writing small data files and reading back issues."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


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
