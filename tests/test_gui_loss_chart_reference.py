"""The loss chart: x in epochs, train and validation curves, the base's held-out loss as a line."""

from __future__ import annotations

from PySide6.QtGui import QColor

from forge_gui.gui.widgets.loss_chart import REFERENCE_COLOR, LossChart


def _count(img, color: QColor) -> int:
    return sum(1 for x in range(0, img.width(), 2) for y in range(0, img.height(), 2)
               if abs(QColor(img.pixel(x, y)).hue() - color.hue()) < 8
               and QColor(img.pixel(x, y)).saturation() > 80)


def test_the_base_loss_is_drawn_as_a_reference_line(qtbot):
    chart = LossChart()
    qtbot.addWidget(chart)
    chart.resize(420, 220)
    chart.set_points([(i / 10, 9.0 - i * 0.3) for i in range(1, 21)], [(1.0, 6.0), (2.0, 3.5)])
    plain = chart.grab().toImage()
    assert _count(plain, REFERENCE_COLOR) == 0
    chart.set_reference(10.4, "base, held-out")
    drawn = chart.grab().toImage()
    assert _count(drawn, REFERENCE_COLOR) > 30
    assert chart.summary() == ("train loss 8.700 → 3.000, validation loss 3.500, "
                               "base, held-out 10.400")
    chart.set_reference(None)
    assert chart.reference is None and "base" not in chart.summary()


def test_points_from_the_parser_are_in_epochs(qtbot):
    from forge_gui.core.llamacpp.progress import FinetuneProgressParser

    parser = FinetuneProgressParser(epochs=2, val_split=0.5)
    chart = LossChart()
    qtbot.addWidget(chart)
    for epoch in range(2):
        for i in range(1, 5):
            event = parser(f"train: [▏] data={i:07d}/0000004 loss={5 - epoch - i / 4:.3f}±0.1 "
                           "acc=1.00±0.10% t=00:00:01 ETA=00:00:01")
            chart.add_point(event.x, event.loss)
        event = parser("val:   [▏] data=0000002/0000002 loss=4.0±0.2 acc=1.00±0.10% t=00:00:01")
        chart.add_point(event.x, None, event.val_loss)
    assert [x for x, _ in chart.train] == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert [x for x, _ in chart.val] == [1.0, 2.0]
