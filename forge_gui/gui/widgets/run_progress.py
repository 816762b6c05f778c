"""The whole run's progress bar and the time left, on the Run page (docs/gui.md).

Each step is worth a share of the bar (STEP_WEIGHTS, training the most). The time left is
training's own estimate while it trains, else the run's pace so far; either is smoothed so
that it does not jump by minutes when the machine is busy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

# Share of the whole run's progress bar each step is worth (the rest are worth 1).
STEP_WEIGHTS = {"train": 20, "convert": 3, "quantize": 3, "prepare": 2, "register": 3,
                "merge": 2, "evaluate": 3}


class RunProgress(QWidget):
    """`bar` (0..1000) and `eta` (a label), driven by step indexes and fractions."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Overall progress")
        self.bar.setRange(0, 1000)
        self.eta = QLabel()
        self.eta.setAccessibleName("Time left")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.eta)
        self._weights: list[int] = []
        self._fractions: dict[int, float] = {}
        self._started = 0.0
        self._smoother = EtaSmoother()
        self._ended = False

    def reset(self, keys: Iterable[str]) -> None:
        """A new list of steps (by key), none of them done."""
        self._weights = [STEP_WEIGHTS.get(key, 1) for key in keys]
        self._fractions = {}

    def begin(self) -> None:
        """The steps start (or start again): the time left is measured from now."""
        self._smoother = EtaSmoother()
        self._started = time.monotonic()
        self._ended = False

    def set_fraction(self, index: int, fraction: float, train_eta: float | None = None) -> None:
        self._fractions[index] = max(0.0, min(1.0, fraction))
        self._update(train_eta)

    def complete(self, index: int) -> None:
        self._fractions[index] = 1.0
        self._update()

    def touch(self) -> None:
        """A step changed state without progress (e.g. it failed): show the time left anew."""
        self._update()

    def end(self, done: bool) -> None:
        """The run ended: no time is left; a finished run fills the bar."""
        self._ended = True
        self.eta.setText("")
        if done:
            self.bar.setValue(1000)

    def _update(self, step_eta: float | None = None) -> None:
        if not self._weights:
            return
        done = sum(w * self._fractions.get(i, 0.0) for i, w in enumerate(self._weights))
        overall = done / sum(self._weights)
        self.bar.setValue(int(overall * 1000))
        now = time.monotonic()
        elapsed = now - self._started
        if self._ended:  # nothing is left to wait for
            self.eta.setText("")
        elif step_eta is not None:
            self.eta.setText(f"about {clock(self._smoothed('train', step_eta, now))} left "
                             "in training")
        elif 0.02 < overall < 1.0:
            left = elapsed * (1 - overall) / overall
            self.eta.setText(f"about {clock(self._smoothed('run', left, now))} left")
        else:
            self.eta.setText("")

    def _smoothed(self, source: str, estimate: float, now: float) -> float:
        """The shown time left; a different estimate (training's own, the run's) starts over."""
        if self._smoother.source != source:
            self._smoother = EtaSmoother()
            self._smoother.source = source
        return self._smoother.update(estimate, now)


class EtaSmoother:
    """The time left as shown: estimates jump by minutes when the machine is busy, so each
    new one moves the shown value only part of the way (a time constant of TAU_S seconds),
    while the shown value counts down with the clock in between."""

    TAU_S = 8.0

    def __init__(self) -> None:
        self.value: float | None = None
        self.at = 0.0
        self.source: str | None = None  # which estimate it smooths (RunProgress._smoothed)

    def update(self, estimate: float, now: float) -> float:
        if self.value is None:
            self.value, self.at = estimate, now
            return estimate
        dt = max(0.0, now - self.at)
        predicted = max(0.0, self.value - dt)
        weight = 1 - math.exp(-dt / self.TAU_S) if dt > 0 else 0.0
        self.value, self.at = predicted + weight * (estimate - predicted), now
        return self.value


def clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"
