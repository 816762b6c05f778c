"""What a scan counts: issues, statistics and odd shapes, as one value that merges.

The scanner fills a `Tally` as it reads; a worker process fills its own for its chunk of a
big file and the parent merges it in file order (`merge`, shifting the chunk's line
numbers), so one process and many give the same report. `fill_report` turns it into the
ValidationReport the front ends show. See docs/data.md, "Numbers".
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forge_gui.core.data import mapping
from forge_gui.core.data.models import Issue, Stats, UnknownSchema, ValidationReport

log = logging.getLogger(__name__)

IssueTuple = tuple[str, int, str, str]  # (file, line, code, message): cheap to keep and send


def approx_tokens(chars: int) -> int:
    """About four characters a token for English text with common vocabularies."""
    return (chars + 3) // 4


@dataclass
class Tally:
    """Counts and issues of the records read so far (one file, one chunk or the input)."""

    max_issues: int | None = None  # issues kept per kind; beyond it only counted
    valid: int = 0
    invalid: int = 0
    errors: list[IssueTuple] = field(default_factory=list)
    warnings: list[IssueTuple] = field(default_factory=list)
    error_counts: Counter[str] = field(default_factory=Counter)
    warning_counts: Counter[str] = field(default_factory=Counter)
    omitted: Counter[str] = field(default_factory=Counter)  # "error"/"warning" -> not kept
    # keys -> [file, first line, records, a sample record]: unknown shapes, explained once
    schemas: dict[tuple[str, ...], list[Any]] = field(default_factory=dict)
    # (file, unused keys) -> [first line, records]
    extra_keys: dict[tuple[str, frozenset[str]], list[int]] = field(default_factory=dict)
    formats: Counter[str] = field(default_factory=Counter)
    chars: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # system, user, input, assistant
    turns: int = 0
    exchanges: int = 0
    rendered: int = 0
    lengths: dict[int, int] = field(default_factory=dict)  # sample length (binned) -> records
    duplicates: int = 0

    # --- issues -------------------------------------------------------------------------

    def issue(self, kind: str, file: str, line: int, code: str, message: str) -> None:
        counts = self.error_counts if kind == "error" else self.warning_counts
        counts[code] += 1
        self.store(kind, (file, line, code, message))

    def store(self, kind: str, issue: IssueTuple) -> None:
        """Keep an issue already counted, unless `max_issues` of its kind are kept."""
        store = self.errors if kind == "error" else self.warnings
        if self.max_issues is None or len(store) < self.max_issues:
            store.append(issue)
        else:
            self.omitted[kind] += 1

    # --- merging ------------------------------------------------------------------------

    def merge(self, other: Tally, line_offset: int = 0) -> None:
        """Add `other`, read after everything in this tally, its line numbers shifted by
        `line_offset` (a chunk's lines count from its own start); this tally's limit on
        kept issues applies to the merged ones."""
        self.valid += other.valid
        self.invalid += other.invalid
        for kind, issues in (("error", other.errors), ("warning", other.warnings)):
            for file, line, code, message in issues:
                self.store(kind, (file, line + line_offset if line else 0, code, message))
        self.error_counts.update(other.error_counts)
        self.warning_counts.update(other.warning_counts)
        self.omitted.update(other.omitted)
        for keys, (file, line, count, sample) in other.schemas.items():
            known = self.schemas.get(keys)
            if known is not None:
                known[2] += count
            else:
                self.schemas[keys] = [file, line + line_offset, count, sample]
        for key, (line, count) in other.extra_keys.items():
            seen = self.extra_keys.get(key)
            if seen is not None:
                seen[1] += count
            else:
                self.extra_keys[key] = [line + line_offset, count]
        self.formats.update(other.formats)
        for i, n in enumerate(other.chars):
            self.chars[i] += n
        self.turns += other.turns
        self.exchanges += other.exchanges
        self.rendered += other.rendered
        lengths = self.lengths
        for length, n in other.lengths.items():
            lengths[length] = lengths.get(length, 0) + n
        self.duplicates += other.duplicates

    # --- the report ---------------------------------------------------------------------

    def fill_report(self, report: ValidationReport, files: list[Path],
                    duplicate_check_complete: bool) -> None:
        """Write the finished tally into `report` (issues in file order)."""
        report.valid, report.invalid = self.valid, self.invalid
        schema_issues = []
        for keys, (file, line, count, sample) in self.schemas.items():
            schema = _explain_schema(file, line, count, keys, sample)
            report.unknown_schemas.append(schema)
            schema_issues.append(Issue(file=file, line=line, code="unknown_format",
                                       message=schema.explanation))
        for (file, unused), (line, count) in self.extra_keys.items():
            plural = "s" if count != 1 else ""
            self.issue("warning", file, line, "unknown_keys",
                       f"Found {count} record{plural} (first: line {line}) with keys that are "
                       f"not used for training: {', '.join(sorted(unused))}; they are ignored.")
        if self.valid == 0 and not self.error_counts:
            first = str(files[0]) if files else ""
            self.issue("error", first, 0, "no_records",
                       "No training records were found in the input.")
        order = {str(path): n for n, path in enumerate(files)}

        def in_file_order(issue: IssueTuple) -> tuple[int, int]:
            return order.get(issue[0], -1), issue[1]

        report.errors = schema_issues + [Issue(file=f, line=n, code=c, message=m)
                                         for f, n, c, m in sorted(self.errors, key=in_file_order)]
        report.warnings = [Issue(file=f, line=n, code=c, message=m)
                           for f, n, c, m in sorted(self.warnings, key=in_file_order)]
        report.error_counts = dict(self.error_counts.most_common())
        report.warning_counts = dict(self.warning_counts.most_common())
        report.errors_omitted = self.omitted["error"]
        report.warnings_omitted = self.omitted["warning"]
        report.stats = self.stats(duplicate_check_complete)
        log.debug("scan finished: %d valid, %d invalid, %d duplicates", self.valid,
                  self.invalid, self.duplicates)

    def stats(self, duplicate_check_complete: bool = True) -> Stats:
        percentiles = _percentiles(self.lengths)
        return Stats(
            records=self.valid, turns=self.turns, exchanges=self.exchanges,
            formats=dict(self.formats),
            chars=dict(zip(("system", "user", "input", "assistant"), self.chars, strict=True)),
            rendered_chars=self.rendered, approx_tokens=approx_tokens(self.rendered),
            length_percentiles=percentiles,
            token_percentiles={k: approx_tokens(v) for k, v in percentiles.items()},
            duplicates=self.duplicates, duplicate_check_complete=duplicate_check_complete)


def _explain_schema(file: str, line: int, count: int, keys: tuple[str, ...],
                    sample: Any) -> UnknownSchema:
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
    return UnknownSchema(file=file, first_line=line, records=count, keys=list(keys),
                         expected=mapping.EXPECTED, suggested_map=suggested,
                         explanation=explanation)


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
