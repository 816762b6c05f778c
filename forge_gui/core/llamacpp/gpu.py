"""Which GPUs this computer has, and what that means for building and training (docs/gpu.md).

    detect_gpus()                      -> [GPU]: NVIDIA (nvidia-smi), AMD/Intel (vulkaninfo),
                                          Apple (Metal); CPU-only Vulkan devices left out
    recommended_backend(gpus)          -> "cuda" | "vulkan" | "metal" | None
    default_gpu_layers(backend, value) -> the -ngl to pass (999 on a GPU build unless set)
    corrected_estimate(estimate)       -> the training estimate scaled by what was measured
    fit_on_gpu(estimate, free, layers, weights) -> GpuFit: fits, or how many layers do
    gpu_memory_check(base, estimate, backend, ngl, method) -> GpuFit | None, for the preflight

What a GPU build needs (toolkits, headers) and its CMake options: build_options.py.

The parsers are pure and tested on output captured from real machines (tests/data/gpu/).
Detection runs each tool briefly through the project's process helpers; a missing tool means
"no GPU of that kind", never an error.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import re
import shutil
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from forge_gui.core.base.process import probe_output

log = logging.getLogger(__name__)

Vendor = Literal["nvidia", "amd", "intel", "apple", "other"]
Api = Literal["cuda", "vulkan", "metal"]

PROBE_TIMEOUT = 15
MIB = 1024 * 1024

NVIDIA_SMI_QUERY = ["--query-gpu=name,memory.total,memory.free,compute_cap",
                    "--format=csv,noheader,nounits"]

# Measured on an H200 (docs/performance.md): peak VRAM 16.9 GB where Forge estimated 14.8 GB
# for a 953M-parameter F32 Llama at ctx 512; the estimate is scaled up by this much on GPUs.
MEASURED_PEAK_GB, ESTIMATED_GB = 16.9, 14.8
ESTIMATE_CORRECTION = MEASURED_PEAK_GB / ESTIMATED_GB  # ≈ 1.14

# -ngl meaning "every layer": llama.cpp clamps it to the model's layer count.
ALL_LAYERS = 999


class GPU(BaseModel):
    name: str
    vendor: Vendor
    api: Api  # the llama.cpp backend that drives it
    memory_total: int | None = None  # bytes; None when the tool does not say
    memory_free: int | None = None
    cuda_arch: str | None = None  # "90" for compute capability 9.0 (NVIDIA only)
    software: bool = False  # a CPU pretending to be a GPU (Mesa llvmpipe/lavapipe)

    def describe(self) -> str:
        """One line for doctor and the Trainer page: name, memory, backend."""
        parts = [self.name]
        if self.memory_total:
            mem = f"{_gb(self.memory_total)} memory"
            if self.memory_free is not None:
                mem += f", {_gb(self.memory_free)} free"
            parts.append(mem)
        extra = {"cuda": "CUDA", "vulkan": "Vulkan", "metal": "Metal"}[self.api]
        if self.cuda_arch:
            extra += f" sm_{self.cuda_arch}"
        if self.software:
            extra += ", software rendering on the CPU"
        return f"{parts[0]} ({'; '.join([*parts[1:], extra])})"


def _gb(n: int) -> str:
    return f"{n / 1024**3:.1f} GB"


# --- parsers (pure) -----------------------------------------------------------------------

def _mib(text: str) -> int | None:
    try:
        return int(float(text)) * MIB
    except ValueError:  # "[N/A]" on some cards and in containers
        return None


def parse_nvidia_smi(text: str) -> list[GPU]:
    """GPUs from `nvidia-smi --query-gpu=name,memory.total,memory.free,compute_cap
    --format=csv,noheader,nounits` (memory in MiB, compute capability "9.0")."""
    gpus = []
    for line in text.splitlines():
        fields = [f.strip() for f in line.rsplit(",", 3)]  # a name may hold commas; the rest not
        if len(fields) != 4 or not fields[0]:
            continue
        name, total, free, cap = fields
        arch = cap.replace(".", "") if re.fullmatch(r"\d+\.\d+", cap) else None
        if arch is None and _mib(total) is None:
            continue  # not a data row (an error message from a broken driver, say)
        gpus.append(GPU(name=name, vendor="nvidia", api="cuda", memory_total=_mib(total),
                        memory_free=_mib(free), cuda_arch=arch))
    return gpus


_VK_FIELD = re.compile(r"^\s*(\w+)\s*=\s*(.*?)\s*$")
_VK_VENDORS: dict[int, Vendor] = {0x10DE: "nvidia", 0x1002: "amd", 0x1022: "amd",
                                  0x8086: "intel", 0x106B: "apple"}


def parse_vulkaninfo_summary(text: str, include_software: bool = False) -> list[GPU]:
    """GPUs from `vulkaninfo --summary` (its "Devices:" section, one GPUn: block each).

    Mesa's llvmpipe/lavapipe is a CPU device (deviceType PHYSICAL_DEVICE_TYPE_CPU): left out
    unless include_software. The summary gives no memory size; see vram_from_sysfs.
    """
    devices: list[dict[str, str]] = []
    in_devices = False
    for line in text.splitlines():
        if line.startswith("Devices:"):
            in_devices = True
        elif in_devices and re.match(r"^GPU\d+:", line):
            devices.append({})
        elif in_devices and devices and (m := _VK_FIELD.match(line)):
            devices[-1][m.group(1)] = m.group(2)
    gpus = []
    for dev in devices:
        name = dev.get("deviceName")
        if not name:
            continue
        kind = dev.get("deviceType", "")
        software = kind.endswith("_CPU") or dev.get("driverName") in ("llvmpipe", "lavapipe")
        if software and not include_software:
            continue
        try:
            vendor = _VK_VENDORS.get(int(dev.get("vendorID", "0"), 16), "other")
        except ValueError:
            vendor = "other"
        gpus.append(GPU(name=name, vendor=vendor, api="vulkan", software=software))
    return gpus


def parse_system_profiler(text: str) -> list[GPU]:
    """GPUs from `system_profiler SPDisplaysDataType -json` on macOS (Metal)."""
    try:
        items = json.loads(text).get("SPDisplaysDataType", [])
    except (ValueError, AttributeError):
        return []
    gpus = []
    for item in items:
        name = item.get("sppci_model") or item.get("_name")
        if not name:
            continue
        vendor_text = str(item.get("spdisplays_vendor", "")).lower()
        vendor: Vendor = next((v for v in ("apple", "amd", "intel", "nvidia") if v in vendor_text
                               or v in name.lower()), "other")
        memory = None
        if m := re.match(r"(\d+)\s*(MB|GB)", str(item.get("spdisplays_vram", ""))):
            memory = int(m.group(1)) * (MIB if m.group(2) == "MB" else 1024 * MIB)
        gpus.append(GPU(name=name, vendor=vendor, api="metal", memory_total=memory))
    return gpus


def vram_from_sysfs(drm: Path = Path("/sys/class/drm")) -> list[tuple[int, int]]:
    """(total, free) bytes of each amdgpu card, from the kernel's mem_info_vram_* files."""
    found = []
    for card in sorted(drm.glob("card[0-9]*")):
        dev = card / "device"
        try:
            total = int((dev / "mem_info_vram_total").read_text())
            used = int((dev / "mem_info_vram_used").read_text())
        except (OSError, ValueError):
            continue
        found.append((total, max(0, total - used)))
    return found


