"""Big files scanned by worker processes that spawn (macOS, Windows) rather than fork.

A spawned worker starts a fresh interpreter with its own string-hash salt, so whatever the
parent compares across workers must be the same in every process: the duplicate check's
record digest above all.
"""

from __future__ import annotations

import multiprocessing
import re

import pytest
from fixtures_data import alpaca, chat, jl

from forge_gui.core.data import ValidationOptions, parallel, prepare_training_data, validate_paths

CHUNK = 4096


@pytest.fixture
def spawned(monkeypatch):
    """Small chunks (a file of a few dozen KB goes to several workers) and a record of the
    start methods the pools used; spawned workers get a random hash salt each."""
    monkeypatch.setattr(parallel, "CHUNK_BYTES", CHUNK)
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    methods = []
    get_context = multiprocessing.get_context

    def recording(method=None):
        methods.append(method)
        return get_context(method)

    monkeypatch.setattr(multiprocessing, "get_context", recording)
    return methods


def _chunk_of(data: bytes, starts: list[int]) -> dict[int, int]:
    """line number -> index of the chunk it is read in."""
    chunk_of, offset = {}, 0
    for line, raw in enumerate(data.splitlines(keepends=True), 1):
        chunk_of[line] = sum(1 for s in starts if s <= offset) - 1
        offset += len(raw)
    return chunk_of


def test_spawned_workers_find_duplicates_across_chunks(write, spawned):
    originals = [alpaca(i) if i % 3 else chat((f"q{i}", f"a{i}"), system=f"s{i}")
                 for i in range(400)]
    copies = {}  # line of a copy -> line of its original
    lines = list(originals)
    for i in range(0, 400, 9):
        copy = dict(originals[i])
        if i % 2:  # an unused key: the copy takes the precise path, the original the fast one
            copy["source"] = "web"
        lines.append(copy)
        copies[len(lines)] = i + 1
    data = jl(*lines)
    src = write("big.jsonl", data)
    options = ValidationOptions(workers=2, start_method="spawn")
    assert parallel.worth_it(src, options)
    starts = parallel.chunk_starts(src, len(data), CHUNK)
    chunk_of = _chunk_of(data, starts)
    assert len(starts) >= 6  # more chunks than workers: each worker reads several
    assert all(chunk_of[copy] != chunk_of[first] for copy, first in copies.items())

    report = validate_paths([src], options)

    assert spawned == ["spawn"]
    found = {w.line: int(re.search(r"as line (\d+)", w.message).group(1))
             for w in report.warnings if w.code == "duplicate"}
    assert found == copies
    assert report.stats.duplicates == len(copies) == report.warning_counts["duplicate"]
    assert report.valid == len(lines) and report.invalid == 0
    serial = validate_paths([src], ValidationOptions(workers=1))
    assert report.model_dump() == serial.model_dump()


def test_a_record_read_here_and_its_copy_read_by_a_worker_are_duplicates(write, spawned):
    small = write("a-small.jsonl", jl(alpaca(7), chat(("hello", "hi"))))
    big = write("b-big.jsonl", jl(*[alpaca(i + 1000) for i in range(300)], chat(("hello", "hi")),
                                  *[alpaca(i + 2000) for i in range(300)], alpaca(7)))
    options = ValidationOptions(workers=2, start_method="spawn")
    assert not parallel.worth_it(small, options) and parallel.worth_it(big, options)

    report = validate_paths([small, big], options)

    assert spawned == ["spawn"]
    assert [(w.line, w.message) for w in report.warnings if w.code == "duplicate"] == [
        (301, f"The record is the same conversation as line 2 of {small}."),
        (602, f"The record is the same conversation as line 1 of {small}.")]


def test_spawned_workers_prepare_the_same_text(write, tmp_path, spawned):
    records = [alpaca(i % 150, input="ctx" if i % 4 else None) if i % 3
               else chat((f"q{i}", "a"), (f"q{i}b", "b")) for i in range(600)]
    src = write("big.jsonl", jl(*records))
    texts = []
    for options in (ValidationOptions(workers=2, start_method="spawn"), ValidationOptions()):
        out = tmp_path / f"{options.workers}.txt"
        result = prepare_training_data([src], out, options=options)
        texts.append((out.read_text("utf-8"), result.samples,
                      result.report.warning_counts.get("duplicate")))
    assert spawned == ["spawn"]
    assert texts[0] == texts[1]
    assert texts[0][1] == 600 and texts[0][2] > 100
