"""The log view, the loss chart, and forge-gui's command line (--version, --self-test,
--screenshots) run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys

from PySide6.QtGui import QColor

from forge_gui.gui.widgets.log_view import MAX_LINES, LogView
from forge_gui.gui.widgets.loss_chart import TRAIN_COLOR, LossChart


def test_log_view_keeps_the_tail_bounded(qtbot):
    view = LogView()
    qtbot.addWidget(view)
    view.append_lines(["first", "second"])
    view.flush()
    assert view.toPlainText() == "first\nsecond"  # slow output: every line shows
    for start in range(0, 30_000, 1000):  # a flood: each tick shows the newest lines
        view.append_lines([f"line {i}" for i in range(start, start + 1000)])
        view.flush()
    assert view.total_lines == 30_002
    assert view.document().blockCount() <= MAX_LINES
    text = view.toPlainText()
    assert text.endswith("line 29998\nline 29999") and "first" not in text
    assert "more lines in the log file" in text


def test_loss_chart_draws_the_points_it_gets(qtbot):
    chart = LossChart()
    qtbot.addWidget(chart)
    chart.resize(400, 220)
    empty = chart.grab().toImage()
    for x in range(10):
        chart.add_point(x, 5.0 - x * 0.4, None)
    chart.add_point(9, None, 3.1)
    drawn = chart.grab().toImage()
    assert chart.summary() == "train loss 5.000 → 1.400, validation loss 3.100"
    blue = TRAIN_COLOR.rgb()

    def count(img):
        return sum(1 for x in range(0, img.width(), 2) for y in range(0, img.height(), 2)
                   if abs(QColor(img.pixel(x, y)).hue() - QColor(blue).hue()) < 8
                   and QColor(img.pixel(x, y)).saturation() > 120)

    assert count(empty) == 0 and count(drawn) > 20
    chart.add_point(10, float("nan"))  # ±nan lines must not break the chart
    assert len(chart.train) == 10


def _gui(*args, env_extra=None, timeout=180):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "forge_gui.gui.app", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_version():
    result = _gui("--version")
    assert result.returncode == 0 and result.stdout.startswith("forge-gui ")


def test_self_test_passes_with_nothing_on_stderr():
    result = _gui("--self-test")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "forge-gui self-test: ok"
    assert result.stderr == ""


def test_self_test_fails_with_the_reason_when_the_sample_is_missing(tmp_path):
    # a copy of the package whose resources folder is empty: the bundled sample is missing
    code = ("import sys; from forge_gui.core.base import paths; from pathlib import Path; "
            f"paths.resources_dir = lambda: Path({str(tmp_path)!r}); "
            "from forge_gui.gui.app import main; sys.exit(main(['--self-test']))")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 1
    assert "sample dataset is missing" in result.stderr


def test_screenshots_of_every_page_at_200_percent(tmp_path):
    from PySide6.QtGui import QImage

    result = _gui("--screenshots", str(tmp_path), env_extra={"QT_SCALE_FACTOR": "2"})
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert len(names) == 16
    assert {"1-data-statistics.png", "5-run-dark.png", "7-runs.png"} <= set(names)
    image = QImage(str(tmp_path / "1-data.png"))
    assert image.width() >= 1800  # drawn at 2x, not scaled up afterwards


def test_the_installed_pyside6_keeps_references_of_none_and_true(qtbot):
    """PySide6 6.12.0 on CPython 3.11 returned None/True without a reference from void calls
    and Signal.emit(): a busy wizard died in 'none_dealloc'. pyproject pins it out; this
    catches a version with the same fault."""
    from PySide6.QtCore import QObject, QTimer, Signal

    class Pinger(QObject):
        ping = Signal(object)

    pinger, timer, view = Pinger(), QTimer(), LogView()
    qtbot.addWidget(view)
    pinger.ping.connect(lambda value: None)
    before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(500):
        timer.start()
        timer.stop()
        view.appendPlainText("x")
        pinger.ping.emit(1)
    assert (sys.getrefcount(None) - before[0], sys.getrefcount(True) - before[1]) == (0, 0)
