"""forge-cli compare RUN_DIR and forge-cli runs: did a run help, and every run so far.

    forge-cli compare RUN_DIR [--prompts FILE] [-n N] [--json]
    forge-cli runs [--json] [--dir FOLDER]

The work is in core/evaluation/evaluate.py, core/runs/evaluation_result.py and
core/runs/runs_index.py; this module parses and prints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from forge_gui.cli import UsageError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare", help="the base and the fine-tuned model of a run, side by side",
        description="Measure the held-out loss of the base and of the fine-tuned model of a "
                    "finished run (llama-perplexity) and put their answers to held-out prompts "
                    "next to the reference answers (llama-completion). Writes compare.md and "
                    "evaluation.json into the run folder.")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="the run folder")
    p.add_argument("--prompts", type=Path, metavar="FILE",
                   help="prompts to use instead of the held-out records: JSONL/JSON records "
                        "(their answers are the references) or plain text, one prompt a line")
    p.add_argument("-n", type=int, default=5, dest="n", help="how many prompts (default 5)")
    p.add_argument("--no-loss", action="store_true", help="only the answers, no held-out loss")
    p.add_argument("--tools-dir", type=Path, help="a folder of llama.cpp tools to use first")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.set_defaults(handler=compare)

    p = subparsers.add_parser(
        "runs", help="list every training run with its status and figures",
        description="Every run under Forge's runs folder: status (done, failed, cancelled, "
                    "interrupted, running), base, model, method, data, final loss, held-out "
                    "loss before → after, duration.")
    p.add_argument("--json", action="store_true", help="print the list as JSON on stdout")
    p.add_argument("--dir", type=Path, metavar="FOLDER",
                   help="the folder holding the runs (default: Forge's runs folder)")
    p.set_defaults(handler=runs)


def _load_run(run_dir: Path):
    from forge_gui.core.runs.run import RunState

    if not run_dir.is_dir():
        raise UsageError(f"{run_dir} is not a folder.")
    if not (run_dir / "run.json").is_file():
        raise UsageError(f"{run_dir} is not a Forge run folder (it has no run.json).")
    try:
        return RunState.load(run_dir)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{run_dir / 'run.json'} cannot be read: {first}") from None


def _run_format(state):
    """The format the run trained in (the base's own template re-read from its GGUF), so the
    prompts of --prompts FILE are rendered as the model learnt; None when it cannot be read."""
    from forge_gui.core.base.steps import StepFailed
    from forge_gui.core.llamacpp.base_format import format_of

    a = state.artifacts
    try:
        return format_of(a.chat_format, a.base_gguf)
    except (StepFailed, OSError, ValueError) as exc:
        print(f"    The run's training format cannot be read ({exc}); the prompts are rendered "
              "in Forge's plain format.", file=sys.stderr)
        return None


def compare(args) -> int:
    from forge_gui.core.base.steps import Cancelled, CancelToken, StepFailed
    from forge_gui.core.evaluation.evaluate import evaluate, prompts_from_file
    from forge_gui.core.runs.evaluation_result import load_evaluation, save_result
    from forge_gui.core.runs.run_lock import run_is_live

    if args.n < 1:
        raise UsageError(f"-n {args.n} is out of range; give at least 1 prompt.")
    run_dir = args.run_dir.resolve()
    state = _load_run(run_dir)
    if run_is_live(run_dir):
        raise UsageError(f"The run in {run_dir} is still going; compare it when it has ended.")
    settings = state.settings
    if args.tools_dir:
        settings = settings.model_copy(update={"tools_dir": args.tools_dir})
    cancel = CancelToken()

    def progress(event) -> None:
        if event.message:
            print(f"    {event.message}", file=sys.stderr, flush=True)

    prompts = source = None
    if args.prompts:
        try:
            prompts = prompts_from_file(args.prompts, args.n, settings.field_map,
                                        _run_format(state))
        except StepFailed as exc:
            raise UsageError(str(exc)) from None
        source = str(args.prompts)

    def work():
        return evaluate(run_dir=run_dir, settings=settings, artifacts=state.artifacts,
                        progress=progress, cancel=cancel, prompts=prompts,
                        prompts_source=source, n_prompts=args.n, measure_loss=not args.no_loss,
                        previous=load_evaluation(run_dir, state.artifacts),
                        log_file=run_dir / "logs" / "compare.log")

    try:
        result = _in_thread(work, cancel)
    except Cancelled:
        print("forge-cli: cancelled; nothing was written.", file=sys.stderr)
        return 130
    except StepFailed as exc:
        print(f"forge-cli: {exc}", file=sys.stderr)
        return 1
    save_result(run_dir, result, f"{settings.name}: base and fine-tuned, side by side")
    from forge_gui.core.runs.evaluation_result import store_in_run

    store_in_run(state, result)
    print(result.headline(), file=sys.stderr)
    print(f"Wrote {result.report}", file=sys.stderr)
    if args.json:
        print(result.model_dump_json())
    return 0


def _in_thread(fn, cancel):
    """Run fn in a worker so that Ctrl-C in the main thread cancels it: the tool running
    then is stopped with its whole process tree (run_capture), and Cancelled is raised."""
    import threading

    from forge_gui.core.base.steps import Cancelled

    done = threading.Event()
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the main thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="forge-compare", daemon=True).start()
    while not done.is_set():
        try:
            done.wait(0.2)
        except KeyboardInterrupt:
            cancel.cancel()
    if cancel.cancelled:
        raise Cancelled()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


COLUMNS = ("status", "created", "name", "base", "method", "data", "loss", "held-out", "time",
           "folder")


def runs(args) -> int:
    from forge_gui.core.runs.runs_index import format_loss, human_duration, list_runs

    if args.dir is not None and not args.dir.is_dir():
        raise UsageError(f"{args.dir} is not a folder.")
    found = list_runs(args.dir)
    if args.json:
        print(json.dumps([json.loads(r.model_dump_json()) for r in found], indent=2))
        return 0
    if not found:
        from forge_gui.core.base import paths

        print(f"No runs yet in {args.dir or paths.runs_dir()}.", file=sys.stderr)
        return 0
    rows = [COLUMNS]
    for r in found:
        rows.append((r.status, (r.created or "")[:16].replace("T", " "), r.model or r.name or "",
                     r.base or "", r.method or "", ", ".join(Path(d).name for d in r.data),
                     format_loss(r.train_loss_first, r.train_loss_last),
                     format_loss(r.base_loss, r.tuned_loss), human_duration(r.duration_seconds),
                     str(r.run_dir)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0
