"""Read every record of the input once, streaming, and build the validation report.

`Scanner.records()` yields the valid records as (file, line, turns) while it fills in
`Scanner.report`; validation, iteration and prepare all drive it. Memory stays flat in the
size of the input: JSONL is read line by line in binary, issues beyond `max_issues` are only
counted, duplicates are tracked in a bounded table of hashes, percentiles come from a
fixed-size reservoir.
"""

from __future__ import annotations

import json
import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from forge_gui.core.data import mapping, parallel, render
from forge_gui.core.data.models import (
    FileReport,
    Issue,
    Stats,
    UnknownSchema,
    ValidationOptions,
    ValidationReport,
)
from forge_gui.core.data.normalise import (
    SUSPECT_BYTES,
    Reject,
    Turns,
    UnknownFormat,
    fast_normalise,
    normalise,
)
from forge_gui.core.data.sources import BOM, JsonProblem, expand_paths, loads, sniff
from forge_gui.core.events import ProgressEvent
from forge_gui.core.steps import CancelToken

READ_BUFFER = 1 << 20
PROGRESS_EVERY = 2 * 1024 * 1024  # bytes between progress events and cancel checks
BLOCK_SAMPLES = 4096  # samples rendered into one block for prepare to write
EXACT_LENGTHS = 10_000  # longer samples are counted in bins of 3 significant digits
MAX_SCHEMAS = 100
_WS = re.compile(r"[ \t\n\r]*")
_UNPARSED = object()  # the fast path found invalid JSON; the precise path explains it
_NOT_TRIED = object()


class _SeenHashes:
    """Open-addressing set of 64-bit record hashes with where each was first seen.

    Sized from the input's size up front (growing means holding two tables at once), at most
    `max_slots` (16 bytes a slot, 32 MB); when full, new records are still compared with the
    ones stored but no longer added, and the report says so.
    """

    def __init__(self, expected_records: int = 0, max_slots: int = 1 << 21) -> None:
        self.max_slots = max_slots
        self.full = False
        slots = 1 << 12
        while slots < max_slots and slots * 7 < expected_records * 10:
            slots *= 2
        self._reset(slots)

    def _reset(self, slots: int) -> None:
        self.slots = slots
        self.mask = slots - 1
        self.keys = array("q", [0]) * slots
        self.where = array("q", [0]) * slots
        self.count = 0

    def check_add(self, key: int, where: int) -> int | None:
        key = key or 1  # 0 marks an empty slot
        keys, mask = self.keys, self.mask
        slot = key & mask
        while True:
            found = keys[slot]
            if found == key:
                return self.where[slot]
            if found == 0:
                break
            slot = (slot + 1) & mask
        if self.full:
            return None
        keys[slot] = key
        self.where[slot] = where
        self.count += 1
        if self.count * 10 > self.slots * 7:
            self._grow()
        return None

    def _grow(self) -> None:
        if self.slots * 2 > self.max_slots:
            self.full = True
            return
        old_keys, old_where = self.keys, self.where
        self._reset(self.slots * 2)
        for i, k in enumerate(old_keys):
            if k:
                self.check_add(k, old_where[i])


