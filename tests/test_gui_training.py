"""The whole wizard with the real llama.cpp tools, a tiny real model and the Ollama double:
train, watch progress and the loss chart, register, see the answer; Cancel; a failing tool."""

from __future__ import annotations

import json
import subprocess

import psutil
import pytest
from fixtures_gui import write_jsonl
from PySide6.QtWidgets import QWizard

from forge_gui.core.base.process import wait_until_gone

pytestmark = [pytest.mark.tools, pytest.mark.slow]

# Adapters on attention and MLP alone leave the tiny random model's loss flat; with the output
# layer too it falls (docs/training.md, "LoRA defaults").
TINY_MODULES = "attn_q,attn_k,attn_v,attn_o,ffn_gate,ffn_up,ffn_down,output"
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "seven",
         "small", "cats", "watch"]


def _dataset(tmp_path, n=48):
    records = [{"instruction": f"Say {WORDS[i % len(WORDS)]} {i}.",
                "output": " ".join(WORDS[(i + k) % len(WORDS)] for k in range(12))}
               for i in range(n)]
    return write_jsonl(tmp_path / "train.jsonl", records)


def _walk_to_run(qtbot, wizard, data, base, tools_dir, host, name="tiny-test", epochs=2, ctx=256):
    nxt = wizard.button(QWizard.WizardButton.NextButton)
    wizard.data_page.add_paths([data])
    qtbot.waitUntil(nxt.isEnabled, timeout=15000)
    nxt.click()
    page = wizard.base_page
    page.host.setText(host)
    page.refresh()
    page.choose_file(base)
    qtbot.waitUntil(nxt.isEnabled, timeout=15000)
    nxt.click()
    trainer = wizard.trainer_page
    trainer.tools_dir = tools_dir
    trainer.find_tools()
    qtbot.waitUntil(nxt.isEnabled, timeout=60000)
    assert trainer.method_key == "lora"  # the recommended method is the default
    trainer.advanced.setChecked(True)
    trainer.lora_modules.setText(TINY_MODULES)
    trainer.epochs.setValue(epochs)
    trainer.learning_rate.setValue(1e-3)
    trainer.ctx.setValue(ctx)
    nxt.click()
    wizard.name_page.name_edit.setText(name)
    wizard.name_page.quantize.setCurrentIndex(0)  # Q8_0
    assert nxt.isEnabled() and nxt.text().replace("&", "") == "Start training"
    nxt.click()
    assert wizard.currentPage() is wizard.run_page
    assert wizard.run_page.running  # preparing the steps in the background, then running
    qtbot.waitUntil(lambda: wizard.run_page.runner is not None, timeout=30000)
    return wizard.run_page


def test_train_register_and_answer_through_the_wizard(qtbot, wizard, tmp_path, tiny_base,
                                                      gui_tools_dir, ollama):
    data = _dataset(tmp_path)
    losses, fractions = [], []
    run = _walk_to_run(qtbot, wizard, data, tiny_base, gui_tools_dir, ollama.url)
    assert run.running
    assert not wizard.button(QWizard.WizardButton.BackButton).isEnabled()
    run.runner.progress.connect(lambda e: e.loss is not None and losses.append(e.loss))
    run.runner.progress.connect(lambda e: e.step == "train" and e.fraction is not None
                                and fractions.append(e.fraction))

    qtbot.waitUntil(lambda: not run.running, timeout=300000)
    assert run.outcome == "done", run.status.text()
    # progress and the chart followed the training as it happened
    assert len(fractions) >= 3 and fractions[-1] == pytest.approx(1.0, abs=0.05)
    assert len(run.chart.train) >= 4
    assert run.chart.train[-1][1] < run.chart.train[0][1]
    assert run.progress.value() == 1000
    assert run.log.total_lines > 10 and "loss=" in run.log.toPlainText()
    assert wizard.button(QWizard.WizardButton.BackButton).isEnabled()

    # a LoRA adapter, merged into the base, then registered in the Ollama double
    keys = [spec.key for spec in run.runner.specs]
    assert keys.index("train") < keys.index("merge") < keys.index("register")
    assert (run.state.run_dir / "adapter.gguf").is_file()
    assert "tiny-test:latest" in ollama.models
    record = json.loads((run.state.run_dir / "run.json").read_text())
    assert record["status"] == "done"
    assert all(s["status"] in ("done", "skipped") for s in record["steps"])
    assert (run.state.run_dir / "logs" / "train.log").stat().st_size > 0

    wizard.button(QWizard.WizardButton.NextButton).click()
    done = wizard.done_page
    assert wizard.currentPage() is done
    assert done.command.text() == "ollama run tiny-test"
    assert "Hello from tiny-test" in done.answer.toPlainText()
    done.copy_button.click()
    from PySide6.QtGui import QGuiApplication
    assert QGuiApplication.clipboard().text() == "ollama run tiny-test"

    script = tmp_path / "again.sh"
    done.export_script(script)
    qtbot.waitUntil(lambda: "Wrote" in done.export_state.text() or "✘" in done.export_state.text(),
                    timeout=30000)
    assert "✔" in done.export_state.text(), done.export_state.text()
    assert "tiny-test" in script.read_text() and str(tiny_base) in script.read_text()
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    done.export_script(script)  # never over an existing file
    qtbot.waitUntil(lambda: "✘" in done.export_state.text(), timeout=30000)
    assert "already exists" in done.export_state.text()

    done.question.setText("And now?")
    done.ask_button.click()
    qtbot.waitUntil(lambda: done.answer.toPlainText().count("Hello from tiny-test") == 2, timeout=15000)
    assert ollama.generated[-1][0] == "tiny-test"


