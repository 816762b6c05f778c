"""The Trainer page's GPU box with a fake GPU: what it shows, and Build for your GPU with
progress, Cancel, and the tools found again afterwards."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from forge_gui.core.llamacpp import build, build_options, gpu
from forge_gui.core.llamacpp.discover import ToolInfo, ToolSet

DATA = Path(__file__).parent / "data" / "gpu"


def toolset(backend: str) -> ToolSet:
    return ToolSet(tools={name: ToolInfo(name=name, path=Path("/opt/llama") / name, source="PATH",
                                         version="b1", flavour="upstream" if name == "llama-finetune"
                                         else "tool", backend=backend)
                          for name in build.TOOL_NAMES})


@pytest.fixture
def rtx4090(monkeypatch):
    from forge_gui.gui import backend

    gpus = gpu.parse_nvidia_smi((DATA / "nvidia-smi-rtx4090.csv").read_text())
    monkeypatch.setattr(backend, "detect_gpus", lambda: gpus)
    monkeypatch.setattr(backend, "find_tools", lambda configured: toolset("cpu"))
    return gpus


def open_trainer(qtbot, wizard):
    from forge_gui.gui.showcase import show_page

    page = wizard.trainer_page
    show_page(wizard, wizard.pageIds()[wizard.pages().index(page)])
    qtbot.waitUntil(lambda: page.toolset is not None and page.gpu_panel.gpus is not None,
                    timeout=10000)
    return page, page.gpu_panel


def test_a_gpu_its_memory_and_the_build_offer_are_shown(qtbot, wizard, rtx4090):
    page, panel = open_trainer(qtbot, wizard)
    text = panel.label.text()
    assert "NVIDIA GeForce RTX 4090" in text
    assert "24.0 GB memory, 23.0 GB free (CUDA)" in text
    assert "built for <b>the CPU only</b>" in text
    assert "Build the tools for your GPU (CUDA)" in text and "minute" in text
    assert panel.build_button.isVisible()
    assert panel.build_button.accessibleName() == "Build the llama.cpp tools for your GPU"


def test_build_for_your_gpu_shows_progress_and_can_be_cancelled(qtbot, wizard, rtx4090,
                                                                 monkeypatch):
    from forge_gui.core.base.events import ProgressEvent
    from forge_gui.core.base.steps import Cancelled
    from forge_gui.gui import backend

    asked = []
    started = threading.Event()

    def slow_build(gpu_backend, progress, cancel):
        asked.append(gpu_backend)
        progress(ProgressEvent(step="build", fraction=0.4, message="Compiling the tools"))
        started.set()
        while not cancel.cancelled:
            threading.Event().wait(0.02)
        raise Cancelled()

    monkeypatch.setattr(backend, "ensure_gpu_tools", slow_build)
    page, panel = open_trainer(qtbot, wizard)
    panel.build_button.click()
    qtbot.waitUntil(lambda: panel.progress.value() == 40, timeout=10000)
    assert asked == ["cuda"]
    assert panel.progress.isVisible() and "Compiling the tools" in panel.progress.format()
    assert panel.cancel_button.isVisible() and not panel.build_button.isVisible()

    panel.cancel_button.click()
    qtbot.waitUntil(lambda: not panel.building and not panel.busy, timeout=10000)
    assert not panel.progress.isVisible() and not panel.cancel_button.isVisible()
    assert panel.build_button.isVisible()  # offered again


def test_after_the_gpu_build_the_tools_are_found_again_and_the_offer_goes(qtbot, wizard,
                                                                          rtx4090, monkeypatch):
    from forge_gui.gui import backend

    monkeypatch.setattr(backend, "ensure_gpu_tools",
                        lambda gpu_backend, p, c: Path("/cache/0.3.36-cuda/bin"))
    page, panel = open_trainer(qtbot, wizard)
    monkeypatch.setattr(backend, "find_tools", lambda configured: toolset("cuda"))
    panel.build_button.click()
    qtbot.waitUntil(lambda: page.toolset.tools["llama-finetune"].backend == "cuda",
                    timeout=10000)
    qtbot.waitUntil(lambda: "built for <b>CUDA</b>" in panel.label.text(), timeout=10000)
    assert not panel.build_button.isVisible()


def test_a_failed_gpu_build_says_why_and_keeps_the_offer(qtbot, wizard, rtx4090, monkeypatch):
    from forge_gui.core.base.steps import StepFailed
    from forge_gui.gui import backend

    def no_toolkit(gpu_backend, p, c):
        raise StepFailed("The CUDA toolkit (nvcc) was not found, so the CUDA tools cannot be "
                         "built.", build_options.CUDA_INSTALL_HINT)

    monkeypatch.setattr(backend, "ensure_gpu_tools", no_toolkit)
    page, panel = open_trainer(qtbot, wizard)
    panel.build_button.click()
    qtbot.waitUntil(lambda: "The GPU build failed" in panel.label.text(), timeout=10000)
    assert "nvcc" in panel.label.text() and "Install the CUDA toolkit" in panel.label.text()
    assert panel.build_button.isVisible()


def test_no_gpu_means_no_offer(qtbot, wizard, monkeypatch):
    from forge_gui.gui import backend

    monkeypatch.setattr(backend, "detect_gpus", lambda: [])
    monkeypatch.setattr(backend, "find_tools", lambda configured: toolset("cpu"))
    page, panel = open_trainer(qtbot, wizard)
    assert "No GPU found: training runs on the CPU." in panel.label.text()
    assert not panel.build_button.isVisible()


def test_the_documented_screenshot_of_the_trainer_page_with_a_fake_gpu(qtbot, tmp_path, rtx4090):
    from PySide6.QtGui import QImage

    from forge_gui.gui import showcase

    path = showcase.take_gpu_screenshot(tmp_path / "3-trainer-gpu.png", rtx4090)
    image = QImage(str(path))
    assert not image.isNull() and image.width() >= 900
    assert (Path(__file__).parents[1] / "docs" / "screenshots" / "3-trainer-gpu.png").is_file()


def test_the_training_estimate_is_checked_against_the_gpu_memory(qtbot, wizard, rtx4090):
    from forge_gui.core.llamacpp.gguf_info import GGUFInfo

    page, panel = open_trainer(qtbot, wizard)
    names = [f"blk.{i}.attn_q.weight" for i in range(16)]
    small = GGUFInfo(path=Path("small.gguf"), size_bytes=1, general_type="model",
                     architecture="llama", parameters=500_000_000, tensor_types={"F32": 16},
                     tensor_names=names, vocab_size=32000)
    panel.show_need(small.training_memory_bytes(512), small, "full")
    assert "✔ Training needs about" in panel.label.text() and "23.0 GB is free." in panel.label.text()
    big = small.model_copy(update={"parameters": 3_000_000_000})
    panel.show_need(big.training_memory_bytes(512), big, "full")
    assert "⚠" in panel.label.text() and "of 16 layers fit" in panel.label.text()
