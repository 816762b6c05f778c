"""The preflight step: exact tokens, enough to train on, enough memory (docs/training.md).

Checked before anything long starts. Its refusals are one sentence whose numbers agree with
each other (the tokens there are, the tokens the tool needs, the cause: the context, the
windows the tool skips, the validation split) and a hint naming what to change in the CLI's
words (`--ctx 256`); the app says the same with its own controls (gui/wording.py).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from forge_gui.core.base.atomic import atomic_write_text
from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.steps import CancelToken, FunctionStep, ProgressCallback, StepFailed
from forge_gui.core.llamacpp.base_format import format_of
from forge_gui.core.llamacpp.discover import ToolSet, find_tools
from forge_gui.core.llamacpp.gguf_info import inspect_gguf
from forge_gui.core.llamacpp.tool_steps import (
    CTX_STEP,
    check_memory,
    count_tokens,
    lora_ctx,
    suggest_ctx,
    tokenize_argv,
    training_ctx,
    training_windows,
)
from forge_gui.core.llamacpp.trainer import LORA_VAL_SPLIT, get_trainer
from forge_gui.core.runs.run import RunSettings, RunState

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class WindowCount:
    """How llama-finetune cuts `tokens` of text at a context of `ctx` (docs/training.md)."""

    tokens: int
    ctx: int
    val_split: float
    min_train: int = 1

    @property
    def windows(self) -> int:
        return training_windows(self.tokens, self.ctx)

    @property
    def train(self) -> int:
        """Windows trained on: the tool keeps int(windows × val_split) back for validation."""
        return int(self.windows * (1.0 - self.val_split))

    @property
    def windows_needed(self) -> int:
        """The fewest windows leaving `min_train` to train on after the validation split."""
        needed = self.min_train
        while int(needed * (1.0 - self.val_split)) < self.min_train:
            needed += 1
        return needed

    @property
    def tokens_needed(self) -> int:
        """The fewest tokens making `windows_needed` windows (inverse of training_windows)."""
        return self.ctx + 1 + self.windows_needed * (self.ctx // 2)

    @property
    def enough(self) -> bool:
        return self.train >= self.min_train


def check_windows(tokens: int, ctx: int, val_split: float, min_train: int = 1,
                  tool: str = "llama-finetune") -> int:
    """The windows `tokens` make at `ctx`; raise StepFailed, naming what to change, when too
    few are left to train on."""
    count = WindowCount(tokens, training_ctx(ctx), val_split, min_train)
    if count.enough:
        return count.windows
    why = [f"{count.min_train} to train on"]
    if min_train > 1:
        why[0] += " (it skips the first of each epoch)"
    held = count.windows_needed - count.min_train
    if held:
        why.append(f"{held} for the validation split of {val_split:.0%}")
    message = (f"The training text is {tokens:,} tokens, too little to train on: {tool} needs "
               f"at least {count.tokens_needed:,} at a context of {count.ctx} tokens "
               f"({count.windows_needed} windows, {' and '.join(why)}).")
    if count.windows >= count.min_train:  # the split, not the text, leaves too few
        message += (f" Its {count.windows} windows leave {count.train} once the validation "
                    "split has taken its share.")
    better = suggest_ctx(tokens, val_split, min_train=min_train)
    hint = (f"Use a shorter context, e.g. --ctx {better}, or add more training data."
            if better and better < count.ctx else
            "Add more training data: there is too little text to train on.")
    raise StepFailed(message, hint)


def recorded(path: Path | None, what: str) -> Path:
    """A file an earlier step recorded in the run's artifacts (a retry starts there)."""
    if path is None:
        raise StepFailed(f"The run has no {what} yet.", "Run it again from the start.")
    return path


def tools_for(state: RunState) -> ToolSet:
    return find_tools(state.settings.tools_dir)


def record_argv(state: RunState, key: str, argv: list[str]) -> None:
    """commands/<key>.json for a tool a FunctionStep runs (process steps get it from the walk)."""
    atomic_write_text(state.run_dir / "commands" / f"{key}.json",
                      json.dumps({"argv": argv, "cwd": None, "env": {}}, indent=2) + "\n")


def preflight_step(state: RunState) -> FunctionStep:
    def work(progress: ProgressCallback, cancel: CancelToken) -> None:
        s, a = state.settings, state.artifacts
        tools = tools_for(state)
        trainer = get_trainer(s.method)
        base_path = recorded(a.train_base_gguf, "base model to train")
        text = recorded(a.prepared_train, "prepared training text")
        tools.path(trainer.tool)  # fail here, before anything long, when it is missing
        if trainer.produces_adapter:
            _preflight_lora(state, tools, progress, cancel)
            return
        progress(ProgressEvent(step="preflight", message="Counting tokens with the base's vocabulary"))
        record_argv(state, "preflight", tokenize_argv(tools, base_path, text))
        a.tokens = count_tokens(tools, base_path, text, cancel)
        ctx = training_ctx(s.ctx)
        a.windows = check_windows(a.tokens, ctx, s.val_split)
        base = inspect_gguf(base_path)
        check_memory(base, ctx, progress, "preflight")
        check_gpu_memory(base, base.training_memory_bytes(ctx), tools, trainer, s, progress)
        progress(ProgressEvent(step="preflight", fraction=1.0, message=(
            f"{a.tokens} tokens → {a.windows} windows of {ctx} tokens")))
    return FunctionStep(key="preflight", label="Count tokens and check memory", run=work,
                        log_path=state.log_path("preflight"))


