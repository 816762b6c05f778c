"""A run's loss curve (train and validation loss by epoch) from its logs/train.log, parsed with
the same parser as the live chart: the Runs window and the run page show it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from forge_gui.core.llamacpp.progress import FinetuneProgressParser


def loss_points(run_dir: Path, epochs: int | None = None
                ) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(train, validation) loss points (x in epochs) from the run's logs/train.log, parsed
    with the same parser as the live chart."""
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
