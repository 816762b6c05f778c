"""Pages 2–4 and the app settings, with the Ollama double and real GGUF files."""

from __future__ import annotations

from PySide6.QtWidgets import QWizard

from forge_gui.core.base.app_settings import AppSettings, load_settings, save_settings, settings_path


def _next(wizard):
    return wizard.button(QWizard.WizardButton.NextButton)


def test_ollama_down_on_page_2_says_so_and_offers_a_gguf_file(qtbot, wizard, ollama_down, tiny_base):
    page = wizard.base_page
    page.host.setText(ollama_down.url)
    page.refresh()
    qtbot.waitUntil(lambda: page.ollama_error is not None, timeout=15000)
    assert "not reachable" in page.ollama_state.text()
    assert "press Refresh" in page.ollama_state.text()
    assert not page.model_list.isEnabled()
    assert page.use_file.isChecked()  # the other way in is ready
    assert not page.isComplete()

    page.choose_file(tiny_base)
    qtbot.waitUntil(lambda: page.info is not None, timeout=15000)
    assert page.isComplete()
    assert "llama" in page.details.text() and "trainable with LoRA" in page.details.text()
    values = {}
    page.contribute(values)
    assert values["base_gguf"] == tiny_base and "base" not in values


def test_ollama_models_are_listed_and_refresh_sees_new_ones(qtbot, wizard, ollama):
    ollama.add_model("llama3.2:1b-instruct-fp16")
    page = wizard.base_page
    page.host.setText(ollama.url)
    page.refresh()
    qtbot.waitUntil(lambda: bool(page.models), timeout=15000)
    assert page.models == ["llama3.2:1b-instruct-fp16"]
    assert "1 model(s) in Ollama" in page.ollama_state.text()
    ollama.add_model("qwen2.5:0.5b")
    page.refresh_button.click()
    qtbot.waitUntil(lambda: len(page.models) == 2, timeout=15000)


def test_a_quantized_gguf_trains_with_lora_not_full(qtbot, wizard, tmp_path, gui_tools_dir):
    """What `ollama pull` gives is quantized: LoRA trains it as it is; choosing a full
    fine-tune on the Trainer page says why not and keeps Next off."""
    from tinymodel import make_tiny_model

    q8 = make_tiny_model(tmp_path / "tiny-q8.gguf", "q8_0")
    page = wizard.base_page
    page.choose_file(q8)
    qtbot.waitUntil(lambda: page.info is not None, timeout=15000)
    assert "trainable with LoRA" in page.details.text()
    assert "Full fine-tune: ✘ not as it is" in page.details.text()
    assert page.isComplete()

    trainer = wizard.trainer_page
    trainer.tools_dir = gui_tools_dir
    trainer.initializePage()  # what Next does
    qtbot.waitUntil(lambda: trainer.toolset is not None, timeout=60000)
    assert trainer.isComplete() and trainer.method_key == "lora"
    assert "LoRA needs about" in trainer.method_note.text()
    assert "cannot train this quantized model" in trainer.method_note.text()
    trainer.method.setCurrentIndex(1)  # full fine-tune
    assert not trainer.isComplete()
    assert "choose LoRA" in trainer.problem_label.text()
    trainer.method.setCurrentIndex(0)
    assert trainer.isComplete() and trainer.problem_label.text() == ""


def test_not_a_gguf_file_is_explained(qtbot, wizard, tmp_path):
    junk = tmp_path / "model.gguf"
    junk.write_bytes(b"PK\x03\x04 not a model")
    wizard.base_page.choose_file(junk)
    qtbot.waitUntil(lambda: "cannot be used" in wizard.base_page.details.text(), timeout=15000)
    assert "not a GGUF file" in wizard.base_page.details.text()


def test_a_name_that_already_exists_needs_replace(qtbot, wizard, ollama):
    ollama.add_model("my-model:latest")
    ollama.add_model("other:v2")
    wizard.base_page.host.setText(ollama.url)
    wizard.base_page.refresh()
    qtbot.waitUntil(lambda: len(wizard.base_page.models) == 2, timeout=15000)
    page = wizard.name_page
    page.name_edit.setText("my-model")  # same model as my-model:latest
    assert not page.isComplete()
    assert "already exists" in page.name_state.text()
    assert not page.replace.isHidden()
    page.replace.setChecked(True)
    assert page.isComplete()
    values = {}
    page.contribute(values)
    assert values["force"] is True and values["name"] == "my-model"

    page.name_edit.setText("my-model:v2")
    assert page.isComplete() and "is free" in page.name_state.text()
    page.name_edit.setText("-bad name")
    assert not page.isComplete() and "✘" in page.name_state.text()


