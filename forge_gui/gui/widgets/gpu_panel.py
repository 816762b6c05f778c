"""The Trainer page's GPU box: the GPUs found, their memory, the tools' backend, and
"Build for your GPU" (with progress and Cancel) when the tools cannot use the GPU (docs/gpu.md).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QProgressBar, QVBoxLayout

from forge_gui.gui import backend
from forge_gui.gui.tasks import BackgroundTask, start_task
from forge_gui.gui.widgets import action_button, show_progress

BACKEND_NAMES = {"cuda": "CUDA", "vulkan": "Vulkan", "metal": "Metal", "cpu": "the CPU only"}


class GpuPanel(QGroupBox):
    built = Signal(object)  # the bin folder of the new GPU build

    def __init__(self, parent=None) -> None:
        super().__init__("GPU", parent)
        self.setAccessibleName("GPU")
        self.gpus: list | None = None  # None until detection has run
        self.tools_backend: str | None = None
        self.offer: str | None = None  # "cuda" / "vulkan" when a GPU build would help
        self._task: BackgroundTask | None = None
        self.building = False
        self.need: tuple[int, int, int] | None = None  # estimate, layers, spread (bytes)

        self.label = QLabel("Looking for GPUs…")
        self.label.setWordWrap(True)
        self.label.setAccessibleName("GPUs found")
        self.build_button = action_button("Build for your &GPU",
                                          "Build the llama.cpp tools for your GPU", self.build)
        self.cancel_button = action_button("Cancel build", "Cancel the GPU build", self.cancel)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("GPU build progress")
        for widget in (self.build_button, self.cancel_button, self.progress):
            widget.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.build_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch()
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)

    @property
    def busy(self) -> bool:
        return self._task is not None and self._task.running

    def detect(self) -> None:
        if self.busy:
            return
        self.label.setText("Looking for GPUs…")
        self._run(lambda p, c: backend.detect_gpus(), self.show_gpus,
                  lambda exc: self.label.setText(f"Could not look for GPUs: {exc}"))

    def show_gpus(self, gpus: list) -> None:
        self.gpus = list(gpus)
        self.refresh()

    def set_tools_backend(self, tools_backend: str | None) -> None:
        self.tools_backend = tools_backend
        self.refresh()

    def refresh(self) -> None:
        from forge_gui.core.llamacpp import build_options, gpu

        if self.gpus is None:
            return
        if self.gpus:
            rows = [f"<b>{html.escape(g.name)}</b> — {self._memory(g)}" for g in self.gpus]
        else:
            rows = ["No GPU found: training runs on the CPU."]
        if self.tools_backend:
            rows.append(f"The llama.cpp tools are built for "
                        f"<b>{BACKEND_NAMES.get(self.tools_backend, self.tools_backend)}</b>.")
        self.offer = gpu.gpu_build_offer(self.gpus, self.tools_backend) if self.gpus else None
        if self.offer:
            rows.append(f"Build the tools for your GPU ({BACKEND_NAMES[self.offer]}) to train "
                        f"many times faster: roughly {build_options.build_minutes(self.offer, _cores())} "
                        f"minutes on {_cores()} cores, once.")
        if fit := self.fit():
            rows.append(("✔ " if fit.fits else "⚠ ") + html.escape(fit.sentence()))
        self.label.setText("<br>".join(rows))
        self.build_button.setVisible(bool(self.offer) and not self.building)

    def show_need(self, estimate: int, info, method: str = "full") -> None:
        """The training estimate of `info` with `method`, checked against the GPU's memory."""
        from forge_gui.core.llamacpp import gpu

        self.need = None if info is None or not estimate else (
            estimate, gpu.count_layers(info.tensor_names), gpu.layer_bytes(info, method))
        self.refresh()

    def fit(self):
        """GpuFit for the first GPU whose free memory is known, or None."""
        from forge_gui.core.llamacpp import gpu

        card = next((g for g in self.gpus or [] if g.memory_free is not None and not g.software),
                    None)
        if card is None or self.need is None:
            return None
        estimate, layers, spread = self.need
        return gpu.fit_on_gpu(estimate, card.memory_free, layers, spread)

    @staticmethod
    def _memory(g) -> str:
        if not g.memory_total:
            return f"{BACKEND_NAMES[g.api]}, memory size not reported"
        free = f", {g.memory_free / 1024**3:.1f} GB free" if g.memory_free is not None else ""
        return f"{g.memory_total / 1024**3:.1f} GB memory{free} ({BACKEND_NAMES[g.api]})"

    # -- the build -------------------------------------------------------------------------
    def build(self) -> None:
        gpu_backend = self.offer
        if not gpu_backend or self.busy:
            return
        self.building = True
        self.build_button.hide()
        self.cancel_button.show()
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.progress.show()

        def on_progress(event):
            show_progress(self.progress, event)

        def done(bin_dir):
            self._end_build()
            self.tools_backend = gpu_backend
            self.refresh()
            self.built.emit(bin_dir)

        def failed(exc):
            self._end_build()
            self.refresh()  # the offer stays: try again once the cause is fixed
            why = html.escape(str(exc)).replace("\n", "<br>")
            self.label.setText(f"{self.label.text()}<br><b>The GPU build failed:</b> {why}")

        task = self._run(lambda p, c: backend.ensure_gpu_tools(gpu_backend, p, c), done, failed,
                         on_progress)
        task.cancelled.connect(self._build_cancelled)

    def _build_cancelled(self) -> None:
        self._end_build()
        self.refresh()

    def cancel(self) -> None:
        if self.building and self._task is not None:
            self.cancel_button.setEnabled(False)
            self.progress.setFormat("Cancelling…")
            self._task.cancel()

    def _end_build(self) -> None:
        self.building = False
        self.need = None
        self.progress.hide()
        self.cancel_button.hide()
        self.cancel_button.setEnabled(True)

    def _run(self, fn, ok, bad, progress=None) -> BackgroundTask:
        self._task = start_task(self, fn, ok, bad, progress)
        return self._task


def _cores() -> int:
    import os
    return os.cpu_count() or 1
