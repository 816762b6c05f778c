"""The Data page's Statistics tab: a table of counts and a histogram of record lengths in
tokens, drawn with QPainter against the training context (core/data/lengths.py computes)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPalette, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from forge_gui.core.data.lengths import LengthHistogram

CONTEXT_COLOUR = QColor(214, 69, 65)  # the marker: readable on light and dark palettes


class LengthHistogramChart(QWidget):
    """Bars of record counts per length bin; a dashed line at the training context."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.histogram: LengthHistogram | None = None
        self.setAccessibleName("Record lengths in tokens against the training context")
        self.setMinimumHeight(160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(480, 200)

    def set_histogram(self, histogram: LengthHistogram | None) -> None:
        self.histogram = histogram
        self.setAccessibleDescription(histogram.sentence() if histogram else "")
        self.update()

    def context_x(self) -> float | None:
        """Where the context's marker is drawn (tests check it is inside the plot)."""
        plot = self._plot_rect()
        h = self.histogram
        if h is None or not h.counts:
            return None
        return plot.left() + plot.width() * h.ctx / h.edges[-1]

    def _plot_rect(self) -> QRectF:
        fm = self.fontMetrics()
        left = fm.horizontalAdvance("00000") + 8
        top = fm.height() + 6  # room for "records" and the context's label
        bottom = 2 * fm.height() + 12  # tick labels, then the axis title
        return QRectF(left, top, max(10, self.width() - left - 12),
                      max(10, self.height() - top - bottom))

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        h = self.histogram
        if h is None or not h.total:
            painter.setPen(text)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No records to measure yet.")
            return
        plot = self._plot_rect()
        fm = self.fontMetrics()
        top = max(h.counts) or 1
        n = len(h.counts)
        bar_w = plot.width() / n
        fill = pal.color(QPalette.ColorRole.Highlight)
        for i, count in enumerate(h.counts):
            if not count:
                continue
            height = plot.height() * count / top
            over = h.edges[i] >= h.ctx
            colour = QColor(CONTEXT_COLOUR if over else fill)
            colour.setAlpha(200)
            painter.fillRect(QRectF(plot.left() + i * bar_w + 1, plot.bottom() - height,
                                    max(1.0, bar_w - 2), height), colour)
        painter.setPen(QPen(text, 1))
        painter.drawLine(plot.bottomLeft(), plot.bottomRight())
        painter.drawLine(plot.bottomLeft(), plot.topLeft())
        # y: 0 and the tallest bar's count; x: a few round edges
        painter.drawText(QRectF(0, plot.top() - fm.height() / 2, plot.left() - 4, fm.height()),
                         Qt.AlignmentFlag.AlignRight, f"{top:,}")
        painter.drawText(QRectF(0, plot.bottom() - fm.height() / 2, plot.left() - 4,
                                fm.height()), Qt.AlignmentFlag.AlignRight, "0")
        step = max(1, n // 4)
        for i in range(0, n + 1, step):
            x = plot.left() + i * bar_w
            painter.drawLine(QPointF(x, plot.bottom()), QPointF(x, plot.bottom() + 3))
            label = f"{h.edges[i]:,}"
            w = fm.horizontalAdvance(label)
            painter.drawText(QPointF(min(x - w / 2, self.width() - w - 2), plot.bottom()
                                     + fm.ascent() + 5), label)
        axis = ("about " if h.approximate else "") + "tokens per record"
        painter.drawText(QRectF(plot.left(), plot.bottom() + fm.height() + 8, plot.width(),
                                fm.height()), Qt.AlignmentFlag.AlignHCenter, axis)
        painter.drawText(QPointF(2, fm.ascent()), "records")
        marker = self.context_x()
        if marker is not None:
            painter.setPen(QPen(CONTEXT_COLOUR, 2, Qt.PenStyle.DashLine))
            painter.drawLine(QPointF(marker, plot.top() - 2), QPointF(marker, plot.bottom()))
            label = f"context {h.ctx:,}"
            w = fm.horizontalAdvance(label)
            painter.setPen(CONTEXT_COLOUR)
            painter.drawText(QPointF(marker + 4 if marker + 4 + w < self.width() else marker - w - 4,
                                     plot.top() + fm.ascent() - 4), label)


class StatsView(QWidget):
    """The table, the histogram and the sentence saying what happens to long records."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, 2)
        self.table.setAccessibleName("Statistics")
        self.table.setHorizontalHeaderLabels(["", "Value"])
        self.table.horizontalHeader().hide()
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTabKeyNavigation(False)  # Tab moves on, as everywhere else
        self.chart = LengthHistogramChart()
        self.sentence = QLabel()
        self.sentence.setWordWrap(True)
        self.sentence.setAccessibleName("Records longer than the training context")
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.table.setMinimumWidth(360)
        self.table.setMaximumWidth(420)
        right = QVBoxLayout()
        right.addWidget(self.chart, 1)
        right.addWidget(self.sentence)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addLayout(right, 1)

    def clear(self) -> None:
        self.set_rows([])
        self.set_histogram(None)

    def set_rows(self, rows: list[tuple[str, str]]) -> None:
        self.table.setRowCount(len(rows))
        for r, (what, value) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(what))
            item = QTableWidgetItem(value)
            item.setToolTip(value)  # a narrow window cuts it
            self.table.setItem(r, 1, item)

    def set_histogram(self, histogram: LengthHistogram | None) -> None:
        self.chart.set_histogram(histogram)
        self.sentence.setText(histogram.sentence() if histogram else "")

    def rows(self) -> dict[str, str]:
        """{what: value} as shown (tests and the accessible text read it)."""
        cells = [(self.table.item(r, 0), self.table.item(r, 1))
                 for r in range(self.table.rowCount())]
        return {a.text(): b.text() for a, b in cells if a is not None and b is not None}
