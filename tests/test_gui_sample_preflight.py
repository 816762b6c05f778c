"""The starter sample passes the Trainer page's token-exact preflight at the page's defaults
(LoRA, the balanced preset's 512-token context), with the real tokenizer."""

from __future__ import annotations

import pytest
from fixtures_gui import open_trainer_page

from forge_gui.cli import main

pytestmark = pytest.mark.tools


def test_the_starter_sample_passes_the_trainer_pages_preflight(qtbot, wizard, tmp_path,
                                                                tiny_base, gui_tools_dir):
    data = tmp_path / "my-data"
    assert main(["train-data", "init", "--out", str(data)]) == 0
    page = open_trainer_page(qtbot, wizard, data, tiny_base, gui_tools_dir)
    assert page.method_key == "lora" and page.ctx.value() == 512  # the defaults
    page.preflight_button.click()
    qtbot.waitUntil(lambda: page.preflight_label.text().startswith(("✔", "✘")), timeout=60000)
    assert page.preflight_label.text().startswith("✔"), page.preflight_label.text()
