"""What a llama.cpp build needs and the options it gets (docs/gpu.md, "Building for the GPU").

    cmake_options(backend, lora, gpus)  -> the CMake -D options of a build
    cpu_level()                         -> "avx512" when the LoRA trainer may use AVX-512 here
    cuda_architectures(gpus)            -> CMAKE_CUDA_ARCHITECTURES: the cards present, else a list
    missing_for_build(backend)          -> (problem, what to install) before a GPU build
    build_minutes / build_time_sentence -> how long a build takes, from measured builds

Checked before anything is downloaded, so a missing toolkit fails in seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

from forge_gui.core.base.process import child_env
from forge_gui.core.llamacpp.gpu import GPU, _run_quiet, detect_gpus

# --- CMake --------------------------------------------------------------------------------

# Compiled when no NVIDIA GPU can be detected (CI, a build for another machine): Turing,
# Ampere, Ada, Hopper; newer cards run the Hopper code through PTX (docs/performance.md).
FALLBACK_CUDA_ARCHITECTURES = ("75", "80", "86", "89", "90")


def cuda_architectures(gpus: list[GPU] | None = None) -> str:
    """CMAKE_CUDA_ARCHITECTURES for the detected NVIDIA GPUs (detected now when None)."""
    if os.environ.get("CUDAARCHS"):  # the user's own choice, as CMake itself honours it
        return os.environ["CUDAARCHS"]
    if gpus is None:
        gpus = detect_gpus()
    archs = sorted({g.cuda_arch for g in gpus if g.cuda_arch}, key=int)
    return ";".join(archs or FALLBACK_CUDA_ARCHITECTURES)


# ggml's GGML_AVX512 compiles for these (-mavx512f -mavx512cd -mavx512vl -mavx512dq -mavx512bw,
# ggml/src/ggml-cpu/CMakeLists.txt): x86-64-v4, every AVX-512 CPU since Skylake-SP and Zen 4.
AVX512_FLAGS = frozenset({"avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"})
PORTABLE_ENV = "FORGE_PORTABLE_TOOLS"  # set by the installers: tools that run on any AVX2 CPU


def cpu_level(cpuinfo: str | None = None) -> str:
    """The instruction level a CPU build of the LoRA trainer uses on this machine: "avx512"
    where the CPU has AVX-512 (Linux, from /proc/cpuinfo), else "" (portable AVX2).

    The trainer's step is 13-21 % shorter with AVX-512 on a 2-core Xeon (docs/performance.md,
    "AVX-512"); such a binary stops with SIGILL on a CPU without it, so the cache folder is named
    for the level (a copied cache is rebuilt, not run) and the installers, whose tools go to
    other machines, set FORGE_PORTABLE_TOOLS=1."""
    if os.environ.get(PORTABLE_ENV) == "1":
        return ""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text("utf-8", "replace")
        except OSError:
            return ""
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return "avx512" if AVX512_FLAGS.issubset(line.partition(":")[2].split()) else ""
    return ""


def cmake_options(backend: str, lora: bool = False, gpus: list[GPU] | None = None,
                  level: str = "") -> list[str]:
    """CMake -D options; `lora` for the fork, which also needs libcurl switched off; `level`
    "avx512" adds AVX-512 to the portable set (CPU builds only, see cpu_level)."""
    opts = {
        "CMAKE_BUILD_TYPE": "Release",
        "BUILD_SHARED_LIBS": "OFF",  # self-contained binaries: easy to cache and bundle
        "GGML_NATIVE": "OFF",  # portable: runs on any x86-64 with AVX2 / any arm64, not just here
        "GGML_OPENMP": "OFF",  # ggml's own thread pool: no libgomp to ship
        "LLAMA_OPENSSL": "OFF",
        "LLAMA_BUILD_TESTS": "OFF",
        "LLAMA_BUILD_SERVER": "OFF",
        "LLAMA_BUILD_APP": "OFF",
        "LLAMA_BUILD_EXAMPLES": "ON",  # llama-finetune lives in examples/training
        "LLAMA_BUILD_TOOLS": "ON",
        "GGML_CUDA": "ON" if backend == "cuda" else "OFF",
        "GGML_METAL": "ON" if backend == "metal" else "OFF",
        "GGML_VULKAN": "ON" if backend == "vulkan" else "OFF",
    }
    if backend == "metal":
        opts["GGML_METAL_EMBED_LIBRARY"] = "ON"  # the shader inside the binary, not beside it
    if level == "avx512" and backend == "cpu":
        opts["GGML_AVX512"] = "ON"
    if lora:
        opts["LLAMA_CURL"] = "OFF"  # the fork's common/ otherwise wants libcurl for downloads
    if backend == "cuda":  # only the cards present: each arch adds minutes (docs/performance.md)
        opts["CMAKE_CUDA_ARCHITECTURES"] = cuda_architectures(gpus)
    return [f"-D{key}={value}" for key, value in opts.items()]


# --- what a GPU build needs ---------------------------------------------------------------

# The drivers that run a Vulkan build on AMD and Intel cards (Debian/Ubuntu).
VULKAN_DRIVER_PACKAGES = ("mesa-vulkan-drivers",)
CUDA_INSTALL_HINT = ("Install the CUDA toolkit (https://developer.nvidia.com/cuda-downloads; on "
                     "Debian/Ubuntu 'apt install nvidia-cuda-toolkit'), make sure 'nvcc' is on "
                     "PATH or CUDA_PATH is set, then run this again.")

# Build times measured with this project's build code (docs/performance.md): seconds of
# compiling on one core, so that time ≈ work / cores.
# Two sources are built (upstream, then the LoRA fork with its own ggml).
CUDA_CORE_SECONDS_PER_ARCH = 2 * 287 * 16  # upstream, 1 arch, 16 cores: 287 s; fork: as much
CPU_CORE_SECONDS = (250 + 269) * 2  # 2 cores: upstream ~250 s, fork 269 s
VULKAN_CORE_SECONDS = (927 + 650) * 2  # 2 busy cores: upstream 927 s, fork ~650 s


# Where toolkits and SDKs usually live, besides PATH and their environment variables.
CUDA_ROOTS: tuple[str, ...] = ("/usr/local/cuda", "/opt/cuda", "/usr")
VULKAN_ROOTS: tuple[str, ...] = ("/usr", "/usr/local", "/opt/homebrew")


def find_nvcc(env: dict[str, str] | None = None) -> Path | None:
    """nvcc from PATH, $CUDA_PATH / $CUDA_HOME, or the toolkit's usual folders."""
    env = env if env is not None else child_env()
    roots = CUDA_ROOTS
    on_path = shutil.which("nvcc", path=env.get("PATH"))
    if on_path:
        return Path(on_path)
    exe = "nvcc.exe" if sys.platform == "win32" else "nvcc"
    for root in (env.get("CUDA_PATH"), env.get("CUDA_HOME"), *roots):
        if root and (Path(root) / "bin" / exe).is_file():
            return Path(root) / "bin" / exe
    return None


