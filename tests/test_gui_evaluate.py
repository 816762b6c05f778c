"""A wizard run ends with the evaluate step: the GUI runner runs it, and the Done page shows
the held-out loss before/after and the table."""

from __future__ import annotations

import json

import pytest
from fixtures_llama import write_colour_dataset
from PySide6.QtWidgets import QWizard
from test_gui_training import _walk_to_run

pytestmark = [pytest.mark.tools, pytest.mark.slow]


def test_a_wizard_run_ends_with_the_before_after_comparison(qtbot, wizard, tmp_path, tiny_base,
                                                            gui_tools_dir, ollama):
    from forge_gui.core.evaluation.evaluate import load_evaluation

    data = write_colour_dataset(tmp_path / "colours.jsonl", records=60)
    wizard.data_page.held_out.setValue(30)  # 18 records: enough text for llama-perplexity
    run = _walk_to_run(qtbot, wizard, data, tiny_base, gui_tools_dir, ollama.url)
    qtbot.waitUntil(lambda: not run.running, timeout=300000)
    assert run.outcome == "done", run.status.text()
    record = json.loads((run.state.run_dir / "run.json").read_text())
    assert [s["status"] for s in record["steps"] if s["key"] == "evaluate"] == ["done"]
    keys = [s["key"] for s in record["steps"]]
    assert keys.index("completion") < keys.index("evaluate") < keys.index("modelfile")

    wizard.button(QWizard.WizardButton.NextButton).click()
    done = wizard.done_page
    assert wizard.currentPage() is done
    result = load_evaluation(run.state.run_dir)
    # the held-out text is prompts and answers; LoRA learns the answers only (a fifth of the
    # tokens here), so the whole text's loss falls by less than the answers' (was 2 nats)
    assert result.tuned.loss < result.base.loss - 1
    figures = done.compare.figures.text()
    assert f"base <b>{result.base.loss:.3f}</b>" in figures
    assert f"fine-tuned <b>{result.tuned.loss:.3f}</b>" in figures and "lower" in figures
    assert done.compare.table.rowCount() == len(result.answers) >= 3
    assert done.compare.cell_text(0, "Reference").startswith("The ball is ")
