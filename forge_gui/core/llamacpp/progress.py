"""Parse upstream llama-finetune's progress output into ProgressEvents (docs/training.md).

llama-finetune redraws one status line per phase with '\\r':

    train: [████▎   ] data=0000012/0000022 loss=9.70604±0.10865 acc=20.77±1.04% t=00:00:01 ETA=00:00:00
    val:   [████████] data=0000002/0000002 loss=9.52±nan acc=...

then ends the phase with a newline; every epoch is a train phase followed by a val phase (none
when -val-split is 0). Lines come from LineSplitter, already split on '\\r' and '\\n'.

The parser owns its state (a fresh one per step). It reports the fraction of the whole run
(all epochs, both phases), the latest train and validation loss, and an ETA for the whole run
computed from the tool's own timers, so it stays a pure function of the lines it is fed.
"""

from __future__ import annotations

import math
import re

from forge_gui.core.base.events import ProgressEvent

_NUM = r"[-+]?(?:nan|inf|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
_STATUS = re.compile(
    r"^\s*(?P<phase>train|val):\s*\[[^\]]*\]\s*data=(?P<i>\d+)/(?P<n>\d+)"
    rf"\s+loss=(?P<loss>{_NUM})±(?P<loss_unc>{_NUM})"
    rf"(?:\s+acc=(?P<acc>{_NUM})±{_NUM}%)?"
    r"(?:\s+t=(?P<t>\d+:\d\d:\d\d))?(?:\s+ETA=(?P<eta>\d+:\d\d:\d\d))?",
    re.IGNORECASE,
)
# common's lr scheduler logs "epoch 0 lr=1e-05" once per epoch (epoch counted from 0).
_EPOCH_LOG = re.compile(r"\bepoch\s+(?P<e>\d+(?:\.\d+)?)\s+lr=")
# llama-finetune-lora logs "Starting epoch 1 (step 40, lr=…)" before each epoch, also the one a
# resumed run starts in: the epoch is taken from there rather than counted.
_LORA_EPOCH = re.compile(r"Starting epoch (?P<e>\d+) \(step")


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _seconds(hms: str | None) -> float | None:
    if not hms:
        return None
    h, m, s = (int(x) for x in hms.split(":"))
    return h * 3600 + m * 60 + s


class FinetuneProgressParser:
    """Call it with each line; it returns an event for status lines and None otherwise."""

    def __init__(self, epochs: int, val_split: float = 0.0, step: str = "train") -> None:
        self.epochs = max(1, epochs)
        self.val_split = val_split
        self.step = step
        self.epoch = 0  # 1-based once the first train line is seen
        self.phase: str | None = None
        self.last_i = 0
        self.n_train: int | None = None
        self.n_val: int | None = None
        self.last_fraction = 0.0
        self.done_seconds = 0.0  # tool time of the phases already finished
        self.phase_seconds = 0.0
        self.first_loss: float | None = None
        self.last_loss: float | None = None
        self.last_val_loss: float | None = None
        self.next_epoch: int | None = None  # announced by the tool (1-based)

    def __call__(self, line: str) -> ProgressEvent | None:
        m = _STATUS.match(line)
        if m is None:
            announced = _LORA_EPOCH.search(line)
            if announced:
                self.next_epoch = min(int(announced.group("e")) + 1, self.epochs)
            return None
        phase, i, n = m.group("phase").lower(), int(m.group("i")), int(m.group("n"))
        self._advance(phase, i)
        if phase == "train":
            self.n_train = n
        else:
            self.n_val = n
        self.phase_seconds = _seconds(m.group("t")) or self.phase_seconds
        loss, acc = _number(m.group("loss")), _number(m.group("acc"))
        # The loss of the first batch has no uncertainty yet (±nan) but is a real value.
        event = ProgressEvent(step=self.step, epoch=self.epoch, epochs=self.epochs, phase=phase,
                              accuracy=None if acc is None else acc / 100)
        if phase == "train" and loss is not None:
            self.last_loss = loss
            if self.first_loss is None:
                self.first_loss = loss
            event.loss = loss
        elif phase == "val" and loss is not None and i > 0:
            self.last_val_loss = loss
        event.val_loss = self.last_val_loss
        # The val share is a guess until the first val line: never let the bar go back.
        self.last_fraction = max(self.last_fraction, self._fraction(phase, i, n))
        event.fraction = self.last_fraction
        event.x = self._x(phase, i)
        event.eta_seconds = self._eta(event.fraction)
        event.message = (f"epoch {self.epoch}/{self.epochs} · {phase} {i}/{n}"
                         + (f" · loss {loss:.4f}" if loss is not None else ""))
        return event

    def _advance(self, phase: str, i: int) -> None:
        """Notice a new phase or a new epoch from the sequence of status lines."""
        new_phase = phase != self.phase or i < self.last_i or (
            phase == "train" and self.next_epoch is not None)
        if new_phase:
            if self.phase is not None:
                self.done_seconds += self.phase_seconds
            self.phase_seconds = 0.0
            if phase == "train" and self.next_epoch is not None:
                self.epoch, self.next_epoch = self.next_epoch, None
            elif phase == "train":
                self.epoch = min(self.epoch + 1, self.epochs) if self.epoch else 1
        self.phase, self.last_i = phase, i

    def _train_share(self) -> float:
        if self.n_train and self.n_val is not None:
            return self.n_train / (self.n_train + self.n_val)
        if self.n_train and self.val_split <= 0:
            return 1.0
        return 1.0 - self.val_split

    def _fraction(self, phase: str, i: int, n: int) -> float:
        share = self._train_share()
        within = i / n if n else 1.0
        done_in_epoch = share * within if phase == "train" else share + (1 - share) * within
        return min(1.0, max(0.0, (self.epoch - 1 + done_in_epoch) / self.epochs))

    def _x(self, phase: str, i: int) -> float:
        """Where the point sits in epochs (the chart's x axis): 1.5 is half way through the
        second epoch; val points sit at their epoch's end."""
        n_train = self.n_train or 0
        within = (i / n_train if n_train else 1.0) if phase == "train" else 1.0
        return float(self.epoch - 1 + min(1.0, within))

    def _eta(self, fraction: float) -> float | None:
        elapsed = self.done_seconds + self.phase_seconds
        if fraction <= 0 or elapsed <= 0:
            return None
        return elapsed * (1 - fraction) / fraction


def epoch_from_log(line: str) -> int | None:
    """The 0-based epoch number of a scheduler log line, when it is one."""
    m = _EPOCH_LOG.search(line)
    return int(float(m.group("e"))) if m else None
