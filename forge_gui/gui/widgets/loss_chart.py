"""Train and validation loss drawn with QPainter (PySide6-Essentials has no QtCharts)."""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

TRAIN_COLOR = QColor("#2e86de")
VAL_COLOR = QColor("#e67e22")


class LossChart(QWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Loss chart")
        self.setMinimumSize(260, 140)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.train: list[tuple[float, float]] = []
        self.val: list[tuple[float, float]] = []
        self.epochs: int | None = None  # x is in epochs; the axis spans 0..epochs when known

    def clear(self) -> None:
        self.train.clear()
        self.val.clear()
        self.epochs = None
        self.setAccessibleDescription(self.summary())
        self.update()

    def set_epochs(self, epochs: int) -> None:
        if epochs != self.epochs:
            self.epochs = epochs
            self.update()

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
        ys = [p[1] for p in points]
        x0, x1 = min(xs), max(xs)
        if self.epochs:  # the whole run's span, in epochs, from the start
            x0, x1 = 0.0, max(x1, float(self.epochs))
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
        for name, color, series in (("train", TRAIN_COLOR, self.train), ("validation", VAL_COLOR, self.val)):
            painter.fillRect(QRectF(lx, 4, 12, fm.height() - 4), color)
            label = f"{name} {series[-1][1]:.3f}" if series else name
            painter.setPen(text_color)
            painter.drawText(QPointF(lx + 16, fm.ascent() + 2), label)
            lx += fm.horizontalAdvance(label) + 36
        if self.epochs:  # a tick and its number at each epoch (at most about ten)
            step = max(1, math.ceil(self.epochs / 10))
            for epoch in range(0, int(x1) + 1, step):
                pt = at(epoch, y0)
                painter.drawLine(QPointF(pt.x(), plot.bottom()), QPointF(pt.x(), plot.bottom() + 3))
                painter.drawText(QRectF(pt.x() - 20, plot.bottom() + 4, 40, fm.height()),
                                 Qt.AlignmentFlag.AlignHCenter, str(epoch))
            painter.drawText(QRectF(0, plot.bottom() + 4, margin_left - 6, fm.height()),
                             Qt.AlignmentFlag.AlignRight, "epoch")
        else:
            painter.drawText(QRectF(plot.left(), plot.bottom() + 4, plot.width(), fm.height()),
                             Qt.AlignmentFlag.AlignHCenter, "progress through training")
