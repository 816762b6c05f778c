"""Prepared training text: every valid record rendered, optionally a seeded held-out share.

Refuses input with invalid records (nothing is written), writes atomically, never writes
over an input file.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from pathlib import Path

from forge_gui.core.base.atomic import atomic_open, same_file
from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.fs_errors import FileAccessError
from forge_gui.core.base.steps import CancelToken
from forge_gui.core.data.models import (
    DataInputError,
    DataInvalid,
    PrepareResult,
    ValidationOptions,
    ValidationReport,
)
from forge_gui.core.data.render import SAMPLE_SEPARATOR
from forge_gui.core.data.scan import Scanner
from forge_gui.core.data.sources import expand_paths
from forge_gui.core.formats.chat_format import ChatFormat, Turns

# llama.cpp: the plain training text; chat-jsonl: {"messages": [...]} per line, for
# --format chat-jsonl (core/formats/chat_format.py); segments-jsonl:
# {"segments": [[text, trained], ...]} per line, the training text in the base's own format
# cut where the loss starts and stops (ChatFormat.segments), what Forge's LoRA trainer reads.
FORMATS = ("llama.cpp", "chat-jsonl", "segments-jsonl")
SEPARATOR = SAMPLE_SEPARATOR.encode("utf-8")
Progress = Callable[[ProgressEvent], None]


def val_path_for(out: Path) -> Path:
    """train.txt -> train.val.txt"""
    return out.with_name(f"{out.stem}.val{out.suffix or '.txt'}")


def prepare_training_data(paths: list[Path], out: Path, *,
                          options: ValidationOptions | None = None, fmt: str = "llama.cpp",
                          val_fraction: float = 0.0, seed: int = 42,
                          progress: Progress | None = None,
                          cancel: CancelToken | None = None,
                          chat_format: ChatFormat | None = None) -> PrepareResult:
    """`chat_format`: the format segments-jsonl writes (core/formats/chat_format.py's `detect` for the
    base); Forge's plain format when not given."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError("val_fraction must be at least 0 and less than 1")
    paths = [Path(p) for p in paths]
    out = Path(out)
    val_out = val_path_for(out) if val_fraction > 0 else None
    inputs, _ = expand_paths(paths)
    for target in filter(None, (out, val_out)):
        for source in inputs:
            if same_file(source, target):
                raise DataInputError(f"{target} is one of the input files; choose another "
                                     f"output file (Forge never writes over your data).")

    held_out = 0
    choose = None
    if val_fraction > 0:
        # A first pass counts the records so exactly round(n * f) are held out.
        first = Scanner(paths, options, _scaled(progress, 0.0, 0.5), cancel, step="prepare")
        first.parallel = True  # only counting: big files may go to workers
        for _ in first.records():
            pass
        _refuse_invalid(first.report, paths)
        n = first.report.valid
        k = min(max(1, round(n * val_fraction)), n - 1) if n >= 2 else 0
        choose = _selection_sampler(n, k, seed)
        progress = _scaled(progress, 0.5, 1.0)

    scanner = Scanner(paths, options, progress, cancel, step="prepare")
    if fmt in ("chat-jsonl", "segments-jsonl"):
        from forge_gui.core.formats.chat_format import PLAIN, jsonl_line

        line: Callable[[Turns], str] = (jsonl_line if fmt == "chat-jsonl"
                                        else (chat_format or PLAIN).segments_line)
        return _prepare_jsonl(scanner, out, val_out, choose, paths, line)
    scanner.parallel = True  # big files are parsed and rendered by workers, in order
    with contextlib.ExitStack() as stack:
        train = _SampleWriter(stack.enter_context(atomic_open(out, "wb")))
        val = _SampleWriter(stack.enter_context(atomic_open(val_out, "wb"))) if val_out else None
        for block in scanner.sample_blocks(sizes=choose is not None):
            if choose is None:
                train.write(block.data, block.samples)
                continue
            assert val is not None and block.sizes is not None  # both come with val_fraction
            start = 0
            for size in block.sizes:
                (val if choose() else train).write(block.data[start:start + size], 1)
                start += size + len(SEPARATOR)
        held_out = val.samples if val is not None else 0
        _refuse_invalid(scanner.report, paths)  # raising here discards both temp files
    return PrepareResult(out=out, val_out=val_out, samples=train.samples, held_out=held_out,
                         bytes=out.stat().st_size, report=scanner.report)


def _prepare_jsonl(scanner: Scanner, out: Path, val_out: Path | None,
                   choose: Callable[[], bool] | None, paths: list[Path],
                   jsonl_line: Callable[[Turns], str]) -> PrepareResult:
    """One conversation per line, as llama-finetune-lora reads them (no separator lines)."""
    counts = {"train": 0, "val": 0}
    try:
        with contextlib.ExitStack() as stack:
            train = stack.enter_context(atomic_open(out, "wb"))
            val = stack.enter_context(atomic_open(val_out, "wb")) if val_out else None
            for _file, _line, turns in scanner.records():
                to_val = choose is not None and choose()
                target = val if to_val else train
                assert target is not None  # choose exists only with a held-out file
                target.write(jsonl_line(turns).encode("utf-8") + b"\n")
                counts["val" if to_val else "train"] += 1
            _refuse_invalid(scanner.report, paths)
    except OSError as exc:  # a full disk at a write or the final flush: name the file
        if exc.filename is None and not isinstance(exc, FileAccessError):
            raise FileAccessError(exc, out) from exc
        raise
    return PrepareResult(out=out, val_out=val_out, samples=counts["train"],
                         held_out=counts["val"], bytes=out.stat().st_size, report=scanner.report)


class _SampleWriter:
    """Samples (UTF-8) separated by SAMPLE_SEPARATOR, written a block at a time."""

    def __init__(self, fh) -> None:
        self.fh = fh
        self.samples = 0

    def write(self, data: bytes, count: int) -> None:
        if count:
            if self.samples:
                self.fh.write(SEPARATOR)
            self.fh.write(data)
            self.samples += count


def _refuse_invalid(report: ValidationReport, paths: list[Path]) -> None:
    if report.ok:
        return
    first = report.errors[0] if report.errors else None
    where = f" First: {first.file}:{first.line} {first.code}: {first.message}" if first else ""
    if report.valid == 0 and report.invalid == 0:
        message = f"No training records were found.{where}"
    else:
        total = report.valid + report.invalid
        message = f"{report.invalid} of {total} records are invalid; nothing was written.{where}"
    shown = " ".join(str(p) for p in paths)
    raise DataInvalid(message, report,
                      hint=f"Run: forge-cli validate-training-data {shown} to see every problem.")


def _selection_sampler(n: int, k: int, seed: int) -> Callable[[], bool]:
    """Knuth's selection sampling: exactly k of n records, in one pass, seeded."""
    rng = random.Random(seed)
    state = {"seen": 0, "picked": 0}

    def choose() -> bool:
        remaining = n - state["seen"]
        state["seen"] += 1
        if remaining > 0 and rng.random() * remaining < k - state["picked"]:
            state["picked"] += 1
            return True
        return False

    return choose


def _scaled(progress: Progress | None, start: float, end: float) -> Progress | None:
    if progress is None:
        return None

    def report(event: ProgressEvent) -> None:
        if event.fraction is not None:
            event = event.model_copy(update={"fraction": start + (end - start) * event.fraction})
        progress(event)

    return report
