"""Scan one big JSONL file with several processes (validation, and prepare's rendering).

The file is cut into chunks at line starts; each worker scans its chunks with its own
Scanner and sends back a partial report with chunk-relative line numbers, plus the hashes of
its valid records (and, for prepare, their training text). The parent merges the chunks in
file order, shifting line numbers, and runs the duplicate check itself, so the report is the
same as a single-process scan. Only a few chunks are in flight at once, so memory stays flat
however big the file. Workers are forked (the record hash must match across processes), so
this runs only where fork exists and only when options.workers > 1.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from array import array
from collections import deque
from collections.abc import Iterator
from pathlib import Path

CHUNK_BYTES = 16 * 1024 * 1024
RENDER_CHUNK_BYTES = 2 * 1024 * 1024  # prepare: a chunk's text is held twice in a worker


def worth_it(path: Path, options) -> bool:
    if options.workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return False
    try:
        return path.stat().st_size >= 2 * CHUNK_BYTES
    except OSError:
        return False


def chunk_starts(path: Path, size: int, chunk: int | None = None) -> list[int]:
    """Offsets of the first line starting at or after each multiple of `chunk` bytes."""
    chunk = chunk or CHUNK_BYTES
    starts = [0]
    with open(path, "rb") as fh:
        for offset in range(chunk, size, chunk):
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

    path, index, start, stop, options, render, sizes = task
    scanner = Scanner([], ValidationOptions.model_validate(options))
    scanner.files = [Path(path)] * (index + 1)  # the worker sees the file at its index
    scanner.collect = (array("q"), array("q"))
    counts = _FileCounts()
    block = None
    with open(path, "rb", buffering=READ_BUFFER) as fh:
        fh.seek(start)
        records = scanner._read_lines(fh, path, index, counts, stop_at=stop)
        if render:
            from forge_gui.core.data.render import encode_block, render_turns
            block = encode_block([render_turns(turns) for _file, _line, turns in records], sizes)
        else:
            for _ in records:
                pass
    return {
        "block": block,
        "lines": scanner.lines_read, "records": counts.records, "valid": counts.valid,
        "invalid": counts.invalid, "errors": scanner._errors, "warnings": scanner._warnings,
        "error_counts": scanner._error_counts, "warning_counts": scanner._warning_counts,
        "omitted": scanner._omitted, "schemas": scanner._schemas,
        "extra_keys": scanner._extra_keys, "formats": scanner._formats,
        "chars": scanner._chars, "turns": scanner._turns, "exchanges": scanner._exchanges,
        "rendered": scanner._rendered, "lengths": scanner._lengths, "hashes": scanner.collect[0],
        "hash_lines": scanner.collect[1], "bytes": scanner.done_bytes,
    }


def scan_file(scanner, path: Path, index: int, counts, render: bool = False,
              sizes: bool = False) -> Iterator:
    """Scan `path` in worker processes and merge the result into `scanner`; with `render`,
    yield each chunk's valid records rendered, as a render.SampleBlock, in file order."""
    size = path.stat().st_size
    starts = chunk_starts(path, size, min(CHUNK_BYTES, RENDER_CHUNK_BYTES) if render else None)
    options = scanner.options.model_dump()
    tasks = iter([(str(path), index, start, stop, options, render, sizes)
                  for start, stop in zip(starts, starts[1:] + [size])])
    workers = min(scanner.options.workers, len(starts), os.cpu_count() or 1)
    offset = 0
    with multiprocessing.get_context("fork").Pool(workers, _worker_start, (scanner,)) as pool:
        # A bounded window of chunks in flight: results never pile up in memory.
        in_flight = deque(pool.apply_async(_scan_chunk, (task,))
                          for _, task in zip(range(workers + 1), tasks))
        while in_flight:
            part = in_flight.popleft().get()
            task = next(tasks, None)
            if task is not None:
                in_flight.append(pool.apply_async(_scan_chunk, (task,)))
            if scanner.cancel is not None and scanner.cancel.cancelled:
                pool.terminate()
            _merge(scanner, part, str(path), index, offset, counts)
            offset += part["lines"]
            scanner._tick(part["bytes"])
            if part["block"] is not None:
                yield part["block"]


def _worker_start(scanner) -> None:
    """In a new worker: leave Ctrl-C to the parent (it stops the pool; no traceback from
    each worker), and free the copy of the parent's duplicate table (tens of MB): left
    shared, it would be counted again once the parent writes to its own."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    scanner._seen.keys = scanner._seen.where = None


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
    _check_duplicates(scanner, part, name, index, offset)
    scanner._tick(0)
    if scanner.cancel is not None:
        scanner.cancel.raise_if_cancelled()


def _check_duplicates(scanner, part: dict, name: str, index: int, offset: int) -> None:
    """The duplicate check for a chunk's records, as if checked one by one in file order.

    A record whose hash lands in an empty slot of the table, a slot no other record of the
    chunk lands in, is new: numpy stores all of those at once (in the table's own memory).
    The rest (possible duplicates, collisions) take the one-by-one check, in order. That
    split is exact: two equal hashes always share a slot, so both take the slow path.
    """
    hashes, lines = part["hashes"], part["hash_lines"]
    seen = scanner._seen
    slow = range(len(hashes))
    np = _numpy()
    if np is not None and hashes and (seen.count + len(hashes)) * 10 < seen.slots * 7:
        keys = np.frombuffer(hashes, dtype=np.int64)
        home = keys & seen.mask
        table = np.frombuffer(seen.keys, dtype=np.int64)
        _, first, repeats = np.unique(home, return_index=True, return_counts=True)
        alone = np.zeros(len(keys), dtype=bool)
        alone[first[repeats == 1]] = True
        new = alone & (table[home] == 0)
        table[home[new]] = keys[new]
        where = np.frombuffer(seen.where, dtype=np.int64)
        where[home[new]] = (index << 40) | (np.frombuffer(lines, dtype=np.int64)[new] + offset)
        seen.count += int(new.sum())
        del table, where  # release the views: the table may be replaced when it grows
        slow = np.flatnonzero(~new).tolist()
    elif np is not None and hashes and seen.full:
        slow = _stored_already(np, np.frombuffer(hashes, dtype=np.int64), seen)
    check = scanner._duplicate_check
    for i in slow:
        check(hashes[i], name, index, lines[i] + offset, "The record")


def _stored_already(np, keys, seen) -> list[int]:
    """Positions of the keys found in a full table (which takes no new ones): each key's
    probe sequence followed for all keys at once, until its key or an empty slot."""
    table = np.frombuffer(seen.keys, dtype=np.int64)
    where = np.arange(len(keys))
    slot = keys & seen.mask
    found = []
    while where.size:
        stored = table[slot]
        hit = stored == keys[where]
        found.append(where[hit])
        going_on = ~hit & (stored != 0)
        where, slot = where[going_on], (slot[going_on] + 1) & seen.mask
    del table
    return np.sort(np.concatenate(found)).tolist()


def _numpy():
    """numpy, imported on first use (it takes ~0.1 s: only big files need it), or None
    where it is missing: the one-by-one check then does all the work."""
    try:
        import numpy
    except ImportError:  # pragma: no cover
        return None
    return numpy