def find_cublas_header(nvcc: Path, env: dict[str, str]) -> bool:
    """cuBLAS's cublas_v2.h, which ggml-cuda links against: nvcc alone is not enough."""
    tops = [nvcc.resolve().parent.parent, *(Path(r) for r in (env.get("CUDA_PATH"),
                                                              env.get("CUDA_HOME"), *CUDA_ROOTS)
                                            if r)]
    for top in tops:
        for inc in (top / "include", *top.glob("targets/*/include"), top / "math_libs/include"):
            if (inc / "cublas_v2.h").is_file():
                return True
    return False


# The pinned llama.cpp's ggml-vulkan uses VK_EXT_layer_settings, first in Vulkan-Headers
# 1.3.272: older headers (Debian 12 has 1.3.239) fail to compile ggml-vulkan.cpp.
MIN_VULKAN_HEADER = 272


def vulkan_header_version(env: dict[str, str]) -> int | None:
    """VK_HEADER_VERSION of the headers CMake will use ($VULKAN_SDK first), None if none."""
    includes = [Path(r) / "include" for r in (env.get("VULKAN_SDK"), *VULKAN_ROOTS) if r]
    pkg_config = shutil.which("pkg-config", path=env.get("PATH"))
    found = _run_quiet([pkg_config, "--variable=includedir", "vulkan"]) if pkg_config else None
    if found and found.strip():
        includes.insert(1, Path(found.strip()))
    for include in includes:
        core = include / "vulkan" / "vulkan_core.h"
        try:
            text = core.read_text("utf-8", "replace")
        except OSError:
            continue
        m = re.search(r"#define\s+VK_HEADER_VERSION\s+(\d+)", text)
        return int(m.group(1)) if m else 0
    return None


