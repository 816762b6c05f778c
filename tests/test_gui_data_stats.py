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


def test_lengths_follow_the_bases_own_chat_template(qtbot, wizard, tmp_path, monkeypatch):
    """A base with its own chat template (Qwen 2.5's: it adds a default system prompt to
    every record): the chart measures what that template renders, not some other format."""
    import pytest

    from forge_gui.core.data.scan import approx_tokens
    from forge_gui.core.formats.template_format import template_format
    from forge_gui.core.llamacpp.build import source_dir
    from forge_gui.gui import backend

    path = source_dir() / "models" / "templates" / "Qwen-Qwen2.5-7B-Instruct.jinja"
    if not path.is_file():
        pytest.skip("the llama.cpp source tree (templates) is not extracted yet")
    fmt = template_format(path.read_text("utf-8"), None, "<|im_end|>")
    monkeypatch.setitem(backend._DETECTED, "template", fmt)
    page = wizard.data_page
    records = _records()
    page.add_paths([write_jsonl(tmp_path / "d.jsonl", records)])
    qtbot.waitUntil(lambda: page.report is not None and not page.validating, timeout=15000)
    page.set_chat_format("template", "Training in the base's own chat format.")
    page.tabs.setCurrentWidget(page.stats)
    chart = page.stats.chart
    assert chart.histogram is not None and sum(chart.histogram.counts) == 15
    longest = max(len(fmt.render_turns((("user", r["instruction"], None),
                                        ("assistant", r["output"], None)))) for r in records)
    assert chart.histogram.longest == approx_tokens(longest)
    assert "3 of 15 conversations are longer" in page.stats.sentence.text()
