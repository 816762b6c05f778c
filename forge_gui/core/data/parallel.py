"""Validate one big JSONL file with several processes (validation only, not prepare).

The file is cut into chunks at line starts; each worker scans its chunks with its own
Scanner and sends back a partial report with chunk-relative line numbers, plus the hashes of
its valid records. The parent merges the chunks in file order, shifting line numbers, and
runs the duplicate check itself, so the report is the same as a single-process scan.
Workers are forked (the record hash must match across processes), so this runs only where
fork exists and only when options.workers > 1.
"""

from __future__ import annotations

import multiprocessing
import os
from array import array
from pathlib import Path

CHUNK_BYTES = 16 * 1024 * 1024


def worth_it(path: Path, options) -> bool:
    if options.workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return False
    try:
        return path.stat().st_size >= 2 * CHUNK_BYTES
    except OSError:
        return False


def chunk_starts(path: Path, size: int) -> list[int]:
    """Offsets of the first line starting at or after each multiple of CHUNK_BYTES."""
    starts = [0]
    with open(path, "rb") as fh:
        for offset in range(CHUNK_BYTES, size, CHUNK_BYTES):
            if offset <= starts[-1]:
                continue
            fh.seek(offset - 1)
            while True:  # find the end of the line under `offset`, 1 MB at a time
                piece = fh.read(1 << 20)
                newline = piece.find(b"\n")
                if newline >= 0:
                    start = fh.tell() - len(piece) + newline + 1
                    break
                if not piece:
                    start = size
                    break
            if start < size and start > starts[-1]:
                starts.append(start)
    return starts


def _scan_chunk(task: tuple) -> dict:
    from forge_gui.core.data.models import ValidationOptions
    from forge_gui.core.data.scan import READ_BUFFER, Scanner, _FileCounts

    path, index, start, stop, options = task
    scanner = Scanner([], ValidationOptions.model_validate(options))
    scanner.files = [Path(path)] * (index + 1)  # the worker sees the file at its index
    scanner.collect = (array("q"), array("q"))
    counts = _FileCounts()
    with open(path, "rb", buffering=READ_BUFFER) as fh:
        fh.seek(start)
        for _ in scanner._read_lines(fh, path, index, counts, stop_at=stop):
            pass
    return {
        "lines": scanner.lines_read, "records": counts.records, "valid": counts.valid,
        "invalid": counts.invalid, "errors": scanner._errors, "warnings": scanner._warnings,
        "error_counts": scanner._error_counts, "warning_counts": scanner._warning_counts,
        "omitted": scanner._omitted, "schemas": scanner._schemas,
        "extra_keys": scanner._extra_keys, "formats": scanner._formats,
        "chars": scanner._chars, "turns": scanner._turns, "exchanges": scanner._exchanges,
        "rendered": scanner._rendered, "lengths": scanner._lengths, "hashes": scanner.collect[0],
        "hash_lines": scanner.collect[1], "bytes": scanner.done_bytes,
    }


def scan_file(scanner, path: Path, index: int, counts) -> None:
    """Scan `path` in worker processes and merge the result into `scanner`."""
    size = path.stat().st_size
    starts = chunk_starts(path, size)
    tasks = [(str(path), index, start, stop, scanner.options.model_dump())
             for start, stop in zip(starts, starts[1:] + [size])]
    workers = min(scanner.options.workers, len(tasks), os.cpu_count() or 1)
    offset = 0
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for part in pool.imap(_scan_chunk, tasks):
            if scanner.cancel is not None and scanner.cancel.cancelled:
                pool.terminate()
            _merge(scanner, part, str(path), index, offset, counts)
            offset += part["lines"]
            scanner._tick(part["bytes"])


def _shift(issue: tuple, offset: int) -> tuple:
    file, line, code, message = issue
    return (file, line + offset if line else 0, code, message)


def _merge(scanner, part: dict, name: str, index: int, offset: int, counts) -> None:
    counts.records += part["records"]
    counts.valid += part["valid"]
    counts.invalid += part["invalid"]
    scanner.valid += part["valid"]
    scanner.invalid += part["invalid"]
    for issue in part["errors"]:
        scanner._store("error", _shift(issue, offset))
    for issue in part["warnings"]:
        scanner._store("warning", _shift(issue, offset))
    scanner._error_counts.update(part["error_counts"])
    scanner._warning_counts.update(part["warning_counts"])
    scanner._omitted.update(part["omitted"])
    for keys, (file, line, count, sample) in part["schemas"].items():
        known = scanner._schemas.get(keys)
        if known is not None:
            known[2] += count
        else:
            scanner._schemas[keys] = [file, line + offset, count, sample]
    for key, (line, count) in part["extra_keys"].items():
        known = scanner._extra_keys.get(key)
        if known is not None:
            known[1] += count
        else:
            scanner._extra_keys[key] = [line + offset, count]
    scanner._formats.update(part["formats"])
    for i, n in enumerate(part["chars"]):
        scanner._chars[i] += n
    scanner._turns += part["turns"]
    scanner._exchanges += part["exchanges"]
    scanner._rendered += part["rendered"]
    lengths = scanner._lengths
    for length, n in part["lengths"].items():
        lengths[length] = lengths.get(length, 0) + n
    check = scanner._duplicate_check
    for key, line in zip(part["hashes"], part["hash_lines"]):
        check(key, name, index, line + offset, "The record")
    scanner._tick(0)
    if scanner.cancel is not None:
        scanner.cancel.raise_if_cancelled()

