"""Trainers: prepared data + base + plain training values -> one pipeline step.

A Trainer says what it needs (an F32 base or the base as it is) and builds a ProcessStep
(argv, expected output, progress parser, result check). Front ends only ever see the step, so a
new trainer (Axolotl, Unsloth) is a new class registered in TRAINERS, keyed by method.

    full — upstream llama-finetune: every weight of an F32 model; writes a whole model
    lora — llama-finetune-lora (qvac-fabric fork): an adapter on the base as stored (F16,
           Q8_0, k-quants); writes a GGUF LoRA that the pipeline merges (docs/training.md)
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import psutil

from forge_gui.core.base.steps import ProcessStep, StepFailed
from forge_gui.core.llamacpp.discover import ToolSet
from forge_gui.core.llamacpp.gguf_info import GGUFInfo, check_output, check_same_model, inspect_gguf
from forge_gui.core.llamacpp.progress import FinetuneProgressParser
from forge_gui.core.llamacpp.tool_steps import lora_ctx, training_ctx


@dataclass(frozen=True)
class TrainOptions:
    """What a trainer's command line takes from a run's settings, as plain values
    (core/pipeline/train_options.py builds it from RunSettings)."""

    epochs: int
    lr: float
    ctx: int  # the context asked for (lora: the window when the preflight chose none)
    seed: int
    val_split: float  # full: llama-finetune's -val-split
    optimizer: str  # full: adamw or sgd
    threads: int | None  # None: physical cores
    gpu_layers: int | None  # None: every layer on a GPU build (gpu_args)
    lora_rank: int
    lora_alpha: float
    lora_modules: str  # --lora-modules, e.g. "attn_q,attn_k,attn_v,attn_o"
    checkpoint_every: int  # lora: training steps between checkpoints


@dataclass
class TrainRequest:
    train_text: Path  # the prepared training data (plain text, or chat JSONL for LoRA)
    base: GGUFInfo  # the model the trainer starts from (already in a trainable form)
    output: Path  # where the trained model (full) or adapter (lora) must appear
    options: TrainOptions
    tools: ToolSet
    log_path: Path | None = None
    chat_template: Path | None = None  # lora, chat format: the Jinja template to render with
    checkpoint_dir: Path | None = None  # lora: where checkpoints go
    resume_from: Path | None = None  # lora: a complete checkpoint to continue from
    ctx: int | None = None  # lora: the window the preflight chose from the data


@dataclass
class TrainResult:
    """What the step's check saw; the pipeline copies it into the run's artifacts."""

    output: Path | None = None
    train_loss_first: float | None = None
    train_loss_last: float | None = None
    val_loss_last: float | None = None


class Trainer(ABC):
    key: str  # the method: "full" or "lora"
    tool: str  # the llama.cpp tool it runs
    label: str
    needs_f32_base: bool
    produces_adapter: bool

    def data_format(self, chat: bool) -> str:
        """What prepare_training_data writes for it (core/data/prepare.py FORMATS)."""
        return "llama.cpp"

    @abstractmethod
    def argv(self, request: TrainRequest) -> list[str]:
        """The exact command line (recorded in the run's commands/ and the script)."""

    @abstractmethod
    def build_step(self, request: TrainRequest, result: TrainResult) -> ProcessStep:
        """The training step. Its check fills `result` or raises StepFailed."""


def gpu_args(request: TrainRequest, tool: str) -> list[str]:
    """-ngl: what the user chose, else every layer on a GPU build of the tool (docs/gpu.md).
    LoRA on a Vulkan build stays on the CPU unless asked: the pinned fork aborts at its first
    step with layers offloaded there (seen on Mesa's lavapipe, docs/performance.md)."""
    from forge_gui.core.llamacpp.gpu import default_gpu_layers

    info = request.tools.tools.get(tool)
    backend = info.backend if info is not None else None
    if tool == "llama-finetune-lora" and backend == "vulkan" and request.options.gpu_layers is None:
        return []
    ngl = default_gpu_layers(backend, request.options.gpu_layers)
    return [] if ngl is None else ["-ngl", str(ngl)]


def physical_cores() -> int:
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


class LlamaFinetuneTrainer(Trainer):
    """Upstream llama.cpp `llama-finetune`: full fine-tuning, writes a whole model (-o)."""

    key = "full"
    tool = "llama-finetune"
    label = "Full fine-tune (llama-finetune)"
    needs_f32_base = True
    produces_adapter = False

    def argv(self, request: TrainRequest) -> list[str]:
        s = request.options
        ctx = str(training_ctx(s.ctx))
        argv = [
            str(request.tools.path("llama-finetune")),
            "-m", str(request.base.path),
            "-f", str(request.train_text),
            "-o", str(request.output),  # without -o it writes nothing and still exits 0
            "-c", ctx, "-b", ctx, "-ub", ctx,  # equal, a multiple of 256 (see training_ctx)
            "--epochs", str(s.epochs),
            "-lr", f"{s.lr:g}",
            "-val-split", f"{s.val_split:g}",
            "-opt", s.optimizer,
            "-t", str(s.threads or physical_cores()),
            "--seed", str(s.seed),
        ]
        return argv + gpu_args(request, self.tool)

    def build_step(self, request: TrainRequest, result: TrainResult) -> ProcessStep:
        s = request.options
        parser = FinetuneProgressParser(s.epochs, s.val_split, step="train")

        def check(code: int) -> None:
            hint = f"The tool's output is in {request.log_path}." if request.log_path else None
            check_output(request.output, "llama-finetune", code, hint)  # whole, else removed
            check_same_model(request.base, request.output)
            result.output = request.output
            result.train_loss_first = parser.first_loss
            result.train_loss_last = parser.last_loss
            result.val_loss_last = parser.last_val_loss

        return ProcessStep(key="train", label="Fine-tune (llama-finetune)", argv=self.argv(request),
                           cwd=request.output.parent, outputs=[request.output],
                           parse_line=parser, check=check, log_path=request.log_path)


# Q4_0 and k-quant weights abort on CPU (GGML_ASSERT(*cur_backend_id != -1)) unless the CPU
# backend keeps them unrepacked; F32/F16/BF16/Q8_0 do not need it (docs/training.md).
_NO_REPACK_FREE = {"F32", "F16", "BF16", "Q8_0"}


class LoraTrainer(Trainer):
    """llama-finetune-lora from the qvac-fabric fork: a LoRA adapter on the base as stored."""

    key = "lora"
    tool = "llama-finetune-lora"
    label = "LoRA (llama-finetune-lora)"
    needs_f32_base = False
    produces_adapter = True

    def data_format(self, chat: bool) -> str:
        # Every format, plain included, as pre-rendered segments: Forge's patch to the tool
        # packs them and puts the loss on the answers (docs/training.md, "How the trainer is fed").
        return "segments-jsonl"

    def argv(self, request: TrainRequest) -> list[str]:
        s = request.options
        ctx = str(request.ctx or lora_ctx(s.ctx))
        argv = [
            str(request.tools.path(self.tool)),
            "-m", str(request.base.path),
            "-f", str(request.train_text),
            "--segments",  # Forge's patch: packed conversations, loss on the trained segments
            "--output-adapter", str(request.output),
            "-c", ctx, "-b", ctx, "-ub", ctx,
            "-fa", "off",  # no backward pass for flash attention: the default aborts
            "--num-epochs", str(s.epochs),
            "--learning-rate", f"{s.lr:g}",
            "--lora-rank", str(s.lora_rank),
            "--lora-alpha", f"{s.lora_alpha:g}",
            "--lora-modules", s.lora_modules,
            "--lora-seed", str(s.seed),
            "--seed", str(s.seed),
            "-t", str(s.threads or physical_cores()),
        ]
        if request.checkpoint_dir is not None:
            argv += ["--checkpoint-save-steps", str(s.checkpoint_every),
                     "--checkpoint-save-dir", str(request.checkpoint_dir)]
        else:
            argv += ["--checkpoint-save-steps", "0"]
        if request.resume_from is not None:
            argv += ["--resume-from", str(request.resume_from)]
        if set(request.base.tensor_types) - _NO_REPACK_FREE:
            argv.append("--no-repack")
        return argv + gpu_args(request, self.tool)

    def build_step(self, request: TrainRequest, result: TrainResult) -> ProcessStep:
        from forge_gui.core.llamacpp import lora

        s = request.options
        parser = FinetuneProgressParser(s.epochs, LORA_VAL_SPLIT, step="train")

        def parse(line: str):
            saved = lora.saved_checkpoint(line)
            if saved is not None and request.checkpoint_dir is not None:
                lora.prune_checkpoints(request.checkpoint_dir)
            return parser(line)

        def check(code: int) -> None:
            hint = f"The tool's output is in {request.log_path}." if request.log_path else None
            if code != 0:  # a part written before the failure is removed, never kept
                check_output(request.output, "llama-finetune-lora", code, hint)
            lora.check_adapter(request.base, request.output, hint)
            result.output = request.output
            result.train_loss_first = parser.first_loss
            result.train_loss_last = parser.last_loss
            result.val_loss_last = parser.last_val_loss

        return ProcessStep(key="train", label="Train a LoRA adapter (llama-finetune-lora)",
                           argv=self.argv(request), cwd=request.output.parent,
                           outputs=[request.output], parse_line=parse, check=check,
                           log_path=request.log_path)


LORA_VAL_SPLIT = 0.05  # fixed in llama-finetune-lora

TRAINERS: dict[str, type[Trainer]] = {LlamaFinetuneTrainer.key: LlamaFinetuneTrainer,
                                      LoraTrainer.key: LoraTrainer}
METHODS = tuple(TRAINERS)


def get_trainer(method: str) -> Trainer:
    """The trainer for a method ("lora" or "full")."""
    try:
        return TRAINERS[method]()
    except KeyError:
        raise StepFailed(f"Unknown training method {method!r}.",
                         f"Available: {', '.join(sorted(TRAINERS))}.") from None


__all__ = ["Trainer", "TrainOptions", "TrainRequest", "TrainResult", "LlamaFinetuneTrainer",
           "LoraTrainer", "get_trainer", "TRAINERS", "METHODS", "inspect_gguf",
           "physical_cores"]
