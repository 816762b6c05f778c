"""The one progress type every long step reports, whether it is a subprocess or Python work."""

from __future__ import annotations

from pydantic import BaseModel


class ProgressEvent(BaseModel):
    """A step's progress. Every field is optional: a parser fills in what a line tells.

    fraction: 0..1 of the step done (None: unknown, show a busy bar).
    eta_seconds: time left for the step, when the tool says or it can be estimated.
    loss / val_loss: latest train and validation loss (training steps only).
    message: a short human sentence for the status line.
    """

    step: str = ""
    fraction: float | None = None
    eta_seconds: float | None = None
    message: str | None = None
    epoch: int | None = None
    epochs: int | None = None
    phase: str | None = None  # e.g. "train" / "val" for llama-finetune
    loss: float | None = None
    val_loss: float | None = None
    accuracy: float | None = None
    # Where the loss point sits on the x axis of the chart (training: in epochs, 1.5 = half
    # way through the second).
    x: float | None = None
