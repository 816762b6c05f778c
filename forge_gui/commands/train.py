"""forge-cli train-run (also `train` and `finetune`): the whole run from data to model.

Prints a label per step, streams llama.cpp's own progress unbuffered (raw bytes, so its '\\r'
status line redraws in place) and ends with the model, or with the exact command that
finishes the job. `--json` ends with one summary object. `--write-script FILE` writes a bash
script doing the same with the same tools instead of running anything.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from forge_gui.cli import UsageError
from forge_gui.commands.cancelling import run_cancellable
from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.steps import Cancelled, ProcessStep, Step, StepFailed
from forge_gui.core.pipeline.walk import PipelineObserver, run_pipeline
from forge_gui.core.runs.run import RunSettings, RunState, SettingsError, StepSpec

ALIASES = ("train-run", "train", "finetune")


def register(subparsers) -> None:
    for name in ALIASES:
        p = subparsers.add_parser(
            name, help="fine-tune a base model on your data and register it with Ollama"
            if name == "train-run" else "same as train-run",
            description="validate → prepare → (convert) → preflight → fine-tune → check → "
                        "quantize → try a prompt → Modelfile → create in Ollama")
        add_train_arguments(p)
        p.set_defaults(handler=train_run)


def add_train_arguments(p) -> None:
    p.add_argument("--data", type=Path, nargs="+", metavar="PATH",
                   help="training data files or folders (JSONL / JSON: Alpaca, chat, ShareGPT)")
    p.add_argument("--name", help="the Ollama model to create")
    p.add_argument("--base", help="the base model's Ollama name (its GGUF is found locally)")
    p.add_argument("--base-gguf", type=Path, metavar="FILE", help="the base model's GGUF file")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="continue an interrupted, cancelled or failed run from where it stopped "
                        "(LoRA training resumes from its last complete checkpoint)")
    p.add_argument("--trainer", default="llama.cpp", choices=["llama.cpp"],
                   help="the training backend")
    p.add_argument("--method", default="lora", choices=["lora", "full"],
                   help="lora (default): train an adapter on the base as it is (F16, Q8_0, "
                        "Q4_K_M…); full: every weight of an F32 copy (needs ~16 bytes/parameter)")
    p.add_argument("--lora-rank", type=int, default=RunSettings.model_fields["lora_rank"].default)
    p.add_argument("--lora-alpha", type=float,
                   default=RunSettings.model_fields["lora_alpha"].default)
    p.add_argument("--lora-modules", default=RunSettings.model_fields["lora_modules"].default,
                   help="layers that get an adapter (default: every linear layer)")
    p.add_argument("--checkpoint-every", type=int,
                   default=RunSettings.model_fields["checkpoint_every"].default, metavar="STEPS",
                   help="LoRA: save a checkpoint every STEPS training steps (for --resume)")
    p.add_argument("--use-adapter", action="store_true",
                   help="LoRA: create the Ollama model FROM the base with the adapter as "
                        "ADAPTER (Ollama 0.30+) instead of a merged copy")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default 1e-3 for LoRA, 1e-5 for full)")
    p.add_argument("--ctx", type=int, default=512,
                   help="training context in tokens, a multiple of 256 (default 512)")
    p.add_argument("--val-split", type=float, default=0.05,
                   help="share of the text llama-finetune uses for validation loss")
    p.add_argument("--val-fraction", type=float, default=0.0,
                   help="share of records held out into a separate eval file")
    p.add_argument("--quantize", default="auto",
                   help="output type: auto (default: the base's own type for LoRA, Q8_0 for "
                        "full), Q8_0, Q4_K_M, F16, … or 'none' to keep the trained file as is")
    p.add_argument("--map", dest="field_map", default="", metavar="NEW=OLD,…",
                   help="rename fields of your records, e.g. output=response")
    p.add_argument("--system", help="system prompt baked into the Ollama model")
    p.add_argument("--threads", type=int, help="CPU threads (default: physical cores)")
    p.add_argument("--ngl", type=int, dest="gpu_layers", help="layers on the GPU (GPU builds)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--prompt", dest="smoke_prompt", help="the prompt tried after training")
    p.add_argument("--tools-dir", type=Path, help="a folder of llama.cpp tools to use first")
    p.add_argument("--host", dest="ollama_host", help="Ollama server (default $OLLAMA_HOST)")
    p.add_argument("--force", action="store_true", help="replace an Ollama model of that name")
    p.add_argument("--workdir", type=Path, help="the run folder (new or empty; default: a new "
                                                 "folder under Forge's runs)")
    p.add_argument("--no-create", action="store_true",
                   help="stop with the GGUF and the Modelfile; print the command to finish")
    p.add_argument("--json", action="store_true", help="end with a JSON summary on stdout")
    p.add_argument("--write-script", type=Path, metavar="FILE",
                   help="write a bash script doing the same run instead of running it")


def settings_from_args(args) -> RunSettings:
    """RunSettings from the command line; UsageError (exit 2) for anything unusable."""
    if not args.data or not args.name:
        raise UsageError("give the training data (--data PATH) and the model's name (--name "
                         "NAME), or --resume RUN_DIR to continue a run.")
    for path in args.data:
        if not path.exists():
            raise UsageError(f"{path} does not exist.")
    if args.base_gguf is not None and not args.base_gguf.is_file():
        raise UsageError(f"{args.base_gguf} does not exist or is not a file.")
    if not args.base and not args.base_gguf:
        raise UsageError("give the base model: --base NAME (an Ollama model) or --base-gguf FILE.")
    try:
        from forge_gui.core.data import parse_map

        field_map = parse_map(args.field_map)
    except ValueError as exc:
        raise UsageError(f"--map: {exc}") from None
    quantize = (None if args.quantize.lower() in ("none", "f32") else
                "auto" if args.quantize.lower() == "auto" else args.quantize.upper())
    extra = {"smoke_prompt": args.smoke_prompt} if args.smoke_prompt else {}
    try:  # the ranges, the context and the names are core's rules (core/runs/run.py RULES)
        return RunSettings.checked(
            data=[p.resolve() for p in args.data], field_map=field_map, name=args.name,
            base=args.base, base_gguf=args.base_gguf.resolve() if args.base_gguf else None,
            trainer=args.trainer, method=args.method, lora_rank=args.lora_rank,
            lora_alpha=args.lora_alpha, lora_modules=args.lora_modules,
            checkpoint_every=args.checkpoint_every, use_adapter=args.use_adapter,
            epochs=args.epochs, learning_rate=args.lr, ctx=args.ctx,
            val_split=args.val_split, val_fraction=args.val_fraction, seed=args.seed,
            threads=args.threads, gpu_layers=args.gpu_layers, quantize=quantize, system=args.system,
            create=not args.no_create, force=args.force, tools_dir=args.tools_dir,
            ollama_host=args.ollama_host, **extra)
    except SettingsError as exc:
        raise UsageError(str(exc)) from None


class ConsoleObserver(PipelineObserver):
    """Labels and messages on stderr; the tools' raw output passed through as it comes."""

    def __init__(self, specs: list[StepSpec]) -> None:
        self.index = {spec.key: i + 1 for i, spec in enumerate(specs)}
        self.total = len(specs)
        self.err = sys.stderr

    def _label(self, spec: StepSpec, suffix: str = "") -> None:
        print(f"\n==> [{self.index[spec.key]}/{self.total}] {spec.label}{suffix}", file=self.err,
              flush=True)

    def step_started(self, spec: StepSpec, step: Step) -> None:
        self._label(spec)
        if isinstance(step, ProcessStep):
            print("    $ " + " ".join(step.argv), file=self.err, flush=True)

    def step_skipped(self, spec: StepSpec) -> None:
        self._label(spec, " — not needed")

    def progress(self, event: ProgressEvent) -> None:
        if event.message and event.phase is None:  # process progress is shown raw instead
            print(f"    {event.message}", file=self.err, flush=True)

    def output(self, data: bytes) -> None:
        stream = getattr(self.err, "buffer", None)
        if stream is not None:
            self.err.flush()
            stream.write(data)
            stream.flush()
        else:
            self.err.write(data.decode("utf-8", "replace"))