class Scanner:
    """One pass over the input: `records()` yields valid records and fills in `report`."""

    def __init__(self, paths: list[Path], options: ValidationOptions | None = None,
                 progress: Callable[[ProgressEvent], None] | None = None,
                 cancel: CancelToken | None = None, step: str = "validate") -> None:
        self.options = options or ValidationOptions()
        self.progress = progress
        self.cancel = cancel
        self.step = step
        self.files, skipped = expand_paths(paths)
        self.report = ValidationReport(skipped_paths=skipped)
        self.total_bytes = sum(_size(p) for p in self.files) or 1
        self.done_bytes = 0
        self._next_tick = PROGRESS_EVERY
        self._errors: list[tuple] = []
        self._warnings: list[tuple] = []
        self._error_counts: Counter = Counter()
        self._omitted: Counter = Counter()
        self._warning_counts: Counter = Counter()
        # ~400 bytes a record is on the short side for chat data: rarely needs to grow.
        self._seen = _SeenHashes(expected_records=self.total_bytes // 400)
        self._lengths: dict[int, int] = {}  # sample length (binned) -> records
        self._schemas: dict[tuple[str, ...], list] = {}  # keys -> [file, line, count, sample]
        self._extra_keys: dict[tuple[str, frozenset], list] = {}  # (file, keys) -> [line, n]
        self._formats: Counter = Counter()
        self._chars = [0, 0, 0, 0]  # system, user, input, assistant
        self._turns = self._exchanges = self._rendered = self._dups = 0
        self.valid = self.invalid = 0
        self.parallel = False  # validate_paths turns it on; workers: options.workers
        self.render_in_workers = self.sample_sizes = False  # sample_blocks() sets them
        self.collect: tuple[array, array] | None = None  # worker mode: (hashes, lines)
        self.lines_read = 0

    # --- issues -------------------------------------------------------------------------

    def _issue(self, kind: str, file: str, line: int, code: str, message: str) -> None:
        counts = self._error_counts if kind == "error" else self._warning_counts
        counts[code] += 1
        self._store(kind, (file, line, code, message))

    def _store(self, kind: str, issue: tuple) -> None:
        store = self._errors if kind == "error" else self._warnings
        limit = self.options.max_issues
        if limit is None or len(store) < limit:
            store.append(issue)
        else:
            self._omitted[kind] += 1

    def error(self, file: str, line: int, code: str, message: str) -> None:
        self._issue("error", file, line, code, message)

    def warn(self, file: str, line: int, code: str, message: str) -> None:
        self._issue("warning", file, line, code, message)

    # --- reading ------------------------------------------------------------------------

    def _tick(self, nbytes: int) -> None:
        self.done_bytes += nbytes
        if self.done_bytes >= self._next_tick:
            self._next_tick = self.done_bytes + PROGRESS_EVERY
            if self.cancel is not None:
                self.cancel.raise_if_cancelled()
            if self.progress is not None:
                self.progress(ProgressEvent(
                    step=self.step, fraction=min(1.0, self.done_bytes / self.total_bytes),
                    message=f"Read {size_text(self.done_bytes)} of {size_text(self.total_bytes)}"))

    def records(self) -> Iterator[tuple[str, int, Turns]]:
        """Valid records as (file, line, turns); the report is complete once exhausted.

        With `render_in_workers` (sample_blocks()), records that workers read come already
        rendered, a render.SampleBlock of them at a time, as (file, 0, block)."""
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()
        for index, path in enumerate(self.files):
            name = str(path)
            counts = _FileCounts()
            errors_before = sum(self._error_counts.values())
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
                            value := self._single_value(fh, path)) is not _UNPARSED:
                        fmt = "json"
                        self._tick(_size(path))
                        turns = self._handle(None, name, index, 1, counts, parsed=value)
                        if turns is not None:
                            yield name, 1, turns
                    elif self.parallel and parallel.worth_it(path, self.options):
                        fmt = "jsonl"
                        for block in parallel.scan_file(self, path, index, counts,
                                                        self.render_in_workers,
                                                        self.sample_sizes):
                            yield name, 0, block  # rendered by a worker: sample_blocks()
                    else:
                        fmt = "jsonl"
                        yield from self._read_lines(fh, name, index, counts)
            except OSError as exc:
                self.error(name, 0, "unreadable", f"Cannot read this file: {exc.strerror}.")
            self.report.files.append(FileReport(path=name, records=counts.records,
                                                valid=counts.valid, invalid=counts.invalid,
                                                format=fmt))
            if counts.records == 0 and sum(self._error_counts.values()) == errors_before:
                self.warn(name, 0, "empty_file", "This file has no records (it is empty or "
                                                 "has only blank lines).")
            self._tick(0)
        if self.progress is not None:
            self.progress(ProgressEvent(step=self.step, fraction=1.0,
                                        message=f"Read {size_text(self.done_bytes)}"))
        self._finish()

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

    def _read_lines(self, fh, name: str, index: int, counts: _FileCounts,
                    stop_at: int | None = None):
        """JSONL records; in a worker, only the lines starting before `stop_at`."""
        limit = self.options.max_line_bytes
        readline = fh.readline
        loads = orjson.loads
        fast = None if self.options.field_map else fast_normalise
        suspect = SUSPECT_BYTES.search
        accept = self._accept
        line = 0
        tell = fh.tell
        at_start = tell() == 0
        raw = readline(limit + 1)
        if at_start and raw.startswith(BOM):
            self._tick(len(BOM))
            raw = raw[len(BOM):]
        done, next_tick = self.done_bytes, self._next_tick
        very_long = self.options.very_long_chars
        seen, formats, lengths = self._seen, self._formats, self._lengths
        lengths_get = lengths.get
        collect_keys = collect_lines = None
        if self.collect is not None:
            collect_keys, collect_lines = self.collect[0].append, self.collect[1].append
        n_turns = n_exchanges = rendered = c_system = c_user = c_input = c_assistant = 0
        n_fast = n_inline = 0  # records through the fast path; of those, counted inline
        # `done` grows by every byte taken from fh (the first line is taken already):
        # the value it has once the line ending at or past stop_at is read.
        stop_done = float("inf") if stop_at is None else stop_at - tell() + len(raw) + done
        try:
            while raw:
                line += 1
                nbytes = len(raw)
                done += nbytes
                if done >= next_tick:
                    self.done_bytes = done - nbytes
                    self._tick(nbytes)
                    done, next_tick = self.done_bytes, self._next_tick
                if nbytes > limit and raw[-1:] != b"\n":
                    self.done_bytes = done
                    self._skip_long_line(fh, name, line, nbytes, counts)
                    done = self.done_bytes
                elif not raw.isspace():
                    # Fast path: well-formed records never leave this loop's few calls.
                    result, obj = None, _NOT_TRIED
                    if fast is not None:
                        try:
                            obj = loads(raw)
                        except orjson.JSONDecodeError:
                            obj = _UNPARSED
                        else:
                            # control characters or format markers: the precise path decides
                            result = None if suspect(raw) else fast(obj)
                    if result is not None:
                        n_fast += 1
                        fmt, turns, length, chars, exchanges = result
                        if length > very_long or seen.full:
                            accept(name, index, line, "The record", result)
                        else:  # _accept, inlined: the common case
                            n_inline += 1
                            formats[fmt] += 1
                            n_turns += len(turns)
                            n_exchanges += exchanges
                            rendered += length
                            c_system += chars[0]
                            c_user += chars[1]
                            c_input += chars[2]
                            c_assistant += chars[3]
                            key = length if length < EXACT_LENGTHS else _bin(length)
                            lengths[key] = lengths_get(key, 0) + 1
                            key = hash(turns) or 1
                            if collect_keys is not None:  # a worker: the parent checks
                                collect_keys(key)
                                collect_lines(line)
                            else:
                                keys = seen.keys
                                slot = key & seen.mask
                                if keys[slot] == 0 and seen.count * 10 < seen.slots * 7:
                                    keys[slot] = key
                                    seen.where[slot] = (index << 40) | line
                                    seen.count += 1
                                else:
                                    self._duplicate_check(key, name, index, line,
                                                          "The record")
                        yield name, line, turns
                    else:
                        turns = self._handle(raw, name, index, line, counts, parsed=obj)
                        if turns is not None:
                            yield name, line, turns
                if done >= stop_done:
                    break
                raw = readline(limit + 1)
        finally:
            self.lines_read = line
            self.done_bytes = done
            counts.records += n_fast
            counts.valid += n_fast
            self.valid += n_inline
            self._turns += n_turns
            self._exchanges += n_exchanges
            self._rendered += rendered
            totals = self._chars
            totals[0] += c_system
            totals[1] += c_user
            totals[2] += c_input
            totals[3] += c_assistant

    def _skip_long_line(self, fh, name: str, line: int, nbytes: int, counts) -> None:
        while True:  # skip the rest of the line without holding it in memory
            chunk = fh.readline(1 << 20)
            nbytes += len(chunk)
            self._tick(len(chunk))
            if not chunk or chunk[-1:] == b"\n":
                break
        counts.records += 1
        counts.invalid += 1
        self.invalid += 1
        self.error(name, line, "line_too_long",
                   f"This line is {nbytes / 2**20:.1f} MiB, over the limit of "
                   f"{self.options.max_line_bytes / 2**20:.1f} MiB; it was not read.")

    def _single_value(self, fh, path: Path) -> Any:
        """A .json file that is one JSON value (e.g. one pretty-printed object), or
        _UNPARSED when it is not (then it is read as JSONL)."""
        try:
            if path.stat().st_size > self.options.max_array_bytes:
                return _UNPARSED
            data = fh.read()
            fh.seek(0)
            return orjson.loads(data[len(BOM):] if data.startswith(BOM) else data)
        except (OSError, orjson.JSONDecodeError):
            fh.seek(0)
            return _UNPARSED

    def _read_array(self, fh, name: str, index: int, counts: _FileCounts):
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
        pos = _WS.match(text, text.index("[") + 1).end()
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
                self.invalid += 1
                self.error(name, exc.lineno, "invalid_json",
                           f"Element {element} is not valid JSON: {exc.msg} (column "
                           f"{exc.colno}); the rest of the file was not read.")
                return
            turns = self._handle(obj, name, index, line, counts, element, check_text)
            if turns is not None:
                yield name, line, turns
            pos = _WS.match(text, pos).end()
            if pos < len(text) and text[pos] == ",":
                pos = _WS.match(text, pos + 1).end()
            elif pos < len(text) and text[pos] != "]":
                self.error(name, line + text.count("\n", last, pos), "invalid_json",
                           f"Expected ',' or ']' after element {element}; the rest of the "
                           f"file was not read.")
                return
        if pos >= len(text):
            self.error(name, line + text.count("\n", last), "invalid_json",
                       "The JSON array is not closed with ']' (the file is cut off?).")
        elif text[pos + 1:].strip():
            after = _WS.match(text, pos + 1).end()
            self.error(name, line + text.count("\n", last, after), "invalid_json",
                       "There is more text after the JSON array's closing ']'; it was not "
                       "read. (One record per line? Name the file .jsonl.)")

    # --- one record ---------------------------------------------------------------------

    def _handle(self, raw: Any, name: str, index: int, line: int, counts: _FileCounts,
                element: int | None = None, check_text: bool = False,
                parsed: Any = _NOT_TRIED) -> Turns | None:
        """The precise path: every check, every message. Returns the turns when valid.

        `parsed`: the value already parsed, or _UNPARSED when that failed."""
        counts.records += 1
        where = f"Element {element}" if element else "The record"
        obj = None
        try:
            if element is None:
                obj = loads(raw) if parsed is _NOT_TRIED or parsed is _UNPARSED else parsed
            else:
                obj = raw
                if check_text:
                    try:
                        orjson.dumps(obj)
                    except TypeError:
                        raise JsonProblem("invalid_utf8", "contains an escape like \\ud800 for "
                                          "half of a character (an unpaired surrogate).")
            map_warnings = None
            if self.options.field_map:
                obj, map_warnings = mapping.apply_map(obj, self.options.field_map)
            fmt, turns, extra, warnings = normalise(obj)
            if extra and self.options.strict:
                raise Reject("unknown_keys", f"has keys that are not used for training: "
                                             f"{', '.join(sorted(extra))} (--strict).")
        except (JsonProblem, Reject) as exc:
            counts.invalid += 1
            self.invalid += 1
            self.error(name, line, exc.code, _sentence(where, exc.message))
            return None
        except UnknownFormat as exc:
            counts.invalid += 1
            self.invalid += 1
            self._error_counts["unknown_format"] += 1
            schema = self._schemas.get(exc.keys)
            if schema is not None:
                schema[2] += 1
            elif len(self._schemas) < MAX_SCHEMAS:
                self._schemas[exc.keys] = [name, line, 1, obj]
            else:  # too many shapes to explain one by one
                self._store("error", (name, line, "unknown_format",
                                      f"{where} has the keys {', '.join(exc.keys)}; expected "
                                      f"{mapping.EXPECTED}."))
            return None
        counts.valid += 1
        if extra:
            seen = self._extra_keys.get((name, extra))
            if seen is None:
                self._extra_keys[(name, extra)] = [line, 1]
            else:
                seen[1] += 1
        if warnings or map_warnings:
            for code, message in [*(warnings or ()), *(map_warnings or ())]:
                self.warn(name, line, code, _sentence(where, message))
        length, chars, exchanges = render.measure(turns)
        self._accept(name, index, line, where, (fmt, turns, length, chars, exchanges))
        return turns

    def _accept(self, name: str, index: int, line: int, where: str, result) -> None:
        """Count a valid record into the statistics; warn when long or a duplicate."""
        fmt, turns, length, chars, exchanges = result
        self.valid += 1
        self._formats[fmt] += 1
        self._turns += len(turns)
        self._exchanges += exchanges
        self._rendered += length
        total = self._chars
        total[0] += chars[0]
        total[1] += chars[1]
        total[2] += chars[2]
        total[3] += chars[3]
        if length > self.options.very_long_chars:
            self.warn(name, line, "very_long",
                      f"{where} is {length:,} characters of training text (about "
                      f"{approx_tokens(length):,} tokens), over "
                      f"{self.options.very_long_chars:,}; it will be cut into several "
                      f"training windows.")
        key = length if length < EXACT_LENGTHS else _bin(length)
        self._lengths[key] = self._lengths.get(key, 0) + 1
        self._duplicate_check(hash(turns) or 1, name, index, line, where)

    def _duplicate_check(self, key: int, name: str, index: int, line: int, where: str) -> None:
        if self.collect is not None:  # a worker: the parent checks, in file order
            self.collect[0].append(key)
            self.collect[1].append(line)
            return
        earlier = self._seen.check_add(key, (index << 40) | line)
        if earlier is not None:
            self._dups += 1
            other = self.files[earlier >> 40]
            self.warn(name, line, "duplicate",
                      f"{where} is the same conversation as line {earlier & ((1 << 40) - 1)}"
                      f"{'' if str(other) == name else ' of ' + str(other)}.")

    # --- the report ---------------------------------------------------------------------

    def _finish(self) -> None:
        report = self.report
        report.valid, report.invalid = self.valid, self.invalid
        schema_issues = []
        for keys, (file, line, count, sample) in self._schemas.items():
            suggested = mapping.suggest_map(sample) if type(sample) is dict else None
            explanation = (f"Found {count} record{'s' if count != 1 else ''} (first: line "
                           f"{line}) with the keys {', '.join(keys)}, which fit none of the "
                           f"formats Forge reads ({mapping.EXPECTED}).")
            # Said without a front end's control: the CLI adds its --map, the Data page its
            # Field mapping box.
            if suggested:
                explanation += (f" They can be read as Alpaca records with the field mapping "
                                f"{mapping.format_map(suggested)}.")
            else:
                explanation += (" Rename their fields with a field mapping new=old (for example "
                                "instruction=prompt,output=completion).")
            report.unknown_schemas.append(UnknownSchema(
                file=file, first_line=line, records=count, keys=list(keys),
                expected=mapping.EXPECTED, suggested_map=suggested, explanation=explanation))
            schema_issues.append(Issue(file=file, line=line, code="unknown_format",
                                       message=explanation))
        for (file, keys), (line, count) in self._extra_keys.items():
            plural = "s" if count != 1 else ""
            self.warn(file, line, "unknown_keys",
                      f"Found {count} record{plural} (first: line {line}) with keys that are not "
                      f"used for training: {', '.join(sorted(keys))}; they are ignored.")
        if self.valid == 0 and not self._error_counts:
            first = str(self.files[0]) if self.files else ""
            self.error(first, 0, "no_records", "No training records were found in the input.")
        order = {str(path): n for n, path in enumerate(self.files)}
        in_file_order = lambda issue: (order.get(issue[0], -1), issue[1])  # noqa: E731
        report.errors = schema_issues + [Issue(file=f, line=l, code=c, message=m) for f, l, c, m
                                         in sorted(self._errors, key=in_file_order)]
        report.warnings = [Issue(file=f, line=l, code=c, message=m) for f, l, c, m
                           in sorted(self._warnings, key=in_file_order)]
        report.error_counts = dict(self._error_counts.most_common())
        report.warning_counts = dict(self._warning_counts.most_common())
        report.errors_omitted = self._omitted["error"]
        report.warnings_omitted = self._omitted["warning"]
        report.stats = self._stats()

    def _stats(self) -> Stats:
        percentiles = _percentiles(self._lengths)
        return Stats(
            records=self.valid, turns=self._turns, exchanges=self._exchanges,
            formats=dict(self._formats),
            chars=dict(zip(("system", "user", "input", "assistant"), self._chars)),
            rendered_chars=self._rendered, approx_tokens=approx_tokens(self._rendered),
            length_percentiles=percentiles,
            token_percentiles={k: approx_tokens(v) for k, v in percentiles.items()},
            duplicates=self._dups, duplicate_check_complete=not self._seen.full)