def _has_spirv_headers(env: dict[str, str]) -> bool:
    roots = [env.get("VULKAN_SDK", ""), *VULKAN_ROOTS]
    return any(r and ((Path(r) / "share" / "cmake" / "SPIRV-Headers").is_dir()
                      or (Path(r) / "include" / "spirv" / "unified1" / "spirv.hpp").is_file())
               for r in roots)


def missing_for_build(backend: str, env: dict[str, str] | None = None) -> tuple[str, str] | None:
    """(what is missing, what to install) when a `backend` build cannot work here, else None.

    Checked before anything is fetched or compiled, so a missing toolkit fails in seconds.
    """
    env = env if env is not None else child_env()
    if backend == "cuda":
        nvcc = find_nvcc(env)
        if nvcc is None:
            return ("The CUDA toolkit (nvcc) was not found, so the CUDA tools cannot be built.",
                    CUDA_INSTALL_HINT)
        if not find_cublas_header(nvcc, env):
            return (f"The CUDA toolkit at {nvcc} has no cuBLAS (cublas_v2.h), which llama.cpp's "
                    "CUDA backend needs.", "Install the full CUDA toolkit, or add its cuBLAS "
                    "development files (Debian/Ubuntu: 'apt install libcublas-dev' or "
                    "'cuda-libraries-dev-<version>' from NVIDIA's repository), then run this "
                    "again.")
    if backend == "vulkan":
        missing = []
        header = vulkan_header_version(env)
        if header is None:
            missing.append(("the Vulkan headers and loader (vulkan/vulkan.h)", "libvulkan-dev"))
        elif header < MIN_VULKAN_HEADER:
            return (f"The Vulkan headers here are version 1.3.{header}; the pinned llama.cpp "
                    f"needs 1.3.{MIN_VULKAN_HEADER} or newer (Debian 12 ships 1.3.239; Ubuntu "
                    "24.04 and Debian 13 are new enough).",
                    "On Debian 12, unpack Debian 13's libvulkan-dev into a folder and set "
                    "VULKAN_SDK to it (installer/ci/vulkan_headers.sh in Forge's source does "
                    "it; docs/gpu.md); elsewhere install the LunarG Vulkan SDK "
                    "(https://vulkan.lunarg.com) and set VULKAN_SDK, or a newer libvulkan-dev. "
                    "Then run this again.")
        sdk_bin = str(Path(env["VULKAN_SDK"]) / "bin") if env.get("VULKAN_SDK") else None
        if not shutil.which("glslc", path=os.pathsep.join(filter(None, (sdk_bin,
                                                                         env.get("PATH"))))):
            missing.append(("the glslc shader compiler", "glslc"))
        if not _has_spirv_headers(env):
            missing.append(("the SPIR-V headers", "spirv-headers"))
        if missing:
            what = ", ".join(m[0] for m in missing)
            pkgs = " ".join(m[1] for m in missing)
            return (f"A Vulkan build needs {what}, which this computer does not have.",
                    f"On Debian/Ubuntu: 'sudo apt install {pkgs}' (and "
                    f"{', '.join(VULKAN_DRIVER_PACKAGES)} for AMD/Intel cards), or install the "
                    "LunarG Vulkan SDK and set VULKAN_SDK; then run this again.")
    return None


def build_minutes(backend: str, cores: int, cuda_archs: int = 1) -> int:
    """Rough minutes a build of `backend` takes on `cores` cores (from measured builds)."""
    work = {"cuda": CUDA_CORE_SECONDS_PER_ARCH * max(1, cuda_archs),
            "vulkan": VULKAN_CORE_SECONDS}.get(backend, CPU_CORE_SECONDS)
    return max(1, round(work / max(1, cores) / 60))


def build_time_sentence(backend: str, cores: int, cuda_archs: int = 1) -> str:
    """How long a build of `backend` should take on `cores` cores, as one sentence."""
    what = {"cuda": f"CUDA tools for {cuda_archs} GPU architecture(s)",
            "vulkan": "Vulkan tools"}.get(backend, "tools")
    return (f"Building the {what} takes roughly {build_minutes(backend, cores, cuda_archs)} "
            f"minute(s) on {cores} core(s) (once; cached afterwards).")
