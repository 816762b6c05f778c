"""The Trainer page's "Train elsewhere…": the same job folder as forge-cli export-job, written
in a worker thread from the wizard's own settings."""

from __future__ import annotations

import json
import threading

import yaml


def test_train_elsewhere_writes_the_job_off_the_ui_thread(qtbot, wizard, data_folder, tiny_base,
                                                          tmp_path, monkeypatch):
    from forge_gui.core.export import job as job_module

    wizard.data_page.add_paths([data_folder])
    qtbot.waitUntil(wizard.data_page.isComplete, timeout=15000)
    wizard.base_page.choose_file(tiny_base)
    qtbot.waitUntil(lambda: wizard.base_page.info is not None, timeout=15000)
    page = wizard.trainer_page
    page.lora_rank.setValue(8)
    threads = []
    real = job_module.write_job
    monkeypatch.setattr(job_module, "write_job", lambda *a, **k: (
        threads.append(threading.current_thread()), real(*a, **k))[1])
    out = tmp_path / "gpu job"
    assert page.elsewhere.button.isEnabled()
    page.elsewhere.export("meta-llama/Llama-3.2-1B", out)
    qtbot.waitUntil(lambda: page.elsewhere.label.text().startswith(("✔", "✘")), timeout=20000)
    assert page.elsewhere.label.text().startswith(f"✔ Wrote {out}"), page.elsewhere.label.text()
    assert threads and threads[0] is not threading.main_thread()
    config = yaml.safe_load((out / "axolotl.yaml").read_text("utf-8"))
    assert config["base_model"] == "meta-llama/Llama-3.2-1B" and config["lora_r"] == 8
    lines = (out / "data" / "train.jsonl").read_text("utf-8").splitlines()
    assert lines and all("messages" in json.loads(line) for line in lines)
    assert json.loads((out / "forge-job.json").read_text())["base_gguf"] == str(tiny_base)
    # A second time the folder is not empty: refused in one sentence, nothing touched.
    page.elsewhere.export("meta-llama/Llama-3.2-1B", out)
    qtbot.waitUntil(lambda: page.elsewhere.label.text().startswith("✘"), timeout=20000)
    assert "is not empty" in page.elsewhere.label.text() and page.elsewhere.button.isEnabled()
