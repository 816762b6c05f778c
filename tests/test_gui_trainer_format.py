"""The Trainer page says which format the run will train in, and why (issue 20): the base's
own chat format for LoRA on a base with a chat template, Forge's plain text for a full
fine-tune. The sentence is core's (formats/detect.py)."""

from __future__ import annotations

from fixtures_gui import GOOD_RECORDS, write_jsonl
from test_template_formats import _write_family, models_dir  # noqa: F401


def test_the_trainer_page_says_which_format_is_trained_and_why(qtbot, wizard, tmp_path,
                                                              models_dir):  # noqa: F811
    base = _write_family(models_dir, "qwen-2.5", tmp_path / "qwen.gguf")
    wizard.data_page.add_paths([write_jsonl(tmp_path / "d.jsonl", GOOD_RECORDS)])
    qtbot.waitUntil(wizard.data_page.isComplete, timeout=15000)
    wizard.base_page.choose_file(base)
    qtbot.waitUntil(lambda: wizard.base_page.info is not None, timeout=15000)
    page = wizard.trainer_page
    note = page.format_note
    assert note.text().startswith("Training in the base's own chat format")
    assert "<|im_end|>" in note.text() and note.accessibleName() == "Which format is trained"
    assert wizard.data_page.preview.toolTip() == note.text()  # one sentence, both pages
    page.method.setCurrentIndex(next(i for i in range(page.method.count())
                                     if page.method.itemText(i).lower().startswith("full")))
    assert note.text() == "Full fine-tuning trains Forge's plain-text format."
