"""GPU builds put every layer on the GPU unless told otherwise, and the preflight checks the
estimate against the GPU's free memory (fakes of the tools' backend and of the GPU found)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.steps import StepFailed
from forge_gui.core.llamacpp import gpu
from forge_gui.core.llamacpp.discover import ToolInfo, ToolSet
from forge_gui.core.llamacpp.gguf_info import inspect_gguf
from forge_gui.core.llamacpp.trainer import TrainRequest, get_trainer
from forge_gui.core.pipeline.train_options import train_options
from forge_gui.core.pipeline.train_pipeline import check_gpu_memory
from forge_gui.core.runs.run import RunSettings


def tools(backend: str) -> ToolSet:
    return ToolSet(tools={name: ToolInfo(name=name, path=Path(f"/opt/{name}"), backend=backend)
                          for name in ("llama-finetune", "llama-finetune-lora")})


def argv(tiny_gguf, method: Literal["lora", "full"], backend: str, gpu_layers=None) -> list[str]:
    settings = RunSettings(data=[], name="n", method=method, gpu_layers=gpu_layers)
    request = TrainRequest(train_text=Path("t.txt"), base=inspect_gguf(tiny_gguf["f16"]),
                           output=Path("out.gguf"), options=train_options(settings),
                           tools=tools(backend))
    return get_trainer(method).argv(request)


@pytest.mark.parametrize("method", ["lora", "full"])
def test_every_layer_on_the_gpu_of_a_gpu_build_unless_told(tiny_gguf, method):
    cuda = argv(tiny_gguf, method, "cuda")
    assert cuda[cuda.index("-ngl") + 1] == str(gpu.ALL_LAYERS)
    assert "-ngl" not in argv(tiny_gguf, method, "cpu")
    chosen = argv(tiny_gguf, method, "cuda", gpu_layers=0)  # "0": train on the CPU
    assert chosen[chosen.index("-ngl") + 1] == "0"


def test_lora_stays_on_the_cpu_of_a_vulkan_build_unless_told(tiny_gguf):
    assert "-ngl" not in argv(tiny_gguf, "lora", "vulkan")  # the fork aborts offloaded there
    full = argv(tiny_gguf, "full", "vulkan")
    assert full[full.index("-ngl") + 1] == str(gpu.ALL_LAYERS)
    asked = argv(tiny_gguf, "lora", "vulkan", gpu_layers=8)
    assert asked[asked.index("-ngl") + 1] == "8"


def test_the_preflight_refuses_what_does_not_fit_the_gpu(tiny_gguf, monkeypatch):
    base = inspect_gguf(tiny_gguf["f16"])
    card = gpu.GPU(name="Fake 4090", vendor="nvidia", api="cuda", memory_total=24 << 30,
                   memory_free=10 << 20, cuda_arch="89")
    monkeypatch.setattr(gpu, "detect_gpus", lambda: [card])
    events: list[ProgressEvent] = []
    settings = RunSettings(data=[], name="n", method="lora")
    with pytest.raises(StepFailed, match="of GPU memory"):
        check_gpu_memory(base, 2 << 30, tools("cuda"), get_trainer("lora"), settings,
                         events.append)
    card.memory_free = 20 << 30
    check_gpu_memory(base, 2 << 30, tools("cuda"), get_trainer("lora"), settings, events.append)
    assert events and events[-1].message.endswith("is free.")
    events.clear()
    check_gpu_memory(base, 2 << 30, tools("cpu"), get_trainer("lora"), settings, events.append)
    assert events == []  # CPU tools: nothing to check on a GPU
