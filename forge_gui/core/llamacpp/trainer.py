"""Trainers: prepared data + base + settings -> one pipeline step.

A Trainer says what it needs (a plain-text file, an F32 base) and builds a ProcessStep
(argv, expected output, progress parser, result check). Front ends only ever see the step, so a
new trainer (the LoRA fork, Axolotl, Unsloth) is a new class registered in TRAINERS.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import psutil

from forge_gui.core.llamacpp.discover import ToolSet
from forge_gui.core.llamacpp.gguf_info import GGUFInfo, check_same_model, inspect_gguf
from forge_gui.core.llamacpp.progress import FinetuneProgressParser
from forge_gui.core.llamacpp.tool_steps import training_ctx
from forge_gui.core.run import RunSettings
from forge_gui.core.steps import ProcessStep, StepFailed


@dataclass
class TrainRequest:
    train_text: Path  # the prepared training text (plain text, DESIGN §5 format)
    base: GGUFInfo  # the model the trainer starts from (already in a trainable form)
    output: Path  # where the trained model must appear
    settings: RunSettings
    tools: ToolSet
    log_path: Path | None = None


@dataclass
class TrainResult:
    """What the step's check saw; the pipeline copies it into the run's artifacts."""

    output: Path | None = None
    train_loss_first: float | None = None
    train_loss_last: float | None = None
    val_loss_last: float | None = None


class Trainer(ABC):
    key: str
    label: str
    data_format: str  # what prepare_training_data writes for it
    needs_f32_base: bool

    @abstractmethod
    def build_step(self, request: TrainRequest, result: TrainResult) -> ProcessStep:
        """The training step. Its check fills `result` or raises StepFailed."""


def physical_cores() -> int:
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


class LlamaFinetuneTrainer(Trainer):
    """Upstream llama.cpp `llama-finetune`: full fine-tuning, writes a whole model (-o)."""

    key = "llama.cpp"
    label = "llama.cpp (llama-finetune, full fine-tune)"
    data_format = "llama.cpp"
    needs_f32_base = True

    def argv(self, request: TrainRequest) -> list[str]:
        s = request.settings
        ctx = str(training_ctx(s.ctx))
        argv = [
            str(request.tools.path("llama-finetune")),
            "-m", str(request.base.path),
            "-f", str(request.train_text),
            "-o", str(request.output),  # without -o it writes nothing and still exits 0
            "-c", ctx, "-b", ctx, "-ub", ctx,  # equal, a multiple of 256 (see training_ctx)
            "--epochs", str(s.epochs),
            "-lr", f"{s.learning_rate:g}",
            "-val-split", f"{s.val_split:g}",
            "-opt", s.optimizer,
            "-t", str(s.threads or physical_cores()),
            "--seed", str(s.seed),
        ]
        if s.gpu_layers is not None:
            argv += ["-ngl", str(s.gpu_layers)]
        return argv

    def build_step(self, request: TrainRequest, result: TrainResult) -> ProcessStep:
        s = request.settings
        parser = FinetuneProgressParser(s.epochs, s.val_split, step="train")

        def check(code: int) -> None:
            hint = f"The tool's output is in {request.log_path}." if request.log_path else None
            if code != 0:
                raise StepFailed(f"llama-finetune failed (exit code {code}).", hint)
            if not request.output.is_file():
                raise StepFailed("llama-finetune exited without writing the trained model "
                                 f"({request.output}).", hint)
            check_same_model(request.base, request.output)
            result.output = request.output
            result.train_loss_first = parser.first_loss
            result.train_loss_last = parser.last_loss
            result.val_loss_last = parser.last_val_loss

        return ProcessStep(key="train", label="Fine-tune (llama-finetune)", argv=self.argv(request),
                           cwd=request.output.parent, outputs=[request.output],
                           parse_line=parser, check=check, log_path=request.log_path)


TRAINERS: dict[str, type[Trainer]] = {LlamaFinetuneTrainer.key: LlamaFinetuneTrainer}


def get_trainer(key: str) -> Trainer:
    try:
        return TRAINERS[key]()
    except KeyError:
        raise StepFailed(f"Unknown trainer {key!r}.",
                         f"Available: {', '.join(sorted(TRAINERS))}.") from None


__all__ = ["Trainer", "TrainRequest", "TrainResult", "LlamaFinetuneTrainer", "get_trainer",
           "TRAINERS", "inspect_gguf", "physical_cores"]