def size_text(n: int) -> str:
    """Bytes for a person: '812 bytes', '12 KB', '3.4 MB', '120 MB' (never '0 MB')."""
    if n < 1000:
        return f"{n} byte{'' if n == 1 else 's'}"
    for unit, scale in (("KB", 1e3), ("MB", 1e6), ("GB", 1e9)):
        value = n / scale
        if value < 999.5 or unit == "GB":
            return f"{value:.1f} {unit}" if value < 9.95 else f"{value:.0f} {unit}"
    return f"{n} bytes"


def approx_tokens(chars: int) -> int:
    """About four characters a token for English text with common vocabularies."""
    return (chars + 3) // 4


def _sentence(where: str, message: str) -> str:
    first = message.split(" ", 1)[0]
    if first in ("is", "has", "ends", "contains", "must"):
        return f"{where} {message}"
    return f"{where}: {message[0].upper()}{message[1:]}" if where != "The record" else \
        f"{message[0].upper()}{message[1:]}"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class _FileCounts:
    __slots__ = ("records", "valid", "invalid")

    def __init__(self) -> None:
        self.records = self.valid = self.invalid = 0


def _bin(length: int) -> int:
    """Round to 3 significant digits: bounded memory for the length histogram."""
    digits = len(str(length)) - 3
    return round(length, -digits)


def _percentiles(histogram: dict[int, int]) -> dict[str, int]:
    total = sum(histogram.values())
    if not total:
        return {}
    wanted = [("min", 0.0), ("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)]
    result: dict[str, int] = {}
    seen = 0
    for length in sorted(histogram):
        seen += histogram[length]
        while wanted and seen >= max(1, wanted[0][1] * total):
            result[wanted.pop(0)[0]] = length
    return result
