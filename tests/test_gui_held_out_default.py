"""The Data page holds records out for the before/after evaluation by default, when there are
enough of them; a share the user chose is kept."""

from __future__ import annotations

from fixtures_gui import write_jsonl


def _records(n: int, words: int) -> list[dict]:
    return [{"instruction": f"Question {i}: " + "word " * words, "output": "answer " * words}
            for i in range(n)]


def test_enough_records_are_held_out_by_default(qtbot, wizard, tmp_path):
    page = wizard.data_page
    assert page.held_out.value() == 0
    page.add_paths([write_jsonl(tmp_path / "big.jsonl", _records(200, 40))])
    qtbot.waitUntil(lambda: page.report is not None, timeout=15000)
    assert page.held_out.value() == 10
    values: dict = {}
    page.contribute(values)
    assert values["val_fraction"] == 0.10


def test_too_little_data_is_not_held_out(qtbot, wizard, tmp_path):
    page = wizard.data_page
    page.add_paths([write_jsonl(tmp_path / "small.jsonl", _records(12, 5))])
    qtbot.waitUntil(lambda: page.report is not None, timeout=15000)
    assert page.held_out.value() == 0


def test_a_share_the_user_chose_is_kept(qtbot, wizard, tmp_path):
    page = wizard.data_page
    page.held_out.setValue(25)
    page.add_paths([write_jsonl(tmp_path / "big.jsonl", _records(200, 40))])
    qtbot.waitUntil(lambda: page.report is not None, timeout=15000)
    assert page.held_out.value() == 25