def _preflight_lora(state: RunState, tools: ToolSet, progress: ProgressCallback,
                    cancel: CancelToken) -> None:
    """The window chosen from the data, the packing it gives, enough to train on and enough
    memory, checked before training starts (docs/training.md, "A context that fits the data")."""
    from forge_gui.core.base.lora_modules import parse_modules
    from forge_gui.core.llamacpp import lora
    from forge_gui.core.llamacpp.packing import choose_ctx, plan_windows

    s, a = state.settings, state.artifacts
    base_path = recorded(a.train_base_gguf, "base model to train")
    base = inspect_gguf(base_path)
    fmt = format_of(a.chat_format, a.base_gguf or base_path)
    progress(ProgressEvent(step="preflight", message="Counting tokens with the base's vocabulary"))
    a.tokens, lengths = _count_conversations(state, tools, fmt, progress, cancel)
    ctx = choose_ctx(lengths, lora_ctx(s.ctx))
    packing = plan_windows(lengths, ctx)
    check_packing(packing, lengths, s.ctx, state, progress)
    a.train_ctx, a.windows = ctx, packing.windows
    need = lora.training_memory_bytes(base, ctx, parse_modules(s.lora_modules), s.lora_rank)
    check_memory(base, ctx, progress, "preflight", need=need)
    check_gpu_memory(base, need, tools, get_trainer(s.method), s, progress)
    progress(ProgressEvent(step="preflight", fraction=1.0, message=(
        f"{a.tokens:,} tokens: {packing.sentence()}, trained in {fmt.label}")))


def check_gpu_memory(base, need: int, tools: ToolSet, trainer, settings: RunSettings,
                     progress: ProgressCallback) -> None:
    """On a GPU build: the estimate (corrected by what was measured) against the GPU's free
    memory; how many layers fit when not all do. Refuses only when the user left the layers
    to Forge (all on the GPU) and they cannot fit (docs/gpu.md)."""
    from forge_gui.core.llamacpp.gpu import gpu_memory_check

    backend = tools.tools[trainer.tool].backend
    if trainer.produces_adapter and backend == "vulkan" and settings.gpu_layers is None:
        return  # LoRA stays on the CPU there (core/llamacpp/trainer.py gpu_args)
    fit = gpu_memory_check(base, need, backend, settings.gpu_layers, settings.method)
    if fit is None:
        return
    progress(ProgressEvent(step="preflight", message=fit.sentence()))
    if not fit.fits and settings.gpu_layers is None:
        raise StepFailed(fit.sentence())


def _count_conversations(state: RunState, tools: ToolSet, fmt, progress: ProgressCallback,
                         cancel: CancelToken) -> tuple[int, list[int]]:
    """(tokens, tokens of each conversation). Tokens are counted for the whole rendered text
    with the base's vocabulary and shared out by length (one llama-tokenize call, not one per
    record); the trainer logs its own exact packing when it starts."""
    a = state.artifacts
    base_path = recorded(a.train_base_gguf, "base model to train")
    texts = []
    with open(recorded(a.prepared_train, "prepared training text"), encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            if "segments" in record:  # segments-jsonl: the training text itself
                texts.append("".join(text for text, _ in record["segments"]))
                continue
            texts.append(fmt.render((m["role"], m["content"]) for m in record["messages"]))
    rendered = state.run_dir / "train.rendered.txt"
    atomic_write_text(rendered, "\n".join(texts))
    record_argv(state, "preflight", tokenize_argv(tools, base_path, rendered))
    tokens = count_tokens(tools, base_path, rendered, cancel)
    chars = sum(len(t) for t in texts) or 1
    return tokens, [max(1, round(tokens * len(t) / chars)) for t in texts]


def check_packing(packing, lengths: list[int], asked_ctx: int, state: RunState | None = None,
                  progress: ProgressCallback | None = None) -> None:
    """Refuse when nothing is left to train on once the trainer holds out 5 % of the windows
    for validation; note the conversations too long for the window and what keeps them."""
    from forge_gui.core.llamacpp.packing import round_ctx

    train = int(packing.windows * (1.0 - LORA_VAL_SPLIT))
    if train < 1:
        from forge_gui.core.llamacpp.packing import plan_windows

        # a context the user can ask for (a multiple of CTX_STEP, rules.py)
        shorter = next((c for c in range((packing.ctx - 1) // CTX_STEP * CTX_STEP, 0, -CTX_STEP)
                        if int(plan_windows(lengths, c).windows * (1.0 - LORA_VAL_SPLIT)) >= 1),
                       None)
        if packing.skipped:  # too long for the window: a longer one keeps them
            longest = -(-max(lengths) // CTX_STEP) * CTX_STEP
            hint = (f"Use a longer context, e.g. --ctx {longest}, or add more (shorter) "
                    "conversations.")
        elif shorter:
            hint = (f"Add more conversations (there are {len(lengths)}), or use a shorter "
                    f"context, e.g. --ctx {shorter} (longer conversations are then skipped).")
        else:
            hint = f"Add more conversations: {len(lengths)} is too little to train on."
        raise StepFailed(
            f"The training data packs into {packing.windows} window(s) of {packing.ctx} tokens"
            + (f" ({packing.skipped} of {len(lengths)} conversations are longer than that)"
               if packing.skipped else "")
            + "; llama-finetune-lora needs at least 2 (it holds 5 % back for validation, at "
            "least one).", hint)
    if packing.skipped:
        keeps_all = round_ctx(max(lengths))
        note = (f"{packing.skipped} of {len(lengths)} conversations are longer than the "
                f"{packing.ctx}-token window and will be skipped; --ctx {keeps_all} or more "
                "keeps them.")
        log.info(note)
        if state is not None:
            state.record_note(note)
        if progress is not None:
            progress(ProgressEvent(step="preflight", message=note))


__all__ = ["WindowCount", "check_windows", "check_packing", "preflight_step",
           "check_gpu_memory", "record_argv", "tools_for",
           "recorded"]
