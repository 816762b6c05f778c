"""What an evaluation found: the before/after figures of a run and their report.

EvaluationResult is the value core/evaluation/evaluate.py measures, what evaluation.json and
run.json's artifacts.evaluation hold, and what the Done page, the Runs window and `forge-cli evaluate`
show; compare.md is its readable form. This module measures nothing and starts no tool, so
the run's own model (core/runs/run.py) holds a result without importing the tools that measure (see
docs/training.md, "Did it get better?").
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from forge_gui.core.base.atomic import atomic_write_text
from forge_gui.core.formats.chat_format import PLAIN

log = logging.getLogger(__name__)

REPORT_NAME = "compare.md"
RESULT_NAME = "evaluation.json"
ANSWER_TOKENS = 64


class HeldOutLoss(BaseModel):
    """One model's loss on the held-out text (llama-perplexity's final estimate,
    core/llamacpp/perplexity.Perplexity)."""

    gguf: Path
    perplexity: float
    perplexity_error: float | None = None  # llama-perplexity's "+/-"
    loss: float  # ln(perplexity): mean cross-entropy per token, nats
    chunks: int | None = None  # chunks of `ctx` tokens scored (their second halves)


class AnswerRow(BaseModel):
    prompt: str  # the question as the user wrote it (the last user turn)
    rendered: str  # the exact text both models were given
    reference: str | None = None  # the answer in the data
    base: str = ""
    tuned: str = ""


class EvaluationResult(BaseModel):
    """The before/after figures of a run (evaluation.json; run.json artifacts.evaluation)."""

    created: str | None = None
    base_gguf: Path | None = None
    tuned_gguf: Path | None = None
    eval_file: Path | None = None  # the held-out text the loss was measured on
    eval_tokens: int | None = None
    held_out_records: int | None = None
    train_ctx: int | None = None
    ctx: int | None = None  # the context the loss was measured at (train_ctx when possible)
    base: HeldOutLoss | None = None
    tuned: HeldOutLoss | None = None
    loss_note: str | None = None  # why there is no loss, or why the context is smaller
    prompts_source: str = ""  # where the prompts of the table came from
    answers: list[AnswerRow] = Field(default_factory=list)
    seed: int = 42
    max_tokens: int = ANSWER_TOKENS
    report: Path | None = None

    @property
    def loss_change(self) -> float | None:
        """tuned − base held-out loss (negative: the fine-tune fits the held-out data better)."""
        if self.base is None or self.tuned is None:
            return None
        return self.tuned.loss - self.base.loss

    def headline(self) -> str:
        """One sentence about the held-out loss, for the Done page and the CLI."""
        if self.base is None or self.tuned is None:
            return self.loss_note or "No held-out loss was measured."
        change = self.loss_change or 0.0
        verdict = ("lower: the fine-tuned model fits the held-out records better"
                   if change < -0.01 else
                   "higher: the fine-tune made the held-out records less likely (over-fitting?)"
                   if change > 0.01 else "about the same")
        return (f"Held-out loss {self.base.loss:.3f} (base) → {self.tuned.loss:.3f} "
                f"(fine-tuned), {verdict}. Perplexity {self.base.perplexity:.2f} → "
                f"{self.tuned.perplexity:.2f}.")


# --- the report ---------------------------------------------------------------------------

def _cell(text: str | None, width: int = 400) -> str:
    if text is None:
        return "—"
    text = text.strip() or "(nothing)"
    if len(text) > width:
        text = text[:width - 1] + "…"
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "")
            .replace("\n", "<br>"))


def render_markdown(result: EvaluationResult, title: str = "") -> str:
    """compare.md: the figures, then one table row per prompt."""
    lines = [f"# {title or 'Base and fine-tuned model, side by side'}", ""]
    lines += [f"- Base model: `{result.base_gguf}`", f"- Fine-tuned model: `{result.tuned_gguf}`"]
    if result.eval_file:
        lines.append(f"- Held-out text: `{result.eval_file}`"
                     + (f" ({result.held_out_records} records" if result.held_out_records else "")
                     + (f", {result.eval_tokens} tokens)" if result.eval_tokens and result.held_out_records
                        else ")" if result.held_out_records else ""))
    lines += ["", "## Held-out loss", ""]
    if result.base and result.tuned:
        lines += ["| | loss (nats/token) | perplexity |", "|---|---:|---:|"]
        for name, fig in (("base", result.base), ("fine-tuned", result.tuned)):
            err = f" ± {fig.perplexity_error:.2f}" if fig.perplexity_error is not None else ""
            lines.append(f"| {name} | {fig.loss:.4f} | {fig.perplexity:.3f}{err} |")
        lines += ["", result.headline()]
        lines.append(f"Measured with llama-perplexity at a context of {result.ctx} tokens "
                     f"(training used {result.train_ctx}).")
    if result.loss_note and not (result.base and result.tuned and result.ctx == result.train_ctx):
        lines += ["", result.loss_note]
    lines += ["", "## Answers", "",
              f"Prompts: {result.prompts_source}. Both models got the same text, rendered as in "
              f"training, greedy sampling (temperature 0), seed {result.seed}, at most "
              f"{result.max_tokens} tokens, stopped at the next `{PLAIN.stop_marker}`.", ""]
    if result.answers:
        lines += ["| # | prompt | reference | base | fine-tuned |", "|---|---|---|---|---|"]
        for i, row in enumerate(result.answers, 1):
            lines.append(f"| {i} | {_cell(row.prompt)} | {_cell(row.reference)} | "
                         f"{_cell(row.base)} | {_cell(row.tuned)} |")
    else:
        lines.append("No prompts to compare.")
    return "\n".join(lines) + "\n"


def save_result(run_dir: Path, result: EvaluationResult, title: str = "") -> EvaluationResult:
    """Write compare.md and evaluation.json into the run folder (atomically)."""
    run_dir = Path(run_dir)
    result.report = run_dir / REPORT_NAME
    atomic_write_text(result.report, render_markdown(result, title))
    atomic_write_text(run_dir / RESULT_NAME, result.model_dump_json(indent=2) + "\n")
    return result


def load_evaluation(run_dir: Path, artifacts: Any = None) -> EvaluationResult | None:
    """A run's evaluation: run.json's artifacts.evaluation when present, else evaluation.json."""
    found = getattr(artifacts, "evaluation", None) if artifacts is not None else None
    if isinstance(found, EvaluationResult):
        return found
    run_dir = Path(run_dir)
    candidates = []
    try:
        raw = json.loads((run_dir / "run.json").read_text("utf-8"))
        candidates.append((raw.get("artifacts") or {}).get("evaluation"))
    except (OSError, ValueError, AttributeError) as exc:
        log.debug("no evaluation in %s/run.json: %s", run_dir, exc)
    try:
        candidates.append(json.loads((run_dir / RESULT_NAME).read_text("utf-8")))
    except (OSError, ValueError) as exc:
        log.debug("no %s in %s: %s", RESULT_NAME, run_dir, exc)
    for value in candidates:
        if isinstance(value, dict):
            try:
                return EvaluationResult.model_validate(value)
            except ValueError as exc:
                log.warning("unreadable evaluation in %s: %s", run_dir, exc)
    return None


def store_in_run(state: Any, result: EvaluationResult) -> None:
    """Into run.json too, once RunArtifacts has an `evaluation` field."""
    if "evaluation" in type(state.artifacts).model_fields:
        state.artifacts.evaluation = result
        state.save()
