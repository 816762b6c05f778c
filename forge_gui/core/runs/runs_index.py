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
