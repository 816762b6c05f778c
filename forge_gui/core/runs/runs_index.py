"""Every run under the runs folder: what `forge-cli runs` prints and the Runs window shows.

A run folder is recognised by its run.json. It is read as plain JSON, field by field, so a
run made by another version of Forge (more or fewer fields) is still listed; an unreadable
one is listed with the reason. The status comes from run.json, except that a run which says
it is running while no process holds its run.lock was interrupted (core/runs/run_lock.py).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from forge_gui.core.base import paths
from forge_gui.core.runs.run_lock import run_is_live

log = logging.getLogger(__name__)

RunStatus = Literal["done", "failed", "cancelled", "interrupted", "running", "unreadable"]


class RunSummary(BaseModel):
    run_dir: Path
    status: RunStatus
    created: str | None = None
    name: str | None = None  # the Ollama model name asked for
    model: str | None = None  # the model registered in Ollama (None: not registered)
    base: str | None = None  # Ollama name or GGUF file name
    method: str | None = None  # full fine-tune (llama.cpp), lora, …
    data: list[str] = Field(default_factory=list)
    epochs: int | None = None
    train_loss_first: float | None = None
    train_loss_last: float | None = None
    val_loss_last: float | None = None
    base_loss: float | None = None  # held-out loss of the base (core/evaluation/evaluate.py)
    tuned_loss: float | None = None  # held-out loss of the fine-tuned model
    duration_seconds: float | None = None
    step: str | None = None  # the step that failed / was cancelled / was running
    message: str | None = None  # why (failed), or what is wrong with the folder
    output_gguf: str | None = None

    @property
    def resumable(self) -> bool:
        return self.status in ("interrupted", "failed", "cancelled")


def _time(value) -> _dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return _dt.datetime.fromisoformat(value)
    except ValueError:
        return None


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _duration(steps: list[dict], live: bool) -> float | None:
    starts = [t for t in (_time(s.get("started")) for s in steps) if t]
    ends = [t for t in (_time(s.get("ended")) for s in steps) if t]
    if not starts:
        return None
    end = _dt.datetime.now().astimezone() if live else max(ends + starts)
    try:
        return max(0.0, (end - min(starts)).total_seconds())
    except TypeError:  # naive and aware times mixed: a hand-edited file
        return None


METHOD_LABELS = {"lora": "LoRA", "full": "full"}


def _method(settings: dict) -> str | None:
    if settings.get("adapter") and not settings.get("data"):
        return "register only"  # forge-cli retrain, or "Register as…" in the Runs window
    trainer = settings.get("trainer")
    # run.json from before the LoRA method existed: the llama.cpp trainer was a full fine-tune
    method = settings.get("method") or ("full" if trainer == "llama.cpp" else None)
    if isinstance(method, str) and isinstance(trainer, str):
        return f"{METHOD_LABELS.get(method, method)} ({trainer})"
    return method if isinstance(method, str) else trainer if isinstance(trainer, str) else None


def summarize_run(run_dir: Path) -> RunSummary:
    """One run's line; never raises for a damaged folder (status "unreadable")."""
    run_dir = Path(run_dir)
    try:
        raw = json.loads((run_dir / "run.json").read_text("utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("run.json is not an object")
    except (OSError, ValueError) as exc:
        return RunSummary(run_dir=run_dir, status="unreadable",
                          message=f"run.json cannot be read ({exc}).")
    settings, artifacts = raw.get("settings"), raw.get("artifacts")
    settings = settings if isinstance(settings, dict) else {}
    artifacts = artifacts if isinstance(artifacts, dict) else {}
    steps = [s for s in raw.get("steps") or [] if isinstance(s, dict)]
    recorded = raw.get("status")
    running_step = next((s for s in steps if s.get("status") == "running"), None)
    live = False
    if recorded in ("done", "failed", "cancelled") and running_step is None:
        status = recorded
    else:  # "pending"/"running" or a step still marked running: is anybody on it?
        live = bool(run_is_live(run_dir))
        status = "running" if live else (recorded if recorded in ("failed", "cancelled")
                                         else "interrupted")
    where = running_step or next((s for s in steps if s.get("status") in ("failed", "cancelled")),
                                 None)
    if status == "done":
        where = None
    base = settings.get("base") or (Path(settings["base_gguf"]).name
                                    if isinstance(settings.get("base_gguf"), str) else None)
    summary = RunSummary(
        run_dir=run_dir, status=status, created=raw.get("created"), name=settings.get("name"),
        model=artifacts.get("model"), base=base, method=_method(settings),
        data=[str(d) for d in settings.get("data") or []],
        epochs=settings.get("epochs") if isinstance(settings.get("epochs"), int) else None,
        train_loss_first=_number(artifacts.get("train_loss_first")),
        train_loss_last=_number(artifacts.get("train_loss_last")),
        val_loss_last=_number(artifacts.get("val_loss_last")),
        duration_seconds=_duration(steps, live),
        step=(where or {}).get("label") or (where or {}).get("key"),
        message=(where or {}).get("message") if status in ("failed", "cancelled") else None,
        output_gguf=artifacts.get("output_gguf"))
    if status == "interrupted" and summary.step:
        summary.message = f"Stopped during “{summary.step}” (Forge was closed or killed)."
    from forge_gui.core.runs.evaluation_result import load_evaluation

    evaluation = load_evaluation(run_dir)
    if evaluation is not None:
        summary.base_loss = evaluation.base.loss if evaluation.base else None
        summary.tuned_loss = evaluation.tuned.loss if evaluation.tuned else None
    return summary


def list_runs(root: Path | None = None) -> list[RunSummary]:
    """Every run folder (one holding run.json) directly under `root` (runs_dir()), newest
    first."""
    root = Path(root) if root is not None else paths.runs_dir()
    if not root.is_dir():
        return []
    runs = []
    for child in root.iterdir():
        if child.is_dir() and (child / "run.json").exists():
            runs.append(summarize_run(child))
    runs.sort(key=lambda r: (r.created or "", r.run_dir.name), reverse=True)
    return runs


class RunDeleteError(Exception):
    """A run that must not be deleted (still running, not a run folder): a sentence."""


def delete_run(run_dir: Path) -> None:
    """Delete a run folder and everything in it. Only the folder: a model registered in
    Ollama from it stays (Ollama keeps its own copy of the weights)."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise RunDeleteError(f"{run_dir} is not a Forge run folder (it has no run.json); "
                             "nothing was deleted.")
    if run_is_live(run_dir):
        raise RunDeleteError(f"The run in {run_dir} is still going; stop it before deleting it.")
    shutil.rmtree(run_dir)
    log.info("deleted run folder %s", run_dir)


def folder_size(run_dir: Path) -> int:
    total = 0
    for path in Path(run_dir).rglob("*"):
        try:
            if path.is_file():
                total += path.stat().st_size
        except OSError:
            continue
    return total


def loss_points(run_dir: Path, epochs: int | None = None
                ) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(train, validation) loss points (x in epochs) from the run's logs/train.log, parsed
    with the same parser as the live chart."""
    from forge_gui.core.llamacpp.progress import FinetuneProgressParser

    path = Path(run_dir) / "logs" / "train.log"
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return [], []
    if epochs is None:
        try:
            epochs = int(json.loads((Path(run_dir) / "run.json").read_text("utf-8"))
                         ["settings"]["epochs"])
        except (OSError, ValueError, KeyError, TypeError):
            epochs = 1
    parser = FinetuneProgressParser(epochs=epochs or 1)
    train, val = [], []
    for line in re.split(r"[\r\n]+", text):
        event = parser(line)
        if event is None or event.x is None:
            continue
        if event.phase == "train" and event.loss is not None:
            train.append((event.x, event.loss))
        elif event.phase == "val" and parser.last_val_loss is not None:
            val.append((event.x, parser.last_val_loss))
    # one validation point per epoch: its last value (the mean over the val windows)
    by_epoch: dict[float, float] = {}
    for x, loss in val:
        by_epoch[x] = loss
    return train, sorted(by_epoch.items())


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m:02d} min"


def format_loss(before: float | None, after: float | None) -> str:
    if before is None and after is None:
        return "—"
    fmt = lambda v: "?" if v is None else f"{v:.3f}"  # noqa: E731
    return f"{fmt(before)} → {fmt(after)}"


# --- register a run's model again ---------------------------------------------------------

def register_again_settings(run_dir: Path, name: str, force: bool = False):
    """RunSettings that register a finished run's model with Ollama under `name` (what
    `forge-cli retrain --adapter RUN/model.gguf --name NAME` does), keeping its system prompt,
    parameters, base (needed when the result is only a LoRA adapter) and Ollama address."""
    from forge_gui.core.base.steps import StepFailed
    from forge_gui.core.runs.run import RunState

    old = RunState.load(Path(run_dir))
    a = old.artifacts
    model = next((Path(p) for p in (a.output_gguf, a.trained_gguf) if p and Path(p).is_file()),
                 None)
    if model is None:
        raise StepFailed(f"The run in {run_dir} has no model file to register (it did not get "
                         "that far, or the file was deleted).")
    s = old.settings
    return s.model_copy(update={
        "data": [], "name": name, "adapter": model, "use_adapter": False, "create": True,
        "force": force})


def register_again(run_dir: Path, name: str, progress=None, cancel=None, force: bool = False):
    """Register the run's model as `name`, in a new run folder (the Modelfile, the request,
    the first answer); returns that RunState. Raises StepFailed with a sentence."""
    from forge_gui.core.ollama.register import register_specs
    from forge_gui.core.pipeline.walk import PipelineObserver, run_pipeline
    from forge_gui.core.runs.run import RunState

    settings = register_again_settings(run_dir, name, force)
    specs = register_specs(settings)  # a bad or taken name fails here, before a folder exists

    class _Progress(PipelineObserver):
        def progress(self, event) -> None:
            if progress is not None:
                progress(event)

    state = RunState.create(settings)
    run_pipeline(specs, state, _Progress(), cancel)
    return state
