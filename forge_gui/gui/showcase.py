"""`forge-gui --screenshots DIR` and `forge-gui --self-test`.

Screenshots show every page with the bundled sample data and a simulated finished run (no
Ollama or training needed), in the normal and a dark palette. The self-test opens the wizard,
validates the sample dataset, checks every page can be shown, and reports what went wrong.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEventLoop
from PySide6.QtWidgets import QApplication

from forge_gui.core.base import paths
from forge_gui.core.formats.chat_format import FORMATS
from forge_gui.core.runs.run import RunArtifacts, RunSettings
from forge_gui.gui.palette import dark_palette
from forge_gui.gui.wizard import ForgeWizard

log = logging.getLogger(__name__)

PAGE_FILES = ["1-data", "2-base-model", "3-trainer", "4-name", "5-run", "6-done"]
RUNS_FILE = "7-runs"
SAMPLE_MODELS = ["llama3.2:1b-instruct-fp16", "qwen2.5:0.5b-instruct-fp16", "llama3.2:3b",
                 "my-assistant:latest"]


def _app() -> QApplication:
    app = QApplication.instance()
    assert isinstance(app, QApplication), "the showcase runs inside the GUI application"
    return app


def sample_data() -> Path:
    return paths.resources_dir() / "sample" / "sample.jsonl"


def wait_until(condition, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)
    return True


def show_page(wizard: ForgeWizard, page_id: int) -> None:
    """Jump to a page (QWizard has no setter for the current page: restart there)."""
    wizard.setStartId(page_id)
    wizard.restart()
    QCoreApplication.processEvents()


def _simulated_gguf_info():
    from forge_gui.core.llamacpp.gguf_info import GGUFInfo

    return GGUFInfo(path=Path("~/.ollama/models/blobs/sha256-74701a8c35f6").expanduser(),
                    size_bytes=2_479_595_424, general_type="model", architecture="llama",
                    name="Llama 3.2 1B Instruct", parameters=1_235_814_400,
                    tensor_types={"F16": 113, "F32": 34}, tensor_names=[], file_type="MOSTLY_F16",
                    context_length=131072, vocab_size=128256)


def _simulated_settings(wizard: ForgeWizard) -> RunSettings:
    return RunSettings(data=[sample_data()], name="support-bot", base=SAMPLE_MODELS[0],
                       system=None, quantize="Q8_0")


def simulate_run(wizard: ForgeWizard) -> None:
    """Fill the Run page as a finished run of the sample would leave it."""
    from forge_gui.core.runs.run import StepSpec
    from forge_gui.gui import backend

    page = wizard.run_page
    settings = _simulated_settings(wizard)
    try:
        specs = backend.pipeline_specs(settings)
    except Exception as exc:  # no tools on this machine: the screenshot lists the usual steps
        log.info("showing sample steps instead of the run's (%s)", exc)
        specs = [StepSpec(k, k.title(), lambda s: None) for k in ("validate", "prepare", "train")]
    page.steps.clear()
    for spec in specs:
        page.steps.addItem(f"✔ {spec.label}")
    page.progress.setValue(1000)
    page.chart.clear()
    page.chart.set_epochs(2)
    lines = []
    for epoch in range(2):
        for batch in range(1, 23):
            x = epoch * 22 + batch
            loss = 2.2 + 8.0 * math.exp(-x / 12) + 0.15 * math.sin(x * 1.7)
            page.chart.add_point(epoch + batch / 22, loss, None)  # x in epochs
            lines.append(f"train: data={batch:07d}/0000022 loss={loss:.5f}±0.10865 acc={20 + x:.2f}±1.04% "
                         f"t=00:00:{x:02d} ETA=00:00:{44 - x:02d}")
        page.chart.add_point(epoch + 1, None, 2.6 + 4.0 * math.exp(-epoch))
        lines.append(f"val:   data=0000002/0000002 loss={2.6 + 4.0 * math.exp(-epoch):.5f}±0.2")
    page.log.append_lines(lines)
    page.log.flush()
    page.eta.setText("")
    page.status.setText("Finished. Everything is in ~/.local/share/Forge/runs/20260101-120000-support-bot")
    page.outcome = "done"
    page.cancel_button.hide()
    page.completeChanged.emit()


def simulate_done(wizard: ForgeWizard) -> None:
    artifacts = RunArtifacts(model="support-bot",
                             smoke_answer="Hello! I'm your new assistant — how can I help today?")
    wizard.done_page.show_result(_simulated_settings(wizard), artifacts,
                                 Path("~/.local/share/Forge/runs/20260101-120000-support-bot").expanduser())
    wizard.done_page.compare.set_result(simulated_evaluation())


def simulate_runs_window(wizard: ForgeWizard):
    """The Runs window with a few runs as they would be listed (the sample's run selected)."""
    from forge_gui.core.runs.runs_index import RunSummary

    root = Path("~/.local/share/Forge/runs").expanduser()
    data = [str(sample_data())]
    base = SAMPLE_MODELS[0]
    runs = [
        RunSummary(run_dir=root / "20260101-120000-support-bot", status="done",
                   created="2026-01-01T12:00:00+01:00", name="support-bot", model="support-bot:latest",
                   base=base, method="full (llama.cpp)", data=data, epochs=2,
                   train_loss_first=10.2, train_loss_last=2.32, base_loss=math.log(90.0),
                   tuned_loss=math.log(52.0), duration_seconds=1834,
                   output_gguf=str(root / "20260101-120000-support-bot" / "model-Q8_0.gguf")),
        RunSummary(run_dir=root / "20251231-181500-support-bot", status="interrupted",
                   created="2025-12-31T18:15:00+01:00", name="support-bot", base=base,
                   method="full (llama.cpp)", data=data, epochs=3, train_loss_first=10.3,
                   train_loss_last=4.1, duration_seconds=912, step="Fine-tune",
                   message="Stopped during “Fine-tune” (Forge was closed or killed)."),
        RunSummary(run_dir=root / "20251230-094000-notes-helper", status="failed",
                   created="2025-12-30T09:40:00+01:00", name="notes-helper", base="llama3.2:3b",
                   method="full (llama.cpp)", data=data, duration_seconds=3, step="Check the base model",
                   message="llama3.2:3b is quantized (Q4_K_M): use an unquantized tag."),
        RunSummary(run_dir=root / "20251229-160500-tiny-test", status="cancelled",
                   created="2025-12-29T16:05:00+01:00", name="tiny-test",
                   base="qwen2.5:0.5b-instruct-fp16", method="full (llama.cpp)", data=data,
                   train_loss_first=11.0, train_loss_last=7.9, duration_seconds=64),
    ]
    window = wizard.show_runs(on_resume=lambda run_dir: None)
    window.resize(1000, 640)
    window.set_runs(runs)
    window.select(runs[0].run_dir)
    train = [(epoch + batch / 22, 2.2 + 8.0 * math.exp(-(epoch * 22 + batch) / 12))
             for epoch in range(2) for batch in range(1, 23)]
    window.chart.set_points(train, [(1.0, 2.6 + 4.0), (2.0, 2.6 + 4.0 * math.exp(-1))])
    window.chart.set_reference(runs[0].base_loss)
    window.compare.set_result(simulated_evaluation())
    window.state.setText(str(runs[0].run_dir))
    return window


def simulated_evaluation():
    """What the evaluate step (core/evaluation/evaluate.py) leaves for the sample run."""
    from forge_gui.core.evaluation.evaluate import AnswerRow, EvaluationResult, HeldOutLoss

    blob = Path("~/.ollama/models/blobs/sha256-74701a8c35f6").expanduser()
    run = Path("~/.local/share/Forge/runs/20260101-120000-support-bot").expanduser()
    rows = [("How do I reset my password?",
             "Open Settings → Account, choose “Reset password” and follow the e-mail link.",
             "To reset your password, you can usually find an option on the login page. If you "
             "need further help, please contact",
             "Open Settings → Account, choose “Reset password” and follow the link we e-mail you."),
            ("Can I change my plan mid-month?",
             "Yes. The change applies at once and the difference is prorated.",
             "Many services allow plan changes. Please check the terms of your provider.",
             "Yes — the new plan starts at once and you pay the prorated difference."),
            ("Where do I find my invoices?",
             "Under Billing → Invoices; each one can be downloaded as PDF.",
             "Invoices are typically sent by email or available in your account.",
             "Under Billing → Invoices, where each one downloads as a PDF.")]
    return EvaluationResult(
        base_gguf=blob, tuned_gguf=run / "model-Q8_0.gguf", eval_file=run / "train.val.txt",
        eval_tokens=2840, held_out_records=12, train_ctx=512, ctx=512,
        base=HeldOutLoss(gguf=blob, perplexity=90.0, perplexity_error=4.1, loss=math.log(90.0)),
        tuned=HeldOutLoss(gguf=run / "model-Q8_0.gguf", perplexity=52.0, perplexity_error=2.3,
                          loss=math.log(52.0)),
        prompts_source="held-out records (train.val.txt)",
        answers=[AnswerRow(prompt=p, rendered=p, reference=r, base=b, tuned=t)
                 for p, r, b, t in rows])


def prepare_showcase(wizard: ForgeWizard) -> None:
    wizard.data_page.add_paths([sample_data()])
    wait_until(lambda: not wizard.data_page.validating)
    wizard.base_page.host.setText("127.0.0.1:11434")
    prepare_showcase_base(wizard)
    wizard.name_page.name_edit.setText("support-bot")
    wizard.name_page.system.setPlainText("You are a concise, friendly assistant.")


def take_screenshots(out_dir: Path) -> list[Path]:
    app = _app()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    normal, style = app.palette(), app.style().name()
    for suffix, palette in (("", normal), ("-dark", dark_palette())):
        app.setStyle("Fusion" if suffix else style)  # Fusion draws every frame from the palette
        app.setPalette(palette)
        wizard = ForgeWizard()
        wizard.run_page.simulated = True
        wizard.done_page.simulated = True
        wizard.resize(940, 720)
        wizard.show()
        prepare_showcase(wizard)
        for page_id, name in enumerate(PAGE_FILES):
            show_page(wizard, page_id)
            if page_id == 1:  # restart() re-initialises: keep the sample models, skip Ollama
                wait_until(lambda w=wizard: not w.base_page.busy, 5)
                prepare_showcase_base(wizard)
            if page_id == 2:
                wait_until(lambda w=wizard: w.trainer_page.toolset is not None, 30)
                wait_until(lambda w=wizard: w.trainer_page.gpu_panel.gpus is not None, 30)
                wizard.trainer_page.update_estimate()
            if page_id == 4:
                simulate_run(wizard)
            if page_id == 5:
                simulate_done(wizard)
            QCoreApplication.processEvents()
            path = out_dir / f"{name}{suffix}.png"
            wizard.grab().save(str(path))
            written.append(path)
            if page_id == 0:  # the Statistics tab too: the table and the length histogram
                tabs = wizard.data_page.tabs
                tabs.setCurrentWidget(wizard.data_page.stats)
                QCoreApplication.processEvents()
                path = out_dir / f"{name}-statistics{suffix}.png"
                wizard.grab().save(str(path))
                written.append(path)
                tabs.setCurrentIndex(0)
        runs = simulate_runs_window(wizard)
        QCoreApplication.processEvents()
        path = out_dir / f"{RUNS_FILE}{suffix}.png"
        runs.grab().save(str(path))
        written.append(path)
        runs.close()
        wizard.hide()
        wizard.deleteLater()
    app.setStyle(style)
    app.setPalette(normal)
    return written


def prepare_showcase_base(wizard: ForgeWizard) -> None:
    page = wizard.base_page
    page.use_ollama.setChecked(True)
    page.set_models(SAMPLE_MODELS)
    page.model_list.blockSignals(True)
    page.model_list.setCurrentRow(0)
    page.model_list.blockSignals(False)
    wait_until(lambda: not page.busy, 10)  # a resolve started by set_models must not win
    page._show_info(_simulated_gguf_info())


def self_test() -> str | None:
    """None when the wizard works; else the reason it does not."""
    sample = sample_data()
    if not sample.is_file():
        return f"the bundled sample dataset is missing: {sample}"
    wizard = ForgeWizard(paths=[sample])
    wizard.run_page.simulated = True
    wizard.done_page.simulated = True
    wizard.show()
    try:
        if not wait_until(lambda: not wizard.data_page.validating, 60):
            return "validating the sample dataset did not finish within 60 s"
        report = wizard.data_page.report
        if report is None:
            return f"validating the sample dataset failed: {wizard.data_page.summary.text()}"
        if report.valid < 1 or report.invalid:
            return f"the sample dataset did not validate cleanly: {wizard.data_page.summary.text()}"
        markers = tuple(m for fmt in FORMATS.values() for m in fmt.markers)
        if not wizard.data_page.preview.toPlainText().startswith(markers):
            return "the preview of the sample dataset is empty"
        if not wizard.data_page.isComplete():
            return "the Data page does not allow Next with a valid dataset"
        for page_id in range(1, len(PAGE_FILES)):
            show_page(wizard, page_id)
            if wizard.currentId() != page_id or not wizard.currentPage().isVisible():
                return f"page {PAGE_FILES[page_id]} could not be shown"
        return None
    finally:
        wait_until(lambda: not wizard.base_page.busy, 10)
        wizard.hide()


def _simulated_cpu_toolset():
    from forge_gui.core.llamacpp.build import TOOL_NAMES, install_dir
    from forge_gui.core.llamacpp.discover import ToolInfo, ToolSet

    folder = install_dir("cpu") / "bin"
    return ToolSet(tools={name: ToolInfo(name=name, path=folder / name, source="cache",
                                         version="llama-cpp-python 0.3.36", backend="cpu",
                                         flavour={"llama-finetune": "upstream",
                                                  "llama-finetune-lora": "lora"}.get(name, "tool"))
                          for name in TOOL_NAMES})


def take_gpu_screenshot(path: Path, gpus: list, dark: bool = False) -> Path:
    """The Trainer page as it looks on a computer with `gpus` and CPU-only tools (the
    "Build for your GPU" offer); docs/screenshots/3-trainer-gpu.png is made with a fake GPU."""
    app = _app()
    normal, style = app.palette(), app.style().name()
    if dark:
        app.setStyle("Fusion")
        app.setPalette(dark_palette())
    wizard = ForgeWizard()
    wizard.run_page.simulated = True
    wizard.done_page.simulated = True
    wizard.resize(940, 820)
    wizard.show()
    try:
        prepare_showcase(wizard)
        show_page(wizard, 2)
        page = wizard.trainer_page
        wait_until(lambda: page.toolset is not None and not page.gpu_panel.busy, 30)
        page.show_tools(_simulated_cpu_toolset())
        page.gpu_panel.show_gpus(gpus)
        page.update_estimate()
        QCoreApplication.processEvents()
        path.parent.mkdir(parents=True, exist_ok=True)
        wizard.grab().save(str(path))
    finally:
        wizard.hide()
        wizard.deleteLater()
        app.setStyle(style)
        app.setPalette(normal)
    return path