def test_trainer_page_finds_the_real_tools_and_presets_fill_the_fields(qtbot, wizard, gui_tools_dir):
    page = wizard.trainer_page
    page.tools_dir = gui_tools_dir
    page.find_tools()
    qtbot.waitUntil(lambda: page.toolset is not None, timeout=60000)
    assert page.isComplete()
    assert "llama-finetune" in page.tools_label.text() and str(gui_tools_dir) in page.tools_label.text()
    page.preset.setCurrentText("quick")
    assert (page.epochs.value(), page.ctx.value()) == (1, 256)
    page.preset.setCurrentText("thorough")
    assert (page.epochs.value(), page.ctx.value()) == (4, 1024)


def test_trainer_page_without_tools_offers_the_build(qtbot, wizard, tmp_path, monkeypatch):
    """No tools anywhere (no folder, PATH, bundle or cache): the page offers the build."""
    from forge_gui.core.llamacpp import discover

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(discover.build, "cached_tools_dir", lambda backend=None: None)
    monkeypatch.setattr(discover.paths, "bundled_tools_dir", lambda: None)
    page = wizard.trainer_page
    page.tools_dir = tmp_path
    page.find_tools()
    qtbot.waitUntil(lambda: page.toolset is not None, timeout=60000)
    assert not page.toolset.ready
    assert not page.isComplete()
    assert not page.build_button.isHidden()
    assert "Build them now" in page.tools_label.text()


def test_trainer_page_with_the_tools_offers_no_build(qtbot, wizard, gui_tools_dir):
    page = wizard.trainer_page
    page.build_button.show()  # as after a scan that found nothing
    page.tools_dir = gui_tools_dir
    page.find_tools()
    qtbot.waitUntil(lambda: page.toolset is not None, timeout=60000)
    assert page.toolset.ready and page.isComplete()
    assert page.build_button.isHidden()
    assert "Build them now" not in page.tools_label.text()


def test_settings_persist_between_launches(qtbot, data_folder):
    from forge_gui.gui.wizard import ForgeWizard

    first = ForgeWizard(AppSettings())
    qtbot.addWidget(first)
    first.data_page.add_paths([data_folder])
    first.trainer_page.preset.setCurrentText("thorough")
    first.base_page.host.setText("10.0.0.5:11434")
    qtbot.waitUntil(lambda: not first.data_page.validating, timeout=15000)
    first.close()
    saved, problem = load_settings()
    assert problem is None
    assert saved.preset == "thorough" and saved.ollama_host == "10.0.0.5:11434"
    assert saved.last_data_dir == str(data_folder)


def test_a_corrupt_settings_file_is_reported_and_replaced():
    path = settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{ this is not json", "utf-8")
    settings, problem = load_settings()
    assert settings == AppSettings()
    assert "damaged" in problem and str(path) in problem
    assert path.with_name(path.name + ".corrupt").read_text("utf-8") == "{ this is not json"
    assert load_settings() == (AppSettings(), None)  # replaced by a good file
    save_settings(AppSettings(preset="quick"))
    assert load_settings()[0].preset == "quick"


def test_every_control_has_an_accessible_name(qtbot, wizard):
    from PySide6.QtWidgets import (
        QAbstractButton,
        QAbstractItemView,
        QAbstractSpinBox,
        QComboBox,
        QLineEdit,
        QPlainTextEdit,
    )

    kinds = (QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit, QAbstractItemView,
             QPlainTextEdit)
    unnamed = []
    for page in wizard.pages():
        for widget in [w for kind in kinds for w in page.findChildren(kind)]:
            if isinstance(widget, QLineEdit) and isinstance(widget.parent(), (QAbstractSpinBox, QComboBox)):
                continue  # the editor inside a spin box / combo box: the outer control is named
            ancestors = [widget.parent(), widget.parent().parent()]
            if any(isinstance(a, (QAbstractItemView, QComboBox)) for a in ancestors):
                continue  # a view's corner button and headers, a combo box's popup list
            if not widget.accessibleName() and not (isinstance(widget, QAbstractButton) and widget.text()):
                unnamed.append(f"{type(page).__name__}: {type(widget).__name__}")
    assert unnamed == []


def test_tab_walks_the_name_page_and_mnemonics_reach_fields(qtbot, wizard):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from forge_gui.gui.showcase import show_page
    from forge_gui.gui.wizard import PAGE_NAME

    show_page(wizard, PAGE_NAME)
    page = wizard.name_page
    page.name_edit.setFocus()
    qtbot.waitUntil(page.name_edit.hasFocus)
    qtbot.keyClicks(page.name_edit, "my-model")
    assert page.isComplete()
    seen = []
    for _ in range(6):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        seen.append(QApplication.focusWidget())
    # Tab leaves the multi-line system prompt instead of typing a tab into it
    assert page.system in seen and page.params["temperature"] in seen
    assert "\t" not in page.system.toPlainText()
    qtbot.keyClick(wizard, Qt.Key.Key_S, Qt.KeyboardModifier.AltModifier)  # "&System prompt:"
    assert page.system.hasFocus()


def test_choosing_an_ollama_model_finds_its_gguf_in_the_store(qtbot, wizard, ollama, tmp_path,
                                                              monkeypatch, tiny_base):
    import hashlib
    import json
    import shutil

    store = tmp_path / "ollama-models"
    digest = hashlib.sha256(tiny_base.read_bytes()).hexdigest()
    (store / "blobs").mkdir(parents=True)
    shutil.copy(tiny_base, store / "blobs" / f"sha256-{digest}")
    manifest = store / "manifests" / "registry.ollama.ai" / "library" / "tiny" / "fp16"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"schemaVersion": 2, "layers": [
        {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}",
         "size": tiny_base.stat().st_size}]}))
    monkeypatch.setenv("OLLAMA_MODELS", str(store))
    ollama.add_model("tiny:fp16")

    page = wizard.base_page
    page.host.setText(ollama.url)
    page.refresh()
    qtbot.waitUntil(lambda: page.models == ["tiny:fp16"], timeout=15000)
    page.model_list.setCurrentRow(0)
    qtbot.waitUntil(lambda: page.info is not None, timeout=15000)
    assert page.gguf_path == store / "blobs" / f"sha256-{digest}"
    assert page.isComplete() and "trainable with LoRA" in page.details.text()
    values = {}
    page.contribute(values)
    assert values["base"] == "tiny:fp16" and values["ollama_host"] == ollama.url


