"""Scan one big JSONL file with several processes (validation, and prepare's rendering).

The file is cut into chunks at line starts; each worker reads its chunks with its own
RecordReader and sends back the chunk's Tally (line numbers counted from the chunk's
start), the digests of its valid records and, for prepare, their training text. The parent
merges the chunks in file order (`Tally.merge`, shifting line numbers) and runs the
duplicate check itself, so the report is the same as a single-process scan. Only a few
chunks are in flight at once, so memory stays flat however big the file. The digests are
stable across processes (duplicates.py), so workers may fork or spawn; by default they fork
where the system can (docs/data.md, "Numbers"), and only when options.workers > 1.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from array import array
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from forge_gui.core.data.duplicates import SeenHashes, check_batch
from forge_gui.core.data.models import ValidationOptions
from forge_gui.core.data.reader import FileCounts, RecordReader
from forge_gui.core.data.render import SampleBlock, encode_block, render_turns
from forge_gui.core.data.tally import Tally

log = logging.getLogger(__name__)

CHUNK_BYTES = 16 * 1024 * 1024
RENDER_CHUNK_BYTES = 2 * 1024 * 1024  # prepare: a chunk's text is held twice in a worker
READ_BUFFER = 1 << 20


def start_method(options: ValidationOptions) -> str | None:
    """How workers start: the one asked for, else fork; None where the system lacks it."""
    wanted = options.start_method or "fork"
    return wanted if wanted in multiprocessing.get_all_start_methods() else None


def worth_it(path: Path, options: ValidationOptions) -> bool:
    if options.workers <= 1 or start_method(options) is None:
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


@dataclass
class ChunkResult:
    """What a worker sends back for one chunk (line numbers count from the chunk's start)."""

    tally: Tally
    counts: FileCounts
    lines: int  # lines read: the next chunk's line offset grows by this
    bytes: int
    digests: array  # of the valid records, in order, for the parent's duplicate check
    digest_lines: array
    block: SampleBlock | None  # prepare: the valid records' training text


def _scan_chunk(task: tuple) -> ChunkResult:
    path, index, start, stop, options, render, sizes = task
    reader = RecordReader(ValidationOptions.model_validate(options),
                          [Path(path)] * (index + 1))  # the worker sees the file at its index
    reader.collect = (array("q"), array("q"))
    counts = FileCounts()
    block = None
    with open(path, "rb", buffering=READ_BUFFER) as fh:
        fh.seek(start)
        records = reader.read_lines(fh, path, index, counts, stop_at=stop)
        if render:
            block = encode_block([render_turns(turns) for _file, _line, turns in records], sizes)
        else:
            for _ in records:
                pass
    return ChunkResult(reader.tally, counts, reader.lines_read, reader.done_bytes,
                       reader.collect[0], reader.collect[1], block)


def scan_file(scanner: RecordReader, path: Path, index: int, counts: FileCounts,
              render: bool = False, sizes: bool = False) -> Iterator[SampleBlock]:
    """Scan `path` in worker processes and merge the result into `scanner`; with `render`,
    yield each chunk's valid records rendered, as a render.SampleBlock, in file order."""
    size = path.stat().st_size
    starts = chunk_starts(path, size, min(CHUNK_BYTES, RENDER_CHUNK_BYTES) if render else None)
    options = scanner.options.model_dump()
    tasks = iter([(str(path), index, start, stop, options, render, sizes)
                  for start, stop in zip(starts, starts[1:] + [size], strict=True)])
    workers = min(scanner.options.workers, len(starts), os.cpu_count() or 1)
    method = start_method(scanner.options) or "fork"
    log.debug("%s: %d chunks, %d %s workers", path, len(starts), workers, method)
    # A forked worker holds a copy of the parent's duplicate table: it drops it at start.
    table = scanner.seen if method == "fork" else None
    offset = 0
    with multiprocessing.get_context(method).Pool(workers, _worker_start, (table,)) as pool:
        # A bounded window of chunks in flight: results never pile up in memory.
        in_flight = deque(pool.apply_async(_scan_chunk, (task,))
                          for _, task in zip(range(workers + 1), tasks, strict=False))
        while in_flight:
            part = in_flight.popleft().get()
            task = next(tasks, None)
            if task is not None:
                in_flight.append(pool.apply_async(_scan_chunk, (task,)))
            if scanner.cancel is not None and scanner.cancel.cancelled:
                pool.terminate()
            _merge(scanner, part, str(path), index, offset, counts)
            offset += part.lines
            scanner._tick(part.bytes)
            if part.block is not None:
                yield part.block


def _worker_start(table: SeenHashes | None) -> None:
    """In a new worker: leave Ctrl-C to the parent (it stops the pool; no traceback from
    each worker), and free a forked copy of the parent's duplicate table (tens of MB)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if table is not None:
        table.release()


def _merge(scanner: RecordReader, part: ChunkResult, name: str, index: int, offset: int,
           counts: FileCounts) -> None:
    counts.records += part.counts.records
    counts.valid += part.counts.valid
    counts.invalid += part.counts.invalid
    scanner.tally.merge(part.tally, offset)

    def check(key: int, line: int) -> None:
        scanner.check_duplicate(key, name, index, line)

    check_batch(scanner.seen, part.digests, part.digest_lines, index, offset, check)
    scanner._tick(0)
    if scanner.cancel is not None:
        scanner.cancel.raise_if_cancelled()
