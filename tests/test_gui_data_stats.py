"""The Data page's Statistics tab: a table, and record lengths against the training context."""

from __future__ import annotations

from fixtures_gui import write_jsonl
from PySide6.QtCore import QPoint


def _records() -> list[dict]:
    short = [{"instruction": f"Question {i}?", "output": "A short answer."} for i in range(12)]
    long = [{"instruction": f"Long {i}: " + "word " * 500, "output": "ok"} for i in range(3)]
    return short + long  # the long ones are about 640 tokens each


def test_statistics_show_a_table_and_the_records_longer_than_the_context(qtbot, wizard,
                                                                          tmp_path):
    page = wizard.data_page
    page.add_paths([write_jsonl(tmp_path / "d.jsonl", _records() + [_records()[0]])])
    qtbot.waitUntil(lambda: page.report is not None and not page.validating, timeout=15000)
    page.tabs.setCurrentWidget(page.stats)
    rows = page.stats.rows()
    assert rows["Records kept"] == "16" and rows["Records rejected"] == "0"
    assert rows["Duplicates"] == "1" and rows["Tokens"].startswith("about ")
    chart = page.stats.chart
    assert sum(chart.histogram.counts) == 16 and chart.histogram.ctx == 512
    sentence = page.stats.sentence.text()
    assert "3 of 16 records are longer than the 512-token context" in sentence
    assert "will be cut" in sentence and "about" in sentence
    # the marker is drawn inside the plot, between the short bars and the long ones
    marker = chart.context_x()
    plot = chart._plot_rect()
    assert plot.left() < marker < plot.right()
    image = chart.grab().toImage()
    y = int(plot.top() + plot.height() / 2)
    assert image.pixelColor(QPoint(int(marker), y)).red() > 150  # the red dashed line

    wizard.trainer_page.ctx.setValue(1024)  # back from the Trainer page with a longer one
    page.tabs.setCurrentIndex(0)
    page.tabs.setCurrentWidget(page.stats)
    assert page.stats.sentence.text().startswith("Every record fits the 1024-token training context")

    page.set_chat_format("chatml", "The base has a ChatML template.")
    wizard.trainer_page.ctx.setValue(512)
    page.tabs.setCurrentIndex(0)
    page.tabs.setCurrentWidget(page.stats)
    assert "3 of 16 conversations are longer" in page.stats.sentence.text()
    assert "skipped" in page.stats.sentence.text()
