"""A run's settings as the plain values the trainer's command line takes (the llama.cpp
wrappers never see RunSettings: docs/architecture.md, "The floors")."""

from __future__ import annotations

from forge_gui.core.llamacpp.trainer import TrainOptions
from forge_gui.core.runs.run import RunSettings


def train_options(settings: RunSettings) -> TrainOptions:
    s = settings
    return TrainOptions(epochs=s.epochs, lr=s.lr, ctx=s.ctx, seed=s.seed, val_split=s.val_split,
                        optimizer=s.optimizer, threads=s.threads, gpu_layers=s.gpu_layers,
                        lora_rank=s.lora_rank, lora_alpha=s.lora_alpha,
                        lora_modules=s.lora_modules, checkpoint_every=s.checkpoint_every)
