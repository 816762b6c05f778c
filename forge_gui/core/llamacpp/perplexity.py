"""llama-perplexity: one model's loss on a text, as Forge measures it for the before/after
comparison (core/evaluation/evaluate.py; docs/training.md, "Did it get better?")."""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

from forge_gui.core.base.steps import CancelToken, StepFailed
from forge_gui.core.llamacpp.discover import ToolSet
from forge_gui.core.llamacpp.tool_steps import run_capture

log = logging.getLogger(__name__)

MIN_EVAL_CTX = 64  # below this a "loss" says little about answers of a few sentences


@dataclass(frozen=True)
class Perplexity:
    """One model's loss on a text (llama-perplexity's final estimate); a run keeps it as
    core/runs/evaluation_result.HeldOutLoss (the same fields)."""

    gguf: Path
    perplexity: float
    perplexity_error: float | None  # llama-perplexity's "+/-"
    loss: float  # ln(perplexity): mean cross-entropy per token, nats
    chunks: int | None = None  # chunks of `ctx` tokens scored (their second halves)


class TextTooShort(StepFailed):
    """The held-out text is shorter than llama-perplexity needs (2 x the context)."""


def perplexity_argv(tools: ToolSet, model: Path, text: Path, ctx: int,
                    threads: int | None = None, gpu_layers: int | None = None,
                    lora: Path | None = None) -> list[str]:
    """One sequence of `ctx` tokens per batch (-b ctx): n_batch must divide into chunks.
    `lora`: a GGUF LoRA adapter applied to `model` (the fine-tune when it is only an adapter)."""
    argv = [str(tools.path("llama-perplexity")), "-m", str(model), *_lora_args(lora),
            "-f", str(text), "-c", str(ctx), "-b", str(ctx)]
    if threads:
        argv += ["-t", str(threads)]
    if gpu_layers is not None:
        argv += ["-ngl", str(gpu_layers)]
    return argv


_FINAL = re.compile(r"Final estimate:\s*PPL\s*=\s*([0-9.eE+-]+|nan|inf)\s*\+/-\s*([0-9.eE+-]+|nan|inf)")
_TOO_SHORT = re.compile(r"you need at least (\d+) tokens to evaluate perplexity with a context of (\d+)")
_ONLY = re.compile(r"tokenizes to only (\d+) tokens")
_CHUNKS = re.compile(r"over (\d+) chunks, n_ctx=(\d+)")


def parse_perplexity(output: str) -> tuple[float, float | None] | None:
    """(PPL, its +/-) from llama-perplexity's last "Final estimate" line, None without one."""
    found = _FINAL.findall(output)
    if not found:
        return None
    ppl, err = found[-1]
    try:
        value, error = float(ppl), float(err)
    except ValueError:
        return None
    return value, (error if math.isfinite(error) else None)


def eval_ctx(tokens: int, train_ctx: int) -> int | None:
    """The largest context ≤ train_ctx (halving) that llama-perplexity accepts for `tokens`
    tokens (it needs 2 × ctx), not below MIN_EVAL_CTX; None when even that is too long."""
    ctx = train_ctx
    while ctx >= MIN_EVAL_CTX:
        if tokens >= 2 * ctx:
            return ctx
        ctx //= 2
    return None


def _lora_args(lora: Path | None) -> list[str]:
    return ["--lora", str(lora)] if lora else []


def too_short_sentence(tokens: int, need: int, ctx: int) -> str:
    return (f"The held-out text is {tokens} tokens; llama-perplexity needs at least {need} "
            f"(twice a context of {ctx}), so no held-out loss was measured. Hold out more "
            f"records (--val-fraction, or the Data page's \"Held out for evaluation\").")


def held_out_loss(tools: ToolSet, model: Path, text: Path, ctx: int, cancel: CancelToken,
                  log_file: Path | None = None, threads: int | None = None,
                  gpu_layers: int | None = None, lora: Path | None = None) -> Perplexity:
    """Run llama-perplexity; StepFailed with a sentence when it gives no final estimate
    (TextTooShort when the text is shorter than 2 x ctx tokens)."""
    argv = perplexity_argv(tools, model, text, ctx, threads, gpu_layers, lora)
    code, out, err = run_until_complete(
        argv, cancel, log_file, lambda o, e: bool(_FINAL.search(e + o) or _TOO_SHORT.search(e)))
    both = out + "\n" + err
    parsed = parse_perplexity(both)
    if parsed is None:
        short = _TOO_SHORT.search(both)
        if short:  # it prints this and exits 0
            only = _ONLY.search(both)
            got = int(only.group(1)) if only else 0
            raise TextTooShort(too_short_sentence(got, int(short.group(1)), int(short.group(2))))
        hint = f"The tool's output is in {log_file}." if log_file else None
        if code == 0:
            raise StepFailed(f"llama-perplexity measured {model.name} but its result was lost "
                             f"{ATTEMPTS} times (its log ends early when the computer is very "
                             "busy).", (hint or "") + " Try 'forge-cli compare RUN_DIR' later.")
        raise StepFailed(f"llama-perplexity could not measure {model.name} "
                         f"(exit code {code}).", hint)
    ppl, error = parsed
    if not math.isfinite(ppl) or ppl <= 0:
        raise StepFailed(f"llama-perplexity gave {model.name} a perplexity of {ppl}: the model "
                         "produces no usable probabilities (a broken or diverged model).")
    chunks = _CHUNKS.search(both)
    return Perplexity(gguf=lora or model, perplexity=ppl, perplexity_error=error, loss=math.log(ppl),
                       chunks=int(chunks.group(1)) if chunks else None)


# llama.cpp's tools log through a background thread that is not flushed when they exit
# (common/log.cpp leaks the logger on purpose, llama.cpp issue 22142): on a busy computer the
# last lines, e.g. llama-perplexity's "Final estimate", can be lost while the exit code is 0.
# A run whose output lacks its last expected line is therefore run again, a few times.
ATTEMPTS = 3


def run_until_complete(argv: list[str], cancel: CancelToken, log_file: Path | None,
                       complete, attempts: int = ATTEMPTS) -> tuple[int, str, str]:
    """run_capture until complete(stdout, stderr) or a non-zero exit; the last try's result."""
    for attempt in range(1, attempts + 1):
        code, out, err = run_capture(argv, cancel, None)
        _append_log(log_file, argv, out, err)
        if code != 0 or complete(out, err):
            return code, out, err
        log.warning("%s ended (exit code 0) without its last output lines (try %d of %d)",
                    Path(argv[0]).name, attempt, attempts)
    return code, out, err


def _append_log(log_file: Path | None, argv: list[str], out: str, err: str) -> None:
    if log_file is None:
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "a", encoding="utf-8") as fh:
        fh.write("$ " + " ".join(argv) + "\n" + err + ("\n--- stdout ---\n" + out if out else "")
                 + "\n")