def summary(state: RunState) -> dict:
    a = state.artifacts
    return {"run_dir": str(state.run_dir),
            "output_gguf": str(a.output_gguf) if a.output_gguf else None,
            "train_loss_first": a.train_loss_first, "train_loss_last": a.train_loss_last,
            "val_loss_last": a.val_loss_last,
            "modelfile": str(a.modelfile) if a.modelfile else None, "model": a.model}


def build_specs(settings: RunSettings) -> list[StepSpec]:
    from forge_gui.core.pipeline.train_pipeline import train_specs

    try:
        return train_specs(settings)
    except StepFailed as exc:  # e.g. a name Ollama would refuse: a usage error
        raise UsageError(str(exc)) from None


def train_run(args) -> int:
    if args.resume is not None:
        state, specs, start = resume_state(args.resume)
        from forge_gui.core.runs.name_lock import NameBusy, hold_name_for
        try:
            name_lock = hold_name_for(state.settings)
        except NameBusy as exc:
            print(f"forge-cli: {exc}", file=sys.stderr)
            return 1
        print(f"Resuming {state.run_dir} at: {specs[start].label}", file=sys.stderr, flush=True)
        code = run_in_thread(specs, state, start)
        return finish(state, code, args.json)
    settings = settings_from_args(args)
    specs = build_specs(settings)
    if args.write_script:
        return write_script(args.write_script, settings, args.workdir)
    from forge_gui.core.runs.name_lock import NameBusy, hold_name_for
    try:
        name_lock = hold_name_for(settings)  # noqa: F841 - one run per model name until we end
    except NameBusy as exc:
        print(f"forge-cli: {exc}", file=sys.stderr)
        return 1
    try:
        state = RunState.create(settings, args.workdir)
    except OSError as exc:  # e.g. a full disk where the run folder goes
        from forge_gui.core.base.fs_errors import describe_os_error
        raise UsageError(describe_os_error(exc, doing="create")) from None
    print(f"Run folder: {state.run_dir}", file=sys.stderr, flush=True)
    code = run_in_thread(specs, state)
    return finish(state, code, args.json)


