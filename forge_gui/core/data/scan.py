"""Read every record of the input once, streaming, and build the validation report.

`Scanner.records()` yields the valid records as (file, line, turns) while it fills in
`Scanner.report`; validation, iteration and prepare all drive it. Memory stays flat in the
size of the input: JSONL is read line by line in binary (reader.py), issues beyond
`max_issues` are only counted (tally.py), duplicates are tracked in a bounded table of
digests (duplicates.py), big files may go to worker processes (parallel.py).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.steps import CancelToken
from forge_gui.core.data import parallel, render
from forge_gui.core.data.duplicates import SeenHashes
from forge_gui.core.data.models import FileReport, ValidationOptions, ValidationReport
from forge_gui.core.data.reader import UNPARSED, FileCounts, Record, RecordReader
from forge_gui.core.data.sources import BOM, expand_paths, sniff
from forge_gui.core.data.tally import approx_tokens

log = logging.getLogger(__name__)

READ_BUFFER = 1 << 20
PROGRESS_EVERY = 2 * 1024 * 1024  # bytes between progress events and cancel checks
BLOCK_SAMPLES = 4096  # samples rendered into one block for prepare to write
_WS = re.compile(r"[ \t\n\r]*")

# Former names, kept for callers and tests that reach in.
_SeenHashes = SeenHashes
_FileCounts = FileCounts
__all__ = ["Scanner", "size_text", "approx_tokens", "READ_BUFFER", "PROGRESS_EVERY"]


class Scanner(RecordReader):
    """One pass over the input: `records()` yields valid records and fills in `report`."""

    def __init__(self, paths: list[Path], options: ValidationOptions | None = None,
                 progress: Callable[[ProgressEvent], None] | None = None,
                 cancel: CancelToken | None = None, step: str = "validate") -> None:
        files, skipped = expand_paths(paths)
        total_bytes = sum(_size(p) for p in files) or 1
        # ~400 bytes a record is on the short side for chat data: rarely needs to grow.
        super().__init__(options or ValidationOptions(), files,
                         _SeenHashes(expected_records=total_bytes // 400))
        self.progress = progress
        self.cancel = cancel
        self.step = step
        self.report = ValidationReport(skipped_paths=skipped)
        self.total_bytes = total_bytes
        self.tick_every = self._next_tick = PROGRESS_EVERY
        self.parallel = False  # validate_paths turns it on; workers: options.workers
        self.render_in_workers = self.sample_sizes = False  # sample_blocks() sets them

    def _checkpoint(self) -> None:
        super()._checkpoint()
        if self.progress is not None:
            self.progress(ProgressEvent(
                step=self.step, fraction=min(1.0, self.done_bytes / self.total_bytes),
                message=f"Read {size_text(self.done_bytes)} of {size_text(self.total_bytes)}"))

    def records(self) -> Iterator[tuple[str, int, Any]]:
        """Valid records as (file, line, turns); the report is complete once exhausted.

        With `render_in_workers` (sample_blocks()), records that workers read come already
        rendered, a render.SampleBlock of them at a time, as (file, 0, block)."""
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()
        if not (self.parallel and any(parallel.worth_it(p, self.options) for p in self.files)):
            # No key leaves this process: Python's salted hash() is as good here and far
            # cheaper than the digest workers need (duplicates.py).
            self.key_of = hash
        tally = self.tally
        for index, path in enumerate(self.files):
            name = str(path)
            counts = FileCounts()
            errors_before = sum(tally.error_counts.values())
            fmt = None
            try:
                with open(path, "rb", buffering=READ_BUFFER) as fh:
                    kind = sniff(fh.read(4096))
                    fh.seek(0)
                    if kind == "binary":
                        self.error(name, 0, "binary_file", "This is not a text file "
                                   "(binary data); training data must be JSONL or JSON text.")
                    elif kind == "utf16":
                        self.error(name, 0, "invalid_utf8", "This file is saved as UTF-16; "
                                   "save it as UTF-8 and try again.")
                    elif kind == "array" and path.suffix.lower() != ".jsonl":
                        fmt = "json-array"
                        yield from self._read_array(fh, name, index, counts)
                    elif path.suffix.lower() == ".json" and (
                            value := self._single_value(fh, path)) is not UNPARSED:
                        fmt = "json"
                        self._tick(_size(path))
                        turns = self.handle(None, name, index, 1, counts, parsed=value)
                        if turns is not None:
                            yield name, 1, turns
                    elif self.parallel and parallel.worth_it(path, self.options):
                        fmt = "jsonl"
                        # Looked up on the module each time: tests wrap it.
                        for block in parallel.scan_file(self, path, index, counts,
                                                        self.render_in_workers,
                                                        self.sample_sizes):
                            yield name, 0, block  # rendered by a worker: sample_blocks()
                    else:
                        fmt = "jsonl"
                        yield from self.read_lines(fh, name, index, counts)
            except OSError as exc:
                log.info("cannot read %s: %s", name, exc)
                self.error(name, 0, "unreadable", f"Cannot read this file: {exc.strerror}.")
            self.report.files.append(FileReport(path=name, records=counts.records,
                                                valid=counts.valid, invalid=counts.invalid,
                                                format=fmt))
            if counts.records == 0 and sum(tally.error_counts.values()) == errors_before:
                self.warn(name, 0, "empty_file", "This file has no records (it is empty or "
                                                 "has only blank lines).")
            self._tick(0)
        if self.progress is not None:
            self.progress(ProgressEvent(step=self.step, fraction=1.0,
                                        message=f"Read {size_text(self.done_bytes)}"))
        tally.fill_report(self.report, self.files, not self.seen.full)

    def sample_blocks(self, sizes: bool = False) -> Iterator[render.SampleBlock]:
        """The training text of the valid records, in order, in blocks (prepare). With
        `parallel`, big files are parsed and rendered by worker processes. `sizes`: give
        each sample's size too (to split a block into samples)."""
        self.render_in_workers, self.sample_sizes = True, sizes
        render_turns, encode_block = render.render_turns, render.encode_block
        batch: list[str] = []
        for _file, _line, item in self.records():
            if isinstance(item, render.SampleBlock):
                if batch:
                    yield encode_block(batch, sizes)
                    batch = []
                yield item
            else:
                batch.append(render_turns(item))
                if len(batch) >= BLOCK_SAMPLES:
                    yield encode_block(batch, sizes)
                    batch = []
        if batch:
            yield encode_block(batch, sizes)

    # --- JSON files (read whole, in this process) ----------------------------------------

    def _single_value(self, fh: IO[bytes], path: Path) -> Any:
        """A .json file that is one JSON value (e.g. one pretty-printed object), or
        UNPARSED when it is not (then it is read as JSONL)."""
        try:
            if path.stat().st_size > self.options.max_array_bytes:
                return UNPARSED
            data = fh.read()
            fh.seek(0)
            return orjson.loads(data[len(BOM):] if data.startswith(BOM) else data)
        except (OSError, orjson.JSONDecodeError) as exc:
            log.debug("%s is not one JSON value (%s): read as JSONL", path, exc)
            fh.seek(0)
            return UNPARSED

    def _read_array(self, fh: IO[bytes], name: str, index: int,
                    counts: FileCounts) -> Iterator[Record]:
        limit = self.options.max_array_bytes
        data = fh.read(limit + 1)
        self._tick(len(data))
        if len(data) > limit:
            self.error(name, 0, "file_too_large",
                       f"This JSON array is over {limit / 1e6:.0f} MB, too large to read at "
                       f"once; convert it to JSONL (one record per line).")
            return
        if data.startswith(BOM):
            data = data[len(BOM):]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.error(name, data.count(b"\n", 0, exc.start) + 1, "invalid_utf8",
                       "This line is not valid UTF-8 text; save the file as UTF-8.")
            return
        del data
        check_text = re.search(r"\\u[dD][89a-fA-F]", text) is not None
        decoder = json.JSONDecoder()
        pos = _skip_space(text, text.index("[") + 1)
        line, last, element = 1, 0, 0
        while pos < len(text) and text[pos] != "]":
            element += 1
            line += text.count("\n", last, pos)
            last = pos
            try:
                obj, pos = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                counts.records += 1
                counts.invalid += 1
                self.tally.invalid += 1
                self.error(name, exc.lineno, "invalid_json",
                           f"Element {element} is not valid JSON: {exc.msg} (column "
                           f"{exc.colno}); the rest of the file was not read.")
                return
            turns = self.handle(obj, name, index, line, counts, element, check_text)
            if turns is not None:
                yield name, line, turns
            pos = _skip_space(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos = _skip_space(text, pos + 1)
            elif pos < len(text) and text[pos] != "]":
                self.error(name, line + text.count("\n", last, pos), "invalid_json",
                           f"Expected ',' or ']' after element {element}; the rest of the "
                           f"file was not read.")
                return
        if pos >= len(text):
            self.error(name, line + text.count("\n", last), "invalid_json",
                       "The JSON array is not closed with ']' (the file is cut off?).")
        elif text[pos + 1:].strip():
            after = _skip_space(text, pos + 1)
            self.error(name, line + text.count("\n", last, after), "invalid_json",
                       "There is more text after the JSON array's closing ']'; it was not "
                       "read. (One record per line? Name the file .jsonl.)")


def size_text(n: int) -> str:
    """Bytes for a person: '812 bytes', '12 KB', '3.4 MB', '120 MB' (never '0 MB')."""
    if n < 1000:
        return f"{n} byte{'' if n == 1 else 's'}"
    for unit, scale in (("KB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        value = n / scale
        if value < 999.5 or unit == "GB":
            return f"{value:.1f} {unit}" if value < 9.95 else f"{value:.0f} {unit}"
    return f"{n} bytes"


def _skip_space(text: str, pos: int) -> int:
    """The position of the first character at or after `pos` that is not JSON whitespace."""
    space = _WS.match(text, pos)
    return space.end() if space else pos


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
