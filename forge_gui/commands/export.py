"""forge-cli export-job: a training job folder for a GPU host or cluster (Axolotl)."""

from __future__ import annotations

import sys
from pathlib import Path

from forge_gui.cli import UsageError
from forge_gui.core.runs.run import LORA_LR, RunSettings


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export-job", help="write a training job (data, Axolotl YAML, README) for a GPU host",
        description="Validate and normalise the data, then write OUT_DIR: data/train.jsonl as "
                    "chat messages, an Axolotl YAML with this run's settings, a DeepSpeed "
                    "ZeRO-2 config and a README with the commands for one GPU, for N GPUs, and "
                    "the forge-cli retrain command that brings the adapter home. OUT_DIR must "
                    "be new or empty. Exit 0: written; 1: the data has invalid records; "
                    "2: bad arguments.")
    p.add_argument("out_dir", type=Path, nargs="?", metavar="OUT_DIR",
                   help="the job folder (new or empty); after --data, the last path is OUT_DIR")
    p.add_argument("--engine", default="axolotl", choices=["axolotl"],
                   help="the trainer on the GPU host")
    p.add_argument("--hf-base", required=True, metavar="ORG/NAME",
                   help="the Hugging Face model to train (Forge cannot derive it from a GGUF)")
    p.add_argument("--data", type=Path, nargs="+", required=True, metavar="PATH",
                   help="training data files or folders (JSONL / JSON: Alpaca, chat, ShareGPT)")
    p.add_argument("--map", dest="field_map", default="", metavar="NEW=OLD,…",
                   help="rename fields of your records, e.g. output=response")
    p.add_argument("--base", metavar="NAME",
                   help="the same model in Ollama: checked against --hf-base, and the base of "
                        "the retrain command")
    p.add_argument("--base-gguf", type=Path, metavar="FILE",
                   help="the same model as a GGUF file (instead of --base)")
    p.add_argument("--name", help="the Ollama model the retrain command creates "
                                  "(default: NAME-tuned from --hf-base)")
    defaults = RunSettings.model_fields
    p.add_argument("--lora-rank", type=int, default=defaults["lora_rank"].default)
    p.add_argument("--lora-alpha", type=float, default=defaults["lora_alpha"].default)
    p.add_argument("--lora-modules", default=defaults["lora_modules"].default,
                   help="Forge's layer names (attn_q,…,ffn_down or all), mapped to q_proj…")
    p.add_argument("--lr", type=float, default=LORA_LR, help=f"learning rate (default {LORA_LR:g})")
    p.add_argument("--epochs", type=int, default=defaults["epochs"].default)
    p.add_argument("--ctx", type=int, default=2048,
                   help="sequence length in tokens, a multiple of 256 (default 2048)")
    p.add_argument("--val-fraction", type=float, default=0.0,
                   help="share of records held out into data/val.jsonl for evaluation")
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(handler=cmd_export_job)


def default_name(hf_base: str) -> str:
    import re

    stem = re.sub(r"[^a-z0-9._-]+", "-", hf_base.rsplit("/", 1)[-1].lower()).strip("-.")
    return f"{stem[:60] or 'model'}-tuned"


def settings_from_args(args):
    from forge_gui.core.base.model_names import validate_model_name
    from forge_gui.core.data import parse_map
    from forge_gui.core.export.job import ExportSettings
    from forge_gui.core.runs.rules import setting_problems

    if args.out_dir is None:  # `--data a.jsonl b.jsonl OUT_DIR`: --data took every path
        if len(args.data) < 2 or args.data[-1].is_file():
            raise UsageError("give the job folder: forge-cli export-job --hf-base ORG/NAME "
                             "--data PATH… OUT_DIR")
        args.out_dir = args.data.pop()
    for path in args.data:
        if not path.exists():
            raise UsageError(f"{path} does not exist.")
    if args.base and args.base_gguf:
        raise UsageError("give the base once: --base NAME or --base-gguf FILE.")
    if args.base_gguf is not None and not args.base_gguf.is_file():
        raise UsageError(f"--base-gguf: {args.base_gguf} does not exist or is not a file.")
    try:
        field_map = parse_map(args.field_map)
    except ValueError as exc:
        raise UsageError(f"--map: {exc}") from None
    name = args.name or default_name(args.hf_base)
    values = {"epochs": args.epochs, "learning_rate": args.lr, "ctx": args.ctx,
              "val_fraction": args.val_fraction, "lora_rank": args.lora_rank,
              "lora_alpha": args.lora_alpha, "lora_modules": args.lora_modules}
    problems = setting_problems(values)
    if problem := validate_model_name(name):
        problems.append(f"--name: {problem}")
    if args.base and (problem := validate_model_name(args.base)):
        problems.append(f"--base: {problem}")
    if problems:
        raise UsageError(problems[0])
    return ExportSettings(
        data=[p.resolve() for p in args.data], hf_base=args.hf_base, name=name, base=args.base,
        base_gguf=args.base_gguf.resolve() if args.base_gguf else None, field_map=field_map,
        lora_rank=args.lora_rank, lora_alpha=args.lora_alpha, lora_modules=args.lora_modules,
        learning_rate=args.lr, epochs=args.epochs, ctx=args.ctx,
        val_fraction=args.val_fraction, seed=args.seed)


def cmd_export_job(args) -> int:
    from forge_gui.core.base.steps import StepFailed
    from forge_gui.core.data import DataInputError, DataInvalid
    from forge_gui.core.export.job import ExportError, write_job

    settings = settings_from_args(args)
    try:
        result = write_job(settings, args.out_dir)
    except (ExportError, DataInputError) as exc:
        raise UsageError(str(exc)) from None
    except DataInvalid as exc:
        print(f"forge-cli: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(exc.hint, file=sys.stderr)
        return 1
    except StepFailed as exc:  # e.g. the GGUF base cannot be read
        print(f"forge-cli: {exc}", file=sys.stderr)
        return 1
    for warning in result.warnings:
        print(f"forge-cli: warning: {warning}", file=sys.stderr)
    held = f" ({result.held_out:,} held out)" if result.held_out else ""
    print(f"Wrote {result.out_dir}: {result.samples:,} conversations{held}, axolotl.yaml, "
          "deepspeed_zero2.json and README.md.")
    print(f"On the GPU host: cd {result.out_dir.name} && axolotl train axolotl.yaml "
          "(README.md has the N-GPU command and the way home).")
    return 0
