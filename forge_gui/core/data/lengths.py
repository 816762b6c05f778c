"""Record lengths against the training context: the Data page's Statistics (no Qt here).

Lengths are the record's length in the run's actual training format (the base's own chat
template, ChatML or the plain text: its texts plus the characters that format adds around them,
measured by rendering with it), in tokens estimated at about 4 characters a token (the
scanner's rule, core/data/scan.py), until a base's vocabulary counts them (the preflight).
What happens to a record longer than the context depends on the format (docs/training.md):
plain text is one stream cut into windows of the context, so a long
record is learnt in pieces; a chat-format base trains each conversation as one sample, and
llama-finetune-lora skips one longer than the context.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from forge_gui.core.base.steps import CancelToken
from forge_gui.core.data.models import ValidationOptions, ValidationReport
from forge_gui.core.data.scan import approx_tokens
from forge_gui.core.formats.chat_format import ChatFormat, Turns

log = logging.getLogger(__name__)

DEFAULT_BINS = 40


@dataclass(frozen=True)
class RecordShapes:
    """What a record's length in any training format follows from, read once per record:
    (characters of its texts, system messages, exchanges with an input, exchanges without).
    The format is often chosen after the data (the base comes later): `tokens(fmt)` then
    adds that format's frame lengths (ChatFormat.lengths, measured by rendering with the
    format itself, the base's own chat template included)."""

    rows: list[tuple[int, int, int, int]]

    def tokens(self, fmt: ChatFormat) -> list[int]:
        """Each record's length in `fmt`, in tokens estimated at about 4 characters a token."""
        f = fmt.lengths
        return [approx_tokens(chars + systems * f.system + (with_input + without) * f.exchange
                              + without * f.no_input
                              + max(0, with_input + without - 1) * f.separator)
                for chars, systems, with_input, without in self.rows]


def shape_of(turns: Turns) -> tuple[int, int, int, int]:
    """A record's RecordShapes row: the texts that are rendered (a trailing question is not)."""
    chars = systems = with_input = without = 0
    question: tuple[str, str | None] | None = None
    for role, content, inp in turns:
        if role == "system":
            chars, systems = chars + len(content), systems + 1
        elif role == "user":
            question = (content, inp)
        elif question is not None:
            chars += len(question[0]) + len(question[1] or "") + len(content)
            with_input, without = (with_input + 1, without) if question[1] else \
                (with_input, without + 1)
            question = None
    return chars, systems, with_input, without


def record_shapes(paths: list[Path], options: ValidationOptions | None = None,
                  cancel: CancelToken | None = None) -> RecordShapes:
    """Every valid record's shape, so its length can be given in whichever format the run
    trains in (the Data page reads the data before the base is chosen)."""
    from forge_gui.core.data.scan import Scanner

    # the scanner's own records (tuples): iter_conversations' models cost 3x the validation
    return RecordShapes([shape_of(turns) for _file, _line, turns in Scanner(
        [Path(p) for p in paths], options, None, cancel).records()])


def record_tokens(paths: list[Path], options: ValidationOptions | None = None,
                  cancel: CancelToken | None = None) -> dict[str, list[int]]:
    """Each valid record's length in (estimated) tokens in each of Forge's fixed formats
    (plain, ChatML), by format key; `record_shapes` gives it in any format."""
    from forge_gui.core.formats.chat_format import FORMATS

    shapes = record_shapes(paths, options, cancel)
    return {key: shapes.tokens(fmt) for key, fmt in FORMATS.items()}


@dataclass(frozen=True)
class LengthHistogram:
    """Counts of record lengths in equal bins from 0, and how many exceed the context."""

    edges: list[int]  # len(counts) + 1 bin edges in tokens, edges[0] == 0
    counts: list[int]
    ctx: int
    over: int  # records longer than ctx
    total: int
    longest: int
    chat: bool = False  # trained one conversation a sample (long ones skipped)
    approximate: bool = True

    def sentence(self) -> str:
        """What the trainer will do with the records longer than the context, said once."""
        about = "about " if self.approximate else ""
        if not self.total:
            return "No records to measure yet."
        if not self.over:
            return (f"Every record fits the {self.ctx}-token training context (the longest is "
                    f"{about}{self.longest:,} tokens).")
        noun = "conversation" if self.chat else "record"
        many = f"{self.over:,} of {self.total:,} {noun}s are" if self.over > 1 else \
            f"1 of {self.total:,} {noun}s is"
        if self.chat:
            return (f"{many} longer than the {self.ctx}-token context ({about}{self.longest:,} "
                    "tokens at most) and will be skipped by the trainer: raise the context "
                    "on the Trainer page to keep them.")
        return (f"{many} longer than the {self.ctx}-token context ({about}{self.longest:,} "
                "tokens at most) and will be cut: the trainer learns each in pieces of the "
                "context, not as a whole.")


def histogram(lengths: list[int], ctx: int, bins: int = DEFAULT_BINS, chat: bool = False,
              approximate: bool = True) -> LengthHistogram:
    """Equal bins from 0 up to past both the longest record and the context, with round
    edges, so the context's marker always falls inside the chart."""
    longest = max(lengths, default=0)
    top = max(longest, ctx) * 1.05 + 1
    width = _round_width(top / bins)
    n = max(1, math.ceil(top / width))
    counts = [0] * n
    for length in lengths:
        counts[min(n - 1, length // width)] += 1
    return LengthHistogram(edges=[i * width for i in range(n + 1)], counts=counts, ctx=ctx,
                           over=sum(1 for length in lengths if length > ctx),
                           total=len(lengths), longest=longest, chat=chat,
                           approximate=approximate)


def _round_width(raw: float) -> int:
    """1, 2 or 5 × a power of ten at or above `raw` (bins a person can read)."""
    if raw <= 1:
        return 1
    power = 10 ** math.floor(math.log10(raw))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= raw)


def stats_rows(report: ValidationReport) -> list[tuple[str, str]]:
    """(what, value) rows a person reads: records kept and rejected, duplicates, tokens."""
    s = report.stats
    about = "about " if s.tokens_approximate else ""
    rows = [
        ("Records kept", f"{report.valid:,}"),
        ("Records rejected", f"{report.invalid:,}"),
        ("Warnings", f"{sum(report.warning_counts.values()) or len(report.warnings):,}"),
        ("Duplicates", f"{s.duplicates:,}" + ("" if s.duplicate_check_complete else
                                              " (checked against the first 1.4 million)")),
        ("Formats", ", ".join(f"{name} {n:,}" for name, n in s.formats.items()) or "—"),
        ("Turns", f"{s.turns:,}"),
        ("Question/answer exchanges", f"{s.exchanges:,}"),
        ("Training text", f"{s.rendered_chars:,} characters"),
        ("Tokens", f"{about}{s.approx_tokens:,}"),
    ]
    pct = s.token_percentiles
    if pct:
        rows.append(("Tokens per record", f"{about}{pct.get('p50', 0):,} typical, "
                                          f"{pct.get('max', 0):,} at most"))
    if report.files:
        rows.append(("Files", f"{len(report.files):,}"))
    return rows


__all__ = ["record_tokens", "record_shapes", "RecordShapes", "LengthHistogram", "histogram", "stats_rows"]
