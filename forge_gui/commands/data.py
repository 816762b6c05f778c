"""Data commands: validate-training-data, prepare-training-data, train-data init."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from forge_gui.cli import UsageError
from forge_gui.core.base import paths as app_paths
from forge_gui.core.base.atomic import atomic_write_bytes, atomic_write_text, same_file
from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.data import (
    DataInputError,
    DataInvalid,
    ValidationOptions,
    ValidationReport,
    format_map,
    parse_map,
    prepare_training_data,
    val_path_for,
    validate_paths,
)
from forge_gui.core.data.sources import expand_paths
from forge_gui.core.formats.chat_format import PLAIN

SHOWN_ERRORS = 20
SAMPLE_FILES = ("README.md", "sample.jsonl")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "validate-training-data", help="check training data and report every problem",
        description="Check JSONL/JSON training data (Alpaca, chat messages, ShareGPT) and "
                    "report each bad record with its file, line and a reason. "
                    "Exit 0: all valid; 1: some records invalid; 2: usage or unreadable path.")
    _data_options(p)
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.add_argument("--report", metavar="FILE", type=Path, help="write the JSON report to FILE")
    p.set_defaults(handler=cmd_validate)

    p = subparsers.add_parser(
        "prepare-training-data", help="turn training data into the text llama.cpp trains on",
        description=f"Render every record in {PLAIN.label}, records separated by a blank line. "
                    "Refuses invalid input.")
    _data_options(p)
    p.add_argument("-o", "--output", required=True, type=Path, metavar="FILE",
                   help="the training text to write")
    p.add_argument("--format", default="llama.cpp",
                   choices=["llama.cpp", "chat-jsonl", "segments-jsonl"],
                   help="output format: llama.cpp (the plain training text, default), "
                        "chat-jsonl (one {\"messages\": […]} conversation a line) or "
                        "segments-jsonl (one {\"segments\": [[text, trained], …]} a line: the "
                        "text in --base-gguf's own chat format, trained where the answers are)")
    p.add_argument("--base-gguf", type=Path, metavar="FILE",
                   help="segments-jsonl: the base model whose chat template (or, without one, "
                        "Forge's plain format and the base's EOS) the text is written in")
    p.add_argument("--val-fraction", type=float, default=0.0, metavar="F",
                   help="hold out this share of records into FILE's .val twin (e.g. 0.1)")
    p.add_argument("--seed", type=int, default=42, help="seed for choosing held-out records")
    p.add_argument("--force", action="store_true", help="replace existing output files")
    p.set_defaults(handler=cmd_prepare)

    p = subparsers.add_parser("train-data", help="start a training data folder")
    sub = p.add_subparsers(dest="train_data_command", metavar="ACTION", required=True)
    init = sub.add_parser("init", help="write a README and a sample.jsonl to start from")
    init.add_argument("--out", required=True, type=Path, metavar="DIR")
    init.set_defaults(handler=cmd_init)


def _data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="JSONL/JSON files or folders (read recursively)")
    p.add_argument("--map", metavar="NEW=OLD,...", default="",
                   help="rename fields, e.g. --map output=response,input=context; OLD may be "
                        "a dotted path such as instances.0.output")
    p.add_argument("--strict", action="store_true", help="unknown keys are errors")
    p.add_argument("--max-line-bytes", type=int, default=None, metavar="N",
                   help="longest line read, in bytes (default 8 MB)")
    p.add_argument("--max-issues", type=int, default=None, metavar="N",
                   help="errors and warnings listed in the report (default 10000; 0: all)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="processes for validating and preparing big JSONL files (default: CPU "
                        "cores, up to 4; 1: no extra processes)")


# Each worker holds ~20-25 MB; four keep the peak under the 150 MB the data core promises.
DEFAULT_MAX_WORKERS = 4


def _options(args) -> ValidationOptions:
    try:
        field_map = parse_map(args.map)
    except ValueError as exc:
        raise UsageError(f"--map: {exc}") from None
    options = ValidationOptions(field_map=field_map, strict=args.strict)
    if args.max_line_bytes is not None:
        if args.max_line_bytes < 1:
            raise UsageError("--max-line-bytes must be a positive number")
        options.max_line_bytes = args.max_line_bytes
    options.workers = (args.workers if args.workers is not None
                       else min(DEFAULT_MAX_WORKERS, os.cpu_count() or 1))
    if options.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.max_issues is not None:
        options.max_issues = None if args.max_issues <= 0 else args.max_issues
    return options


def _progress():
    """A one-line progress display on a terminal; nothing when output is redirected."""
    if not sys.stderr.isatty():
        return None

    def show(event: ProgressEvent) -> None:
        print(f"\r{event.message or ''} ({(event.fraction or 0) * 100:.0f}%)   ",
              end="", file=sys.stderr, flush=True)

    return show


def _end_progress(progress) -> None:
    if progress is not None:
        print("\r" + " " * 60 + "\r", end="", file=sys.stderr, flush=True)


def cmd_validate(args) -> int:
    options = _options(args)
    if args.report is not None:
        _refuse_input_as_output(args.paths, [args.report])
    progress = _progress()
    try:
        report = validate_paths(args.paths, options, progress=progress)
    except DataInputError as exc:
        raise UsageError(str(exc)) from None
    finally:
        _end_progress(progress)
    if args.report is not None:
        atomic_write_text(args.report, report.model_dump_json(indent=2) + "\n")
    code = 0 if report.ok else 1
    try:
        if args.json:
            print(report.model_dump_json(indent=2))
        else:
            print_report(report)
            if args.report is not None:
                print(f"Full report written to {args.report}")
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`: not an error of the data
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code


def print_report(report: ValidationReport, out=None) -> None:
    out = out or sys.stdout

    def say(text: str = "") -> None:
        print(text, file=out)

    records = report.valid + report.invalid
    say(f"Checked {len(report.files)} file{'s' if len(report.files) != 1 else ''}: "
        f"{records:,} records, {report.valid:,} valid, {report.invalid:,} invalid.")
    if len(report.files) > 1:
        for f in report.files[:20]:
            say(f"  {f.path}: {f.records:,} records, {f.valid:,} valid, {f.invalid:,} invalid")
        if len(report.files) > 20:
            say(f"  ... and {len(report.files) - 20} more files")
    for skipped in report.skipped_paths[:10]:
        say(f"  skipped {skipped.path} ({skipped.reason})")
    if len(report.skipped_paths) > 10:
        say(f"  ... and {len(report.skipped_paths) - 10} more skipped")
    for schema in report.unknown_schemas:
        say()
        say(f"{schema.file}: {schema.explanation}")
        say(f"Run again with --map {format_map(schema.suggested_map)}." if schema.suggested_map
            else "Run again with --map new=old,... to rename them.")
    if report.error_counts:
        say()
        say("Errors by code:")
        for code, count in report.error_counts.items():
            say(f"  {code:<22}{count:>10,}")
    if report.warning_counts:
        say("Warnings by code (records kept):")
        for code, count in report.warning_counts.items():
            say(f"  {code:<22}{count:>10,}")
    listed = [e for e in report.errors if e.code != "unknown_format"
              or not report.unknown_schemas][:SHOWN_ERRORS]
    if listed:
        say()
        say(f"First {len(listed)} error{'s' if len(listed) != 1 else ''}:")
        for issue in listed:
            where = f"{issue.file}:{issue.line}" if issue.line else issue.file
            say(f"  {where}: {issue.code}: {issue.message}")
    if report.warnings and not report.errors:
        say()
        say("First warnings:")
        for issue in report.warnings[:5]:
            where = f"{issue.file}:{issue.line}" if issue.line else issue.file
            say(f"  {where}: {issue.code}: {issue.message}")
    stats = report.stats
    if stats.records:
        pct = stats.token_percentiles
        say()
        formats = ", ".join(f"{k} {v:,}" for k, v in stats.formats.items())
        say(f"Valid records: {stats.records:,} ({formats}); "
            f"{stats.turns:,} turns, {stats.exchanges:,} question/answer exchanges.")
        say(f"Training text: {stats.rendered_chars:,} characters, about {stats.approx_tokens:,} "
            f"tokens (approximate, 4 characters a token); per sample p50 {pct.get('p50', 0):,}, "
            f"p90 {pct.get('p90', 0):,}, max {pct.get('max', 0):,} tokens.")
        if not stats.duplicate_check_complete:
            say("Duplicates were looked for among the first ~1.4 million distinct records.")
    if report.errors or report.warnings:
        say()
        say("Run with --json or --report FILE for the full list.")


def cmd_prepare(args) -> int:
    options = _options(args)
    out: Path = args.output
    if not 0.0 <= args.val_fraction < 1.0:
        raise UsageError("--val-fraction must be at least 0 and less than 1 (e.g. 0.1)")
    targets = [out] + ([val_path_for(out)] if args.val_fraction > 0 else [])
    _refuse_input_as_output(args.paths, targets)
    for target in targets:
        if target.is_dir():
            raise UsageError(f"{target} is a folder; give a file name for the training text.")
        if target.exists() and not args.force:
            raise UsageError(f"{target} already exists; choose another file or pass --force "
                             f"to replace it.")
    chat_format = None
    if args.format == "segments-jsonl":
        if args.base_gguf is None:
            raise UsageError("--format segments-jsonl needs --base-gguf FILE (the base model "
                             "whose chat format the text is written in).")
        from forge_gui.core.formats.detect import detect
        from forge_gui.core.llamacpp.gguf_info import inspect_gguf

        info = inspect_gguf(args.base_gguf)
        chat_format, why = detect(info.chat_template, info.bos_token, info.eos_token,
                   info.add_bos_token)
        print(why, file=sys.stderr)
    progress = _progress()
    try:
        result = prepare_training_data(args.paths, out, options=options, fmt=args.format,
                                       val_fraction=args.val_fraction, seed=args.seed,
                                       progress=progress, chat_format=chat_format)
    except DataInputError as exc:
        raise UsageError(str(exc)) from None
    except DataInvalid as exc:
        _end_progress(progress)
        print(f"forge-cli: {exc.message}", file=sys.stderr)
        print(exc.hint, file=sys.stderr)
        return 1
    finally:
        _end_progress(progress)
    print(f"Prepared {result.samples:,} samples ({result.held_out:,} held out) → {result.out} "
          f"({result.bytes:,} bytes)")
    if result.val_out is not None:
        print(f"Held-out samples → {result.val_out}")
    if result.report.warning_counts:
        counts = ", ".join(f"{c} {n}" for c, n in result.report.warning_counts.items())
        print(f"Warnings (records kept): {counts}; see validate-training-data for details.")
    data = " ".join(str(p) for p in args.paths)
    mapped = f" --map {args.map}" if args.map else ""
    print(f"Next: forge-cli train-run --data {data}{mapped} --base MODEL --name NAME")
    return 0


def cmd_init(args) -> int:
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder")
    existing = [out / name for name in SAMPLE_FILES if (out / name).exists()]
    if existing:
        raise UsageError(f"{existing[0]} already exists; not overwriting it. Choose a new "
                         f"folder with --out.")
    source = app_paths.resources_dir() / "sample"
    out.mkdir(parents=True, exist_ok=True)
    for name in SAMPLE_FILES:
        atomic_write_bytes(out / name, (source / name).read_bytes())
    print(f"Wrote {out / 'README.md'} and {out / 'sample.jsonl'}")
    print(f"Next: forge-cli validate-training-data {out}")
    return 0


def _refuse_input_as_output(inputs: list[Path], targets: list[Path]) -> None:
    try:
        files, _ = expand_paths(inputs)
    except DataInputError as exc:
        raise UsageError(str(exc)) from None
    for target in targets:
        if any(same_file(source, target) for source in files):
            raise UsageError(f"{target} is one of the input files; Forge never writes over "
                             f"your data. Choose another file.")