def resume_state(run_dir: Path) -> tuple[RunState, list[StepSpec], int]:
    """The run, its steps and the index of the first step that has not finished."""
    from forge_gui.core.pipeline.train_pipeline import resume_point

    try:
        state = RunState.load(run_dir)
    except FileNotFoundError:
        raise UsageError(f"{run_dir} is not a Forge run folder (it has no run.json).") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{run_dir / 'run.json'} cannot be read: {exc}") from None
    if state.record.status == "done":
        raise UsageError(f"The run in {run_dir} has already finished.")
    specs = build_specs(state.settings)
    return state, specs, resume_point(state, specs)


def finish(state: RunState, code: int, as_json: bool) -> int:
    a = state.artifacts
    if code == 0:
        if a.completion_answer:
            print(f"\nllama-completion answered: {a.completion_answer!r}", file=sys.stderr)
        elif a.completion_answer is not None:  # a barely trained model may say nothing yet
            print(f"\nllama-completion generated {a.completion_tokens or 0} token(s), no visible "
                  "text (more data or epochs usually help).", file=sys.stderr)
        if a.model:
            print(f"Created model '{a.model}'. Run: ollama run {a.model}", file=sys.stderr)
            if a.smoke_answer is not None:
                print(f"First answer: {a.smoke_answer}", file=sys.stderr)
    if a.finish_command and not a.model and code in (0, 1) and a.modelfile:
        print(f"\nTo register the model with Ollama, run:\n  {a.finish_command}", file=sys.stderr)
    if code in (1, 130):
        print(f"Resume it with: forge-cli train-run --resume {state.run_dir}", file=sys.stderr)
    if as_json:
        print(json.dumps(summary(state)))
    return code


def run_in_thread(specs: list[StepSpec], state: RunState, start: int = 0) -> int:
    """Run the pipeline in a worker thread so Ctrl-C (or SIGTERM) in the main thread cancels it:
    the tools' process trees are stopped and the run is marked cancelled (commands/cancelling.py)."""
    try:
        run_cancellable(lambda cancel: run_pipeline(specs, state, ConsoleObserver(specs), cancel,
                                                  start=start))
    except Cancelled:
        print(f"forge-cli: cancelled; the run folder is {state.run_dir}", file=sys.stderr)
        return 130
    except StepFailed as error:
        print(f"\nforge-cli: {error}", file=sys.stderr)
        print(f"The run folder is {state.run_dir}", file=sys.stderr)
        return 1
    except Exception as error:
        if type(error).__name__ == "DataInputError":  # an unreadable input path: usage, exit 2
            raise UsageError(str(error)) from None
        raise
    return 0


def write_script(path: Path, settings: RunSettings, workdir: Path | None) -> int:
    """Write the bash script for this run (nothing else runs); never over an existing file."""
    from forge_gui.core.pipeline.train_pipeline import write_script as write

    if path.exists():
        raise UsageError(f"{path} already exists; choose a new file name for the script.")
    try:
        write(settings, path, workdir)
    except StepFailed as exc:
        print(f"forge-cli: {exc}", file=sys.stderr)
        return 1
    print(f"Wrote {path}. Run it with: bash {path}", file=sys.stderr)
    return 0