def test_cancel_mid_training_stops_every_process(qtbot, wizard, tmp_path, tiny_base,
                                                 gui_tools_dir, ollama):
    data = _dataset(tmp_path, n=400)
    run = _walk_to_run(qtbot, wizard, data, tiny_base, gui_tools_dir, ollama.url, epochs=50)
    qtbot.waitUntil(lambda: run.runner.pid is not None and
                    run.runner.specs[run.runner.index].key == "train", timeout=120000)
    qtbot.waitUntil(lambda: len(run.chart.train) >= 1, timeout=60000)
    pid = run.runner.pid
    tree = [pid] + [c.pid for c in psutil.Process(pid).children(recursive=True)]

    run.cancel_button.click()
    qtbot.waitUntil(lambda: not run.running, timeout=15000)
    assert run.outcome == "cancelled"
    assert wait_until_gone(tree, timeout=5) == []
    record = json.loads((run.state.run_dir / "run.json").read_text())
    assert record["status"] == "cancelled"
    assert [s["status"] for s in record["steps"] if s["key"] == "train"] == ["cancelled"]
    assert "tiny-test:latest" not in ollama.models
    assert wizard.button(QWizard.WizardButton.BackButton).isEnabled()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def _tools_with_failing_finetune(tmp_path, real_dir):
    """A tools folder like a user's own build, whose llama-finetune-lora crashes while training
    (it still answers --help/--version like the real one, so discovery accepts it)."""
    folder = tmp_path / "my-tools"
    folder.mkdir()
    for tool in real_dir.iterdir():
        (folder / tool.name).symlink_to(tool)
    wrapper = folder / "llama-finetune-lora"
    wrapper.unlink()
    real = real_dir / "llama-finetune-lora"
    wrapper.write_text("#!/bin/sh\n"
                       f'case "$*" in *--help*|*--version*) exec "{real}" "$@";; esac\n'
                       'echo "ggml_abort: out of memory while allocating the optimizer" >&2\n'
                       "exit 134\n")
    wrapper.chmod(0o755)
    return folder, wrapper, real


def test_a_failing_tool_shows_why_and_retry_resumes_there(qtbot, wizard, tmp_path, tiny_base,
                                                          gui_tools_dir, ollama):
    data = _dataset(tmp_path)
    tools, wrapper, real = _tools_with_failing_finetune(tmp_path, gui_tools_dir)
    run = _walk_to_run(qtbot, wizard, data, tiny_base, tools, ollama.url)
    qtbot.waitUntil(lambda: not run.running, timeout=120000)
    assert run.outcome == "failed"
    assert run.runner.specs[run.failed_index].key == "train"
    assert "✘" in run.steps.item(run.failed_index).text()
    assert "✘" in run.status.text()
    assert "out of memory" in run.log.toPlainText()  # the tool's own words are in the log
    assert not run.retry_button.isHidden()
    assert not wizard.button(QWizard.WizardButton.NextButton).isEnabled()
    assert wizard.button(QWizard.WizardButton.BackButton).isEnabled()
    started = {s.key: s.started for s in run.state.record.steps}

    wrapper.unlink()
    wrapper.symlink_to(real)  # the user fixes the tool, then retries from that step
    run.retry_button.click()
    qtbot.waitUntil(lambda: not run.running, timeout=300000)
    assert run.outcome == "done", run.status.text()
    again = {s.key: s.started for s in run.state.record.steps}
    assert again["prepare"] == started["prepare"]  # the steps before were not redone
    assert "tiny-test:latest" in ollama.models


def test_ollama_down_at_the_end_still_finishes_with_a_way_to_register(qtbot, wizard, tmp_path,
                                                                     tiny_base, gui_tools_dir,
                                                                     ollama_down):
    data = _dataset(tmp_path)
    run = _walk_to_run(qtbot, wizard, data, tiny_base, gui_tools_dir, ollama_down.url, epochs=1)
    qtbot.waitUntil(lambda: not run.running, timeout=300000)
    assert run.outcome == "failed"
    assert run.runner.specs[run.failed_index].key == "register"
    assert run.model_ready
    assert "model file is ready" in run.status.text()
    nxt = wizard.button(QWizard.WizardButton.NextButton)
    assert nxt.isEnabled()
    nxt.click()
    done = wizard.done_page
    assert "not registered" in done.headline.text()
    assert done.command.text().startswith("ollama create tiny-test -f ")
    assert (run.state.run_dir / "Modelfile").is_file()
    assert not done.ask_button.isEnabled()