# --- detection ----------------------------------------------------------------------------

def _run_quiet(argv: list[str]) -> str | None:
    """stdout of a short probe; None when it cannot run or fails (logged, never raised)."""
    return probe_output(argv, PROBE_TIMEOUT)


def _nvidia() -> list[GPU]:
    smi = shutil.which("nvidia-smi")
    out = _run_quiet([smi, *NVIDIA_SMI_QUERY]) if smi else None
    return parse_nvidia_smi(out) if out else []


def _vulkan(include_software: bool) -> list[GPU]:
    tool = shutil.which("vulkaninfo")
    out = _run_quiet([tool, "--summary"]) if tool else None
    gpus = parse_vulkaninfo_summary(out, include_software) if out else []
    amd = [g for g in gpus if g.vendor == "amd" and not g.software]
    vram = vram_from_sysfs() if sys.platform.startswith("linux") else []
    if len(amd) == len(vram):  # same count: pair them in order (one card, the usual case)
        for gpu, (total, free) in zip(amd, vram, strict=True):
            gpu.memory_total, gpu.memory_free = total, free
    return gpus


def _metal() -> list[GPU]:
    if sys.platform != "darwin":
        return []
    tool = shutil.which("system_profiler")
    out = _run_quiet([tool, "SPDisplaysDataType", "-json"]) if tool else None
    gpus = parse_system_profiler(out) if out else []
    if not gpus and platform.machine() == "arm64":
        gpus = [GPU(name="Apple GPU (Metal)", vendor="apple", api="metal")]
    return gpus


def detect_gpus(include_software: bool = False) -> list[GPU]:
    """Every GPU found, NVIDIA first. A card both nvidia-smi and Vulkan see is listed once."""
    nvidia = _nvidia()
    vulkan = [g for g in _vulkan(include_software) if not (nvidia and g.vendor == "nvidia")]
    gpus = [*nvidia, *vulkan, *_metal()]
    log.info("GPUs found: %s", [g.name for g in gpus] or "none")
    return gpus


def recommended_backend(gpus: list[GPU]) -> Api | None:
    """The backend to build for these GPUs: CUDA for NVIDIA, Metal on a Mac, else Vulkan."""
    real = [g for g in gpus if not g.software]
    apis: tuple[Api, ...] = ("cuda", "metal", "vulkan")
    for api in apis:
        if any(g.api == api for g in real):
            return api
    return None


# --- using the GPU ------------------------------------------------------------------------