def test_token_exact_preflight_with_the_real_tokenizer(qtbot, wizard, tmp_path, tiny_base,
                                                        gui_tools_dir):
    from fixtures_gui import open_trainer_page, write_jsonl

    data = write_jsonl(tmp_path / "d.jsonl", [{"instruction": f"Count to {i}.",
                                                "output": " ".join(str(k) for k in range(i))}
                                               for i in range(1, 30)])
    page = open_trainer_page(qtbot, wizard, data, tiny_base, gui_tools_dir)
    page.update_estimate()
    assert "of memory" in page.estimate.text()

    page.ctx.setValue(8192)  # LoRA packs: the window follows the data, not the context asked
    page.preflight_button.click()
    qtbot.waitUntil(lambda: page.preflight_label.text().startswith(("✔", "✘")), timeout=60000)
    assert page.preflight_label.text().startswith("✔"), page.preflight_label.text()
    assert "tokens with the base's own tokenizer" in page.preflight_label.text()
    assert "of 8192 tokens" not in page.preflight_label.text()



def test_the_preview_shows_the_format_the_run_trains_in(qtbot, wizard, tmp_path, tiny_chatml):
    """A ChatML base is trained in its own chat format: the Data page previews that; a full
    fine-tune trains Forge's plain format, and the preview follows the choice."""
    from fixtures_gui import write_jsonl

    data = write_jsonl(tmp_path / "d.jsonl", [{"instruction": "Capital of France?",
                                               "output": "Paris."}] * 3)
    page = wizard.data_page
    page.add_paths([data])
    qtbot.waitUntil(lambda: "### Instruction:" in page.preview.toPlainText(), timeout=15000)
    wizard.base_page.choose_file(tiny_chatml)
    qtbot.waitUntil(lambda: wizard.base_page.info is not None, timeout=15000)
    assert page.preview.toPlainText().startswith(
        "<|im_start|>user\nCapital of France?<|im_end|>\n<|im_start|>assistant\nParis.<|im_end|>")
    assert "own chat format" in page.preview.toolTip()
    wizard.trainer_page.method.setCurrentIndex(1)  # full fine-tune: the plain format
    assert page.preview.toPlainText().startswith("### Instruction:\nCapital of France?")


def test_the_balanced_preset_trains_at_cores_default_rates(qtbot, wizard):
    """The app and forge-cli train a run alike: "balanced" is core's LoRA rate (1e-3, which
    teaches the real model its facts) and core's full fine-tune rate (it used to set LoRA to
    1e-4, ten times lower than the command line)."""
    import pytest

    from forge_gui.core.runs.run import FULL_LR, LORA_LR

    page = wizard.trainer_page
    page.method.setCurrentIndex(0)  # LoRA
    page.preset.setCurrentText("quick")
    page.preset.setCurrentText("balanced")
    assert page.learning_rate.value() == pytest.approx(LORA_LR)
    page.method.setCurrentIndex(1)  # full fine-tune
    page.preset.setCurrentText("quick")
    page.preset.setCurrentText("balanced")
    assert page.learning_rate.value() == pytest.approx(FULL_LR)
