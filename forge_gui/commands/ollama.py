"""Ollama commands: retrain (register an existing fine-tune) and train-resolve-base."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from forge_gui.cli import UsageError
from forge_gui.commands.cancelling import run_cancellable
from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.model_names import validate_model_name
from forge_gui.core.base.steps import Cancelled, Step, StepFailed
from forge_gui.core.ollama import params as P
from forge_gui.core.pipeline.walk import PipelineObserver, run_pipeline
from forge_gui.core.runs.run import RunSettings, RunState, SettingsError, StepSpec


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "retrain", help="register an existing fine-tune (GGUF, GGUF LoRA or PEFT) with Ollama",
        description="Resolve what a trainer produced (a PEFT folder is converted to a "
                    "GGUF LoRA for the base first, without torch), merge an adapter into its base when "
                    "needed (llama-export-lora; works on every Ollama version), create the "
                    "Ollama model with the training-format TEMPLATE and stops, and ask it one "
                    "question. Exit 0: created; 1: it could not be created; 2: bad arguments.")
    p.add_argument("--adapter", required=True, type=Path, metavar="PATH",
                   help="a whole-model GGUF, a GGUF LoRA, a PEFT folder, or a folder with one "
                        "adapter file")
    p.add_argument("--base", metavar="NAME|GGUF",
                   help="the base the adapter was trained on: an Ollama model name or a GGUF file")
    p.add_argument("--base-gguf", type=Path, metavar="FILE",
                   help="the base as a GGUF file (the same as --base FILE)")
    p.add_argument("--name", required=True, help="the Ollama model to create")
    p.add_argument("--system", help="the model's SYSTEM prompt")
    p.add_argument("--param", action="append", default=[], metavar="K=V",
                   help="a PARAMETER, e.g. temperature=0.7 (repeatable)")
    p.add_argument("--force", action="store_true", help="replace a model of that name")
    p.add_argument("--use-adapter", action="store_true",
                   help="use ADAPTER instead of merging when the server allows it (< 0.34.1)")
    p.add_argument("--prompt", default=RunSettings.model_fields["smoke_prompt"].default,
                   help="the first question to ask the new model")
    p.add_argument("--tools-dir", type=Path, help="folder holding the llama.cpp tools")
    p.add_argument("--workdir", type=Path, help="run folder (new or empty)")
    p.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    p.set_defaults(handler=cmd_retrain)

    p = subparsers.add_parser(
        "train-resolve-base", help="find an Ollama model's GGUF and say if it can be trained",
        description="Look up NAME[:TAG] in the local Ollama store (OLLAMA_MODELS, "
                    "~/.ollama/models, the Linux service folder) and report its GGUF, "
                    "architecture, weight type and size. Exit 0: found; 1: not found.")
    p.add_argument("name", metavar="NAME[:TAG]")
    p.add_argument("--models-dir", type=Path, help="an Ollama models folder to use instead")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=cmd_resolve_base)


class _Printer(PipelineObserver):
    """Plain progress lines on stderr (stdout stays for the result and --json)."""

    def __init__(self) -> None:
        self._last: tuple[str, int] | None = None

    def step_started(self, spec: StepSpec, step: Step) -> None:
        print(f"== {spec.label}", file=sys.stderr)

    def progress(self, event: ProgressEvent) -> None:
        # Hashing and uploading report often: print a line per message and per 10 %.
        decile = int((event.fraction or 0) * 10)
        if not event.message or (event.message, decile) == self._last:
            return
        self._last = (event.message, decile)
        percent = f"{event.fraction * 100:5.1f}%  " if event.fraction is not None else ""
        print(f"   {percent}{event.message}", file=sys.stderr)

    def output(self, data: bytes) -> None:
        sys.stderr.buffer.write(data)
        sys.stderr.flush()


def _settings(args) -> RunSettings:
    problem = validate_model_name(args.name)
    if problem:
        raise UsageError(f"--name: {problem}")
    try:
        parameters = P.parse_assignments(args.param)
    except P.ParameterError as exc:
        raise UsageError(str(exc)) from exc
    if not args.adapter.exists():
        raise UsageError(f"--adapter: {args.adapter} does not exist.")
    base, base_gguf = args.base, None
    if args.base_gguf is not None:
        if args.base:
            raise UsageError("give the base once: --base NAME or --base-gguf FILE.")
        if not args.base_gguf.expanduser().is_file():
            raise UsageError(f"--base-gguf: {args.base_gguf} does not exist or is not a file.")
        base_gguf = args.base_gguf.expanduser().resolve()
    elif args.base and (Path(args.base).expanduser().is_file()):
        base, base_gguf = None, Path(args.base).expanduser().resolve()
    try:  # core's rules (core/runs/rules.py): the names, as the GUI checks them
        return RunSettings.checked(
            data=[], name=args.name, base=base, base_gguf=base_gguf, system=args.system,
            parameters=parameters, force=args.force, adapter=args.adapter.expanduser().resolve(),
            use_adapter=args.use_adapter, smoke_prompt=args.prompt, tools_dir=args.tools_dir)
    except SettingsError as exc:
        raise UsageError(str(exc)) from None


def cmd_retrain(args) -> int:
    # Imported here: they pull in gguf/numpy and httpx, too slow for every forge-cli start.
    from forge_gui.core.registration.register import register_specs

    settings = _settings(args)
    try:
        specs = register_specs(settings)
    except StepFailed as exc:
        raise UsageError(str(exc)) from exc
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
        raise UsageError(describe_os_error(exc, doing="create")) from exc
    print(f"Run folder: {state.run_dir}", file=sys.stderr)
    failure: StepFailed | None = None
    try:  # in a worker thread: Ctrl-C stops the tools it runs (commands/cancelling.py)
        run_cancellable(lambda cancel: run_pipeline(specs, state, _Printer(), cancel))
    except StepFailed as exc:
        failure = exc
    except Cancelled:
        print(f"forge-cli: cancelled; the run folder is {state.run_dir}", file=sys.stderr)
        return 130
    a = state.artifacts
    if args.json:
        print(json.dumps({"ok": failure is None, "model": a.model, "run_dir": str(state.run_dir),
                          "route": a.route, "gguf": str(a.output_gguf) if a.output_gguf else None,
                          "modelfile": str(a.modelfile) if a.modelfile else None,
                          "answer": a.smoke_answer, "finish_command": a.finish_command,
                          "error": str(failure) if failure else None}, indent=2))
    if failure:
        print(f"forge-cli: {failure}", file=sys.stderr)
        if a.finish_command:
            print(f"To register later: {a.finish_command}", file=sys.stderr)
        return 1
    out = sys.stderr if args.json else sys.stdout  # --json: stdout holds only the JSON
    print(f"Created model '{a.model}'. Run: ollama run {a.model}", file=out)
    print(f"First answer: {a.smoke_answer}", file=out)
    return 0


def cmd_resolve_base(args) -> int:
    from forge_gui.core.ollama.store import inspect_base  # imports gguf/numpy: only when used

    problem = validate_model_name(args.name)
    if problem:
        raise UsageError(problem)
    try:
        report = inspect_base(args.name, args.models_dir)
    except StepFailed as exc:
        print(f"forge-cli: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print("\n".join(report.lines()))
    return 0
