"""Train and validation loss drawn with QPainter (PySide6-Essentials has no QtCharts).

x is in epochs (core/llamacpp/progress.py reports points that way); an optional dashed
horizontal line marks a reference loss, e.g. the base model's loss on the held-out records
(docs/training.md, "Did it get better?")."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from forge_gui.core.base.events import ProgressEvent

TRAIN_COLOR = QColor("#2e86de")
VAL_COLOR = QColor("#e67e22")
REFERENCE_COLOR = QColor("#8e44ad")


class LossChart(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Loss chart")
        self.setMinimumSize(260, 140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.train: list[tuple[float, float]] = []
        self.val: list[tuple[float, float]] = []
        self.epochs: int | None = None  # x is in epochs; the axis spans 0..epochs when known
        self.reference: tuple[float, str] | None = None  # (loss, what it is)
        self.x_label = "epoch"
        self._x = 0.0  # the last point's x (add_event counts on from it)

    def set_reference(self, loss: float | None, label: str = "base, held-out") -> None:
        """A dashed horizontal line at `loss` (None removes it)."""
        self.reference = (float(loss), label) if loss is not None and math.isfinite(loss) else None
        self.setAccessibleDescription(self.summary())
        self.update()

    def set_points(self, train: list[tuple[float, float]], val: list[tuple[float, float]]) -> None:
        """Replace both curves at once (a finished run's log)."""
        self.train = [p for p in train if math.isfinite(p[1])]
        self.val = [p for p in val if math.isfinite(p[1])]
        self.setAccessibleDescription(self.summary())
        self.update()

    def clear(self) -> None:
        self.train.clear()
        self.val.clear()
        self.epochs = None
        self._x = 0.0
        self.setAccessibleDescription(self.summary())
        self.update()

    def set_epochs(self, epochs: int) -> None:
        if epochs != self.epochs:
            self.epochs = epochs
            self.update()

    def add_event(self, event: ProgressEvent) -> None:
        """A progress event's loss (training's or validation's); an event without x comes
        one after the last point."""
        if event.loss is None and event.val_loss is None:
            return
        self._x = event.x if event.x is not None else self._x + 1
        if event.epochs:
            self.set_epochs(event.epochs)
        self.add_point(self._x, event.loss, event.val_loss)

    def add_point(self, x: float, loss: float | None = None, val_loss: float | None = None) -> None:
        if loss is not None and math.isfinite(loss):
            self.train.append((x, loss))
        if val_loss is not None and math.isfinite(val_loss):
            self.val.append((x, val_loss))
        self.setAccessibleDescription(self.summary())
        self.update()

    def summary(self) -> str:
        parts = []
        if self.train:
            parts.append(f"train loss {self.train[0][1]:.3f} → {self.train[-1][1]:.3f}")
            if self.epochs:
                parts[-1] += f" at epoch {self.train[-1][0]:.1f} of {self.epochs}"
        if self.val:
            parts.append(f"validation loss {self.val[-1][1]:.3f}")
        if self.reference is not None and parts:
            parts.append(f"{self.reference[1]} {self.reference[0]:.3f}")
        return ", ".join(parts) or "no loss yet"

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        painter.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        text_color = pal.color(QPalette.ColorRole.Text)
        fm = painter.fontMetrics()
        margin_left = fm.horizontalAdvance("00.00") + 12
        plot = QRectF(margin_left, fm.height() + 8, self.width() - margin_left - 10,
                      self.height() - 2 * fm.height() - 16)
        painter.setPen(QPen(pal.color(QPalette.ColorRole.Mid), 1))
        painter.drawRect(plot)
        points = self.train + self.val
        if not points:
            painter.setPen(text_color)
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "The loss appears here during training.")
            return
        xs = [p[0] for p in points]
        ys = [p[1] for p in points] + ([self.reference[0]] if self.reference else [])
        x0, x1 = min(xs), max(xs)
        if self.epochs:  # the whole run's span, in epochs, from the start
            x0, x1 = 0.0, max(x1, float(self.epochs))
        elif self.x_label == "epoch":
            x0 = math.floor(x0)  # the axis starts where training did
        y0, y1 = min(ys), max(ys)
        if x1 == x0:
            x1 = x0 + 1
        pad = (y1 - y0) * 0.08 or 0.5
        y0, y1 = y0 - pad, y1 + pad

        def at(x: float, y: float) -> QPointF:
            return QPointF(plot.left() + (x - x0) / (x1 - x0) * plot.width(),
                           plot.bottom() - (y - y0) / (y1 - y0) * plot.height())

        painter.setPen(text_color)
        for y in (y0 + pad, y1 - pad):
            pt = at(x0, y)
            painter.drawText(QRectF(0, pt.y() - fm.height() / 2, margin_left - 6, fm.height()),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{y:.2f}")
        epoch_ticks = [e for e in range(math.floor(x0), math.ceil(x1) + 1) if x0 <= e <= x1]
        ticked = self.x_label == "epoch" and 2 <= len(epoch_ticks) <= 30
        for e in epoch_ticks if ticked else []:
            pt = at(e, y0)
            painter.setPen(QPen(pal.color(QPalette.ColorRole.Mid), 1, Qt.PenStyle.DotLine))
            painter.drawLine(QPointF(pt.x(), plot.top()), QPointF(pt.x(), plot.bottom()))
            painter.setPen(text_color)
            if e == epoch_ticks[-1]:  # the last tick names the axis: "… 2 epochs"
                label = f"{e} epoch" + ("" if e == 1 else "s")
                painter.drawText(QRectF(pt.x() - 200, plot.bottom() + 2, 200 + 8, fm.height()),
                                 Qt.AlignmentFlag.AlignRight, label)
            else:
                painter.drawText(QRectF(pt.x() - 20, plot.bottom() + 2, 40, fm.height()),
                                 Qt.AlignmentFlag.AlignHCenter, str(e))
        if self.reference is not None:
            ref_y = at(x0, self.reference[0]).y()
            painter.setPen(QPen(REFERENCE_COLOR, 1.5, Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(plot.left(), ref_y), QPointF(plot.right(), ref_y))
        for series, color in ((self.train, TRAIN_COLOR), (self.val, VAL_COLOR)):
            if not series:
                continue
            painter.setPen(QPen(color, 2))
            path = QPainterPath(at(*series[0]))
            for x, y in series[1:]:
                path.lineTo(at(x, y))
            painter.drawPath(path)
            if len(series) == 1:
                painter.setBrush(color)
                painter.drawEllipse(at(*series[0]), 3, 3)
                painter.setBrush(Qt.BrushStyle.NoBrush)
        # legend
        lx = plot.left()
        legend = [("train", TRAIN_COLOR, self.train), ("validation", VAL_COLOR, self.val)]
        if self.reference is not None:
            legend.append((self.reference[1], REFERENCE_COLOR, [(x0, self.reference[0])]))
        for name, color, series in legend:
            painter.fillRect(QRectF(lx, 4, 12, fm.height() - 4), color)
            label = f"{name} {series[-1][1]:.3f}" if series else name
            painter.setPen(text_color)
            painter.drawText(QPointF(lx + 16, fm.ascent() + 2), label)
            lx += fm.horizontalAdvance(label) + 36
        if not ticked:
            axis = "epochs" if self.x_label == "epoch" else "progress through training"
            painter.drawText(QRectF(plot.left(), plot.bottom() + 4, plot.width(), fm.height()),
                             Qt.AlignmentFlag.AlignHCenter, axis)
