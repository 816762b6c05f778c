"""Read JSONL lines and check each record, counting into a Tally (one process's share).

`RecordReader` is what both the scanner (scan.py, the whole input) and a worker process
(parallel.py, one chunk of a big file) run: the fast path for well-formed records, the
precise path with every check and message for the rest, and the duplicate check, against
the table here or, in a worker, by handing the digests to the parent.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from forge_gui.core.base.steps import CancelToken
from forge_gui.core.data import mapping, render
from forge_gui.core.data.duplicates import SeenHashes, digest
from forge_gui.core.data.models import ValidationOptions
from forge_gui.core.data.normalise import (
    SUSPECT_BYTES,
    Reject,
    Turns,
    UnknownFormat,
    fast_normalise,
    normalise,
)
from forge_gui.core.data.sources import BOM, JsonProblem, loads
from forge_gui.core.data.tally import Tally, approx_tokens

log = logging.getLogger(__name__)

EXACT_LENGTHS = 10_000  # longer samples are counted in bins of 3 significant digits
MAX_SCHEMAS = 100
UNPARSED = object()  # the fast path found invalid JSON; the precise path explains it
NOT_TRIED = object()

Record = tuple[str, int, Turns]  # (file, line, turns)


class FileCounts:
    __slots__ = ("records", "valid", "invalid")

    def __init__(self) -> None:
        self.records = self.valid = self.invalid = 0


class RecordReader:
    """Checks records into `tally`; `collect` set (a worker): digests are gathered for the
    parent instead of checked here."""

    def __init__(self, options: ValidationOptions, files: list[Path],
                 seen: SeenHashes | None = None) -> None:
        self.options = options
        self.files = files
        self.tally = Tally(max_issues=options.max_issues)
        self.seen = seen if seen is not None else SeenHashes()
        self.collect: tuple[array, array] | None = None  # worker mode: (digests, lines)
        # A record's duplicate key: the stable digest, unless the scanner knows no key will
        # leave this process (duplicates.py).
        self.key_of: Callable[[Turns], int] = digest
        self.done_bytes = 0
        self.tick_every = 1 << 62  # bytes between checkpoints: the scanner sets its own
        self._next_tick = self.tick_every
        self.cancel: CancelToken | None = None
        self.lines_read = 0

    # --- issues and progress ------------------------------------------------------------

    def error(self, file: str, line: int, code: str, message: str) -> None:
        self.tally.issue("error", file, line, code, message)

    def warn(self, file: str, line: int, code: str, message: str) -> None:
        self.tally.issue("warning", file, line, code, message)

    def _tick(self, nbytes: int) -> None:
        self.done_bytes += nbytes
        if self.done_bytes >= self._next_tick:
            self._next_tick = self.done_bytes + self.tick_every
            self._checkpoint()

    def _checkpoint(self) -> None:
        """Every `tick_every` bytes: stop if cancelled (the scanner reports progress too)."""
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()

    # --- JSONL --------------------------------------------------------------------------

    def read_lines(self, fh: IO[bytes], name: str, index: int, counts: FileCounts,
                   stop_at: int | None = None) -> Iterator[Record]:
        """JSONL records; in a worker, only the lines starting before `stop_at`."""
        limit = self.options.max_line_bytes
        readline = fh.readline
        parse = orjson.loads
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
        tally, seen, key_of = self.tally, self.seen, self.key_of
        formats, lengths = tally.formats, tally.lengths
        lengths_get = lengths.get
        collecting = self.collect is not None
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
                    result, obj = None, NOT_TRIED
                    if fast is not None:
                        try:
                            obj = parse(raw)
                        except orjson.JSONDecodeError:
                            obj = UNPARSED
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
                            key = key_of(turns) or 1
                            if collecting:  # a worker: the parent checks
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
                                    self.check_duplicate(key, name, index, line)
                        yield name, line, turns
                    else:
                        checked = self.handle(raw, name, index, line, counts, parsed=obj)
                        if checked is not None:
                            yield name, line, checked
                if done >= stop_done:
                    break
                raw = readline(limit + 1)
        finally:
            self.lines_read = line
            self.done_bytes = done
            counts.records += n_fast
            counts.valid += n_fast
            tally.valid += n_inline
            tally.turns += n_turns
            tally.exchanges += n_exchanges
            tally.rendered += rendered
            totals = tally.chars
            totals[0] += c_system
            totals[1] += c_user
            totals[2] += c_input
            totals[3] += c_assistant

    def _skip_long_line(self, fh: IO[bytes], name: str, line: int, nbytes: int,
                        counts: FileCounts) -> None:
        while True:  # skip the rest of the line without holding it in memory
            chunk = fh.readline(1 << 20)
            nbytes += len(chunk)
            self._tick(len(chunk))
            if not chunk or chunk[-1:] == b"\n":
                break
        counts.records += 1
        counts.invalid += 1
        self.tally.invalid += 1
        self.error(name, line, "line_too_long",
                   f"This line is {nbytes / 2**20:.1f} MiB, over the limit of "
                   f"{self.options.max_line_bytes / 2**20:.1f} MiB; it was not read.")

    # --- one record ---------------------------------------------------------------------

    def handle(self, raw: Any, name: str, index: int, line: int, counts: FileCounts,
               element: int | None = None, check_text: bool = False,
               parsed: Any = NOT_TRIED) -> Turns | None:
        """The precise path: every check, every message. Returns the turns when valid.

        `raw`: the line's bytes, or an array's element already parsed (`element` set);
        `parsed`: the line's value already parsed, or UNPARSED when that failed."""
        counts.records += 1
        tally = self.tally
        where = f"Element {element}" if element else "The record"
        obj = None
        try:
            if element is None:
                obj = loads(raw) if parsed is NOT_TRIED or parsed is UNPARSED else parsed
            else:
                obj = raw
                if check_text:
                    try:
                        orjson.dumps(obj)
                    except TypeError:
                        raise JsonProblem("invalid_utf8", "contains an escape like \\ud800 for "
                                          "half of a character (an unpaired surrogate).") from None
            map_warnings = None
            if self.options.field_map:
                obj, map_warnings = mapping.apply_map(obj, self.options.field_map)
            fmt, turns, extra, warnings = normalise(obj)
            if extra and self.options.strict:
                raise Reject("unknown_keys", f"has keys that are not used for training: "
                                             f"{', '.join(sorted(extra))} (--strict).")
        except (JsonProblem, Reject) as exc:
            counts.invalid += 1
            tally.invalid += 1
            self.error(name, line, exc.code, _sentence(where, exc.message))
            return None
        except UnknownFormat as exc:
            counts.invalid += 1
            tally.invalid += 1
            tally.error_counts["unknown_format"] += 1
            schema = tally.schemas.get(exc.keys)
            if schema is not None:
                schema[2] += 1
            elif len(tally.schemas) < MAX_SCHEMAS:
                tally.schemas[exc.keys] = [name, line, 1, obj]
            else:  # too many shapes to explain one by one
                tally.store("error", (name, line, "unknown_format",
                                      f"{where} has the keys {', '.join(exc.keys)}; expected "
                                      f"{mapping.EXPECTED}."))
            return None
        counts.valid += 1
        if extra:
            seen = tally.extra_keys.get((name, extra))
            if seen is None:
                tally.extra_keys[(name, extra)] = [line, 1]
            else:
                seen[1] += 1
        if warnings or map_warnings:
            for code, message in [*(warnings or ()), *(map_warnings or ())]:
                self.warn(name, line, code, _sentence(where, message))
        length, chars, exchanges = render.measure(turns)
        self._accept(name, index, line, where, (fmt, turns, length, chars, exchanges))
        return turns

    def _accept(self, name: str, index: int, line: int, where: str, result: Any) -> None:
        """Count a valid record into the statistics; warn when long or a duplicate."""
        fmt, turns, length, chars, exchanges = result
        tally = self.tally
        tally.valid += 1
        tally.formats[fmt] += 1
        tally.turns += len(turns)
        tally.exchanges += exchanges
        tally.rendered += length
        total = tally.chars
        total[0] += chars[0]
        total[1] += chars[1]
        total[2] += chars[2]
        total[3] += chars[3]
        very_long = self.options.very_long_chars
        if length > very_long:
            self.warn(name, line, "very_long",
                      f"{where} is {length:,} characters of training text (about "
                      f"{approx_tokens(length):,} tokens), over {very_long:,}; it will be cut "
                      f"into several training windows.")
        key = length if length < EXACT_LENGTHS else _bin(length)
        tally.lengths[key] = tally.lengths.get(key, 0) + 1
        key = self.key_of(turns) or 1
        if self.collect is not None:  # a worker: the parent checks, in file order
            self.collect[0].append(key)
            self.collect[1].append(line)
        else:
            self.check_duplicate(key, name, index, line, where)

    def check_duplicate(self, key: int, name: str, index: int, line: int,
                        where: str = "The record") -> None:
        earlier = self.seen.check_add(key, (index << 40) | line)
        if earlier is not None:
            self.tally.duplicates += 1
            other = self.files[earlier >> 40]
            self.warn(name, line, "duplicate",
                      f"{where} is the same conversation as line {earlier & ((1 << 40) - 1)}"
                      f"{'' if str(other) == name else ' of ' + str(other)}.")


def _sentence(where: str, message: str) -> str:
    first = message.split(" ", 1)[0]
    if first in ("is", "has", "ends", "contains", "must"):
        return f"{where} {message}"
    return f"{where}: {message[0].upper()}{message[1:]}" if where != "The record" else \
        f"{message[0].upper()}{message[1:]}"


def _bin(length: int) -> int:
    """Round to 3 significant digits: bounded memory for the length histogram."""
    digits = len(str(length)) - 3
    return round(length, -digits)