def default_gpu_layers(backend: str | None, settings_value: int | None) -> int | None:
    """The -ngl to pass: what the user chose, else every layer on a GPU build, else none.

    backend is the tools' backend (ToolInfo.backend of llama-finetune: "cpu", "cuda", …).
    None means "pass no -ngl".
    """
    if settings_value is not None:
        return settings_value
    if backend and backend.lower() not in ("cpu", "blas"):
        return ALL_LAYERS
    return None


def corrected_estimate(estimate_bytes: int) -> int:
    """Forge's training-memory estimate scaled by the measured under-estimate (~12 %)."""
    return math.ceil(estimate_bytes * ESTIMATE_CORRECTION)


def count_layers(tensor_names: list[str]) -> int:
    """Transformer blocks in a GGUF, from its tensor names (blk.N.*)."""
    blocks = {m.group(1) for name in tensor_names if (m := re.match(r"blk\.(\d+)\.", name))}
    return len(blocks)


class GpuFit(BaseModel):
    need: int  # corrected estimate, bytes
    free: int  # the GPU's free memory, bytes
    layers: int  # the model's blocks
    layers_fit: int  # how many of them fit (== layers when all do)

    @property
    def fits(self) -> bool:
        return self.need <= self.free

    def sentence(self) -> str:
        head = (f"Training needs about {_gb(self.need)} of GPU memory "
                f"(estimate corrected by measurement); {_gb(self.free)} is free")
        if self.fits:
            return head + "."
        if self.layers_fit == 0:
            return (head + ": not even one layer fits. Train on the CPU (GPU layers 0), or "
                    "choose a smaller model or a shorter context.")
        return (head + f": {self.layers_fit} of {self.layers} layers fit. Set GPU layers to "
                f"{self.layers_fit} (the rest run on the CPU, slower), or choose a smaller model "
                "or a shorter context.")


def layer_bytes(base, method: str = "full") -> int:
    """The part of a training estimate that is spread over the layers: for a full fine-tune
    the weights, gradients and two AdamW moments (4 x the F32 model), for LoRA the base as
    stored (the adapter and its optimizer state are small)."""
    return base.size_bytes if method == "lora" else 4 * base.f32_bytes


def fit_on_gpu(estimate_bytes: int, free_bytes: int, layers: int, spread_bytes: int) -> GpuFit:
    """Check a training estimate against a GPU's free memory.

    estimate_bytes: the trainer's estimate (uncorrected; corrected here).
    spread_bytes: the part of it spread over the layers (layer_bytes()); the rest
    (activations, buffers) stays whole, so a layer costs spread_bytes / layers.
    """
    need = corrected_estimate(estimate_bytes)
    layers = max(0, layers)
    if need <= free_bytes or layers == 0:
        fit = layers if need <= free_bytes else 0
        return GpuFit(need=need, free=free_bytes, layers=layers, layers_fit=fit)
    per_layer = corrected_estimate(spread_bytes) / layers
    fixed = max(0, need - per_layer * layers)
    fit = int((free_bytes - fixed) // per_layer) if per_layer > 0 else 0
    return GpuFit(need=need, free=free_bytes, layers=layers,
                  layers_fit=max(0, min(layers - 1, fit)))


def gpu_memory_check(base, estimate_bytes: int, tools_backend: str | None,
                     gpu_layers: int | None = None, method: str = "full",
                     gpus: list[GPU] | None = None) -> GpuFit | None:
    """For the preflight: training `base` (a GGUFInfo) with `method` ("full" or "lora"), whose
    estimate is `estimate_bytes`, against the free memory of the GPU the tools will use.
    None when training runs on the CPU (CPU tools, -ngl 0) or when no such GPU reports its
    free memory (Apple's unified memory, Intel, drivers without it)."""
    if not default_gpu_layers(tools_backend, gpu_layers):
        return None
    gpus = detect_gpus() if gpus is None else gpus
    card = next((g for g in gpus if g.memory_free is not None and not g.software
                 and (g.api == tools_backend or tools_backend == "vulkan")), None)
    if card is None or card.memory_free is None:
        return None
    return fit_on_gpu(estimate_bytes, card.memory_free, count_layers(base.tensor_names),
                      layer_bytes(base, method))


# --- what doctor and the Trainer page say -------------------------------------------------

def gpu_build_offer(gpus: list[GPU], tools_backend: str | None) -> Api | None:
    """The GPU backend worth building when there is a GPU and the tools cannot use it."""
    want = recommended_backend(gpus)
    if want is None or want == "metal":  # the Mac build already uses Metal
        return None
    if tools_backend and tools_backend.lower() == want:
        return None
    return want


def summary_lines(gpus: list[GPU], tools_backend: str | None) -> list[str]:
    """GPUs with their memory, the tools' backend, and the build command when it helps."""
    lines = [f"  {g.describe()}" for g in gpus] or ["  none found (training runs on the CPU)"]
    lines.append(f"Tools built for: {tools_backend or 'unknown (no llama-finetune found)'}")
    offer = gpu_build_offer(gpus, tools_backend)
    if offer:
        lines.append(f"Build for your GPU: forge-cli setup-llama-cpp --{offer}")
    return lines
