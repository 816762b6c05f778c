"""GPUs: detection from nvidia-smi / vulkaninfo / system_profiler output, the CMake options for
them, the checks before a GPU build, doctor's GPU lines, and -ngl / GPU memory decisions."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from forge_gui.cli import main
from forge_gui.core.llamacpp import build, build_options, gpu
from forge_gui.core.llamacpp.discover import ToolInfo, ToolSet

DATA = Path(__file__).parent / "data" / "gpu"
GB = 1024**3


def fixture(name: str) -> str:
    return (DATA / name).read_text()


def fake_tool(folder: Path, name: str, output_file: str) -> None:
    """An executable `name` in `folder` that prints a captured output, like the real tool."""
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / name
    exe.write_text(f"#!/bin/sh\nexec /bin/cat '{DATA / output_file}'\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


# --- parsing ------------------------------------------------------------------------------

def test_nvidia_smi_h100_gives_name_memory_and_architecture():
    (h100,) = gpu.parse_nvidia_smi(fixture("nvidia-smi-h100.csv"))
    assert h100.name == "NVIDIA H100 80GB HBM3" and h100.vendor == "nvidia" and h100.api == "cuda"
    assert h100.memory_total == 81559 * 1024**2 and h100.memory_free == 81004 * 1024**2
    assert h100.cuda_arch == "90"
    assert h100.describe() == "NVIDIA H100 80GB HBM3 (79.6 GB memory, 79.1 GB free; CUDA sm_90)"


def test_nvidia_smi_rtx_4090_and_a_two_gpu_machine():
    (rtx,) = gpu.parse_nvidia_smi(fixture("nvidia-smi-rtx4090.csv"))
    assert rtx.cuda_arch == "89" and round(rtx.memory_total / GB) == 24
    two = gpu.parse_nvidia_smi(fixture("nvidia-smi-two-gpus.csv"))
    assert [g.name for g in two] == ["NVIDIA GeForce RTX 3090", "NVIDIA GeForce RTX 4090"]
    assert [g.cuda_arch for g in two] == ["86", "89"]


def test_nvidia_smi_without_memory_figures_or_with_an_error_line():
    text = "NVIDIA GH200 480GB, [N/A], [N/A], 9.0\nNVIDIA-SMI has failed because it couldn't " \
           "communicate with the NVIDIA driver.\n"
    (gh200,) = gpu.parse_nvidia_smi(text)
    assert gh200.cuda_arch == "90" and gh200.memory_total is None
    assert "sm_90" in gh200.describe()


def test_vulkaninfo_amd_card_is_found_and_llvmpipe_left_out():
    (amd,) = gpu.parse_vulkaninfo_summary(fixture("vulkaninfo-summary-amd-rx6700xt.txt"))
    assert amd.name == "AMD Radeon RX 6700 XT (RADV NAVI22)"
    assert amd.vendor == "amd" and amd.api == "vulkan" and not amd.software
    assert amd.describe() == "AMD Radeon RX 6700 XT (RADV NAVI22) (Vulkan)"
    both = gpu.parse_vulkaninfo_summary(fixture("vulkaninfo-summary-amd-rx6700xt.txt"),
                                        include_software=True)
    assert [g.software for g in both] == [False, True]


def test_vulkaninfo_lavapipe_only_is_no_gpu_unless_asked():
    text = fixture("vulkaninfo-summary-lavapipe.txt")
    assert gpu.parse_vulkaninfo_summary(text) == []
    (cpu,) = gpu.parse_vulkaninfo_summary(text, include_software=True)
    assert cpu.software and cpu.name.startswith("llvmpipe")
    assert gpu.recommended_backend([cpu]) is None  # nothing worth a GPU build


def test_apple_silicon_from_system_profiler():
    (m2,) = gpu.parse_system_profiler(fixture("system_profiler-apple-m2-pro.json"))
    assert m2.name == "Apple M2 Pro" and m2.vendor == "apple" and m2.api == "metal"
    assert gpu.parse_system_profiler("not json") == []


def test_amd_memory_comes_from_the_kernel(tmp_path):
    dev = tmp_path / "card1" / "device"
    dev.mkdir(parents=True)
    (dev / "mem_info_vram_total").write_text(str(12 * GB))
    (dev / "mem_info_vram_used").write_text(str(2 * GB))
    (tmp_path / "card0-DP-1").mkdir()  # a connector, not a card: no vram files
    assert gpu.vram_from_sysfs(tmp_path) == [(12 * GB, 10 * GB)]


def test_detection_runs_the_real_tools_found_on_path(tmp_path, monkeypatch):
    """nvidia-smi and vulkaninfo as the user has them: an NVIDIA card that Vulkan also sees
    is listed once; without either tool there is simply no GPU."""
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "nvidia-smi", "nvidia-smi-h100.csv")
    vk = fixture("vulkaninfo-summary-amd-rx6700xt.txt").replace(
        "vendorID           = 0x1002", "vendorID           = 0x10de").replace(
        "AMD Radeon RX 6700 XT (RADV NAVI22)", "NVIDIA H100 80GB HBM3")
    (tmp_path / "vk.txt").write_text(vk)
    (bin_dir / "vulkaninfo").write_text(f"#!/bin/sh\nexec /bin/cat '{tmp_path / 'vk.txt'}'\n")
    (bin_dir / "vulkaninfo").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert [g.name for g in gpu.detect_gpus()] == ["NVIDIA H100 80GB HBM3"]

    fake_tool(bin_dir, "vulkaninfo", "vulkaninfo-summary-amd-rx6700xt.txt")
    names = [g.name for g in gpu.detect_gpus()]
    assert names == ["NVIDIA H100 80GB HBM3", "AMD Radeon RX 6700 XT (RADV NAVI22)"]

    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert gpu.detect_gpus() == []


# --- CMake options ------------------------------------------------------------------------

def test_cuda_options_name_only_the_architecture_of_the_gpu_present(monkeypatch):
    monkeypatch.delenv("CUDAARCHS", raising=False)
    h100 = gpu.parse_nvidia_smi(fixture("nvidia-smi-h100.csv"))
    opts = build_options.cmake_options("cuda", gpus=h100)
    assert "-DGGML_CUDA=ON" in opts
    assert [o for o in opts if "CUDA_ARCHITECTURES" in o] == ["-DCMAKE_CUDA_ARCHITECTURES=90"]
    two = gpu.parse_nvidia_smi(fixture("nvidia-smi-two-gpus.csv"))
    assert "-DCMAKE_CUDA_ARCHITECTURES=86;89" in build_options.cmake_options("cuda", gpus=two)
    same = h100 + h100
    assert "-DCMAKE_CUDA_ARCHITECTURES=90" in build_options.cmake_options("cuda", gpus=same)


def test_cuda_options_fall_back_to_a_short_documented_list(monkeypatch):
    monkeypatch.delenv("CUDAARCHS", raising=False)
    opts = build_options.cmake_options("cuda", gpus=[])
    fallback = ";".join(build_options.FALLBACK_CUDA_ARCHITECTURES)
    assert f"-DCMAKE_CUDA_ARCHITECTURES={fallback}" in opts
    assert len(build_options.FALLBACK_CUDA_ARCHITECTURES) <= 5
    doc = (Path(__file__).parents[1] / "docs" / "gpu.md").read_text()
    assert fallback.replace(";", ", ") in doc
    monkeypatch.setenv("CUDAARCHS", "120")  # the user's own choice wins, as in CMake
    assert "-DCMAKE_CUDA_ARCHITECTURES=120" in build_options.cmake_options("cuda", gpus=[])


def test_vulkan_backend_options():
    vulkan = build_options.cmake_options("vulkan")
    assert "-DGGML_VULKAN=ON" in vulkan and "-DGGML_CUDA=OFF" in vulkan
    assert not any("CUDA_ARCHITECTURES" in o for o in vulkan)
    assert "-DGGML_VULKAN=OFF" in build_options.cmake_options("cpu")
    assert build.backend_for(cuda=False, vulkan=True) == "vulkan"
    assert build.install_dir("vulkan").name.endswith("-vulkan")


# --- before a GPU build -------------------------------------------------------------------

@pytest.fixture
def nothing_installed(tmp_path, monkeypatch):
    """A computer without the CUDA toolkit or the Vulkan SDK (this one may have both)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    for var in ("CUDA_PATH", "CUDA_HOME", "VULKAN_SDK"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(build_options, "CUDA_ROOTS", ())
    monkeypatch.setattr(build_options, "VULKAN_ROOTS", ())
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "cache"))

    def no_fetch(*_):
        raise AssertionError("nothing may be fetched when the toolkit is missing")

    monkeypatch.setattr(build, "fetch_sdist", no_fetch)


def test_setup_cuda_without_the_toolkit_fails_in_seconds_saying_what_to_install(
        nothing_installed, capsys):
    start = time.monotonic()
    assert main(["setup-llama-cpp", "--cuda"]) == 1
    assert time.monotonic() - start < 5
    err = capsys.readouterr().err
    assert "CUDA toolkit (nvcc) was not found" in err
    assert "Install the CUDA toolkit" in err and "nvidia-cuda-toolkit" in err
    assert "Traceback" not in err


def test_a_toolkit_without_cublas_is_refused_before_building(nothing_installed, tmp_path,
                                                             monkeypatch, capsys):
    cuda = tmp_path / "cuda-13.0"
    (cuda / "bin").mkdir(parents=True)
    (cuda / "bin" / "nvcc").write_text("#!/bin/sh\n")
    monkeypatch.setenv("CUDA_PATH", str(cuda))
    assert main(["setup-llama-cpp", "--cuda"]) == 1
    assert "no cuBLAS (cublas_v2.h)" in capsys.readouterr().err
    (cuda / "include").mkdir()
    (cuda / "include" / "cublas_v2.h").write_text("")
    assert build_options.missing_for_build("cuda") is None


def test_setup_vulkan_without_the_sdk_names_the_debian_packages(nothing_installed, capsys):
    assert main(["setup-llama-cpp", "--vulkan"]) == 1
    err = capsys.readouterr().err
    assert "Vulkan build needs the Vulkan headers" in err
    assert "apt install libvulkan-dev glslc spirv-headers" in err
    assert "mesa-vulkan-drivers" in err


def test_vulkan_headers_too_old_for_the_pinned_llama_cpp_are_refused(nothing_installed, tmp_path,
                                                                    monkeypatch, capsys):
    """Debian 12's 1.3.239 headers fail to compile ggml-vulkan.cpp (VK_EXT_layer_settings)."""
    sdk = tmp_path / "sdk"
    (sdk / "include" / "vulkan").mkdir(parents=True)
    (sdk / "include" / "vulkan" / "vulkan_core.h").write_text("#define VK_HEADER_VERSION 239\n")
    monkeypatch.setenv("VULKAN_SDK", str(sdk))
    assert main(["setup-llama-cpp", "--vulkan"]) == 1
    err = capsys.readouterr().err
    assert "Vulkan headers here are version 1.3.239" in err and "1.3.272 or newer" in err
    assert "Debian 13's libvulkan-dev" in err and "VULKAN_SDK" in err  # the Debian 12 way

    (sdk / "include" / "vulkan" / "vulkan_core.h").write_text("#define VK_HEADER_VERSION 309\n")
    (sdk / "bin").mkdir()
    (sdk / "bin" / "glslc").write_text("#!/bin/sh\n")
    (sdk / "bin" / "glslc").chmod(0o755)
    (sdk / "share" / "cmake" / "SPIRV-Headers").mkdir(parents=True)
    assert build_options.missing_for_build("vulkan") is None


def test_cuda_and_vulkan_together_is_a_usage_error(capsys):
    assert main(["setup-llama-cpp", "--cuda", "--vulkan"]) == 2
    assert "Choose one of --cuda and --vulkan" in capsys.readouterr().err


def test_setup_cuda_says_which_architecture_and_how_long_before_building(tmp_path, monkeypatch,
                                                                        capsys):
    fake_tool(tmp_path / "bin", "nvidia-smi", "nvidia-smi-rtx4090.csv")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.delenv("CUDAARCHS", raising=False)
    monkeypatch.setattr(build, "cached_tools_dir", lambda backend=None: None)
    monkeypatch.setattr(build_options, "missing_for_build", lambda backend, env=None: None)
    asked = []
    monkeypatch.setattr(build, "ensure_tools",
                        lambda **kw: asked.append(kw) or tmp_path / "0.3.36-cuda" / "bin")
    assert main(["setup-llama-cpp", "--cuda"]) == 0
    err = capsys.readouterr().err
    assert "Building the CUDA tools for 1 GPU architecture(s) takes roughly" in err
    assert "CUDA architectures: 89." in err
    assert asked[0]["cuda"] is True and asked[0]["vulkan"] is False


def test_the_build_announcement_says_how_long(monkeypatch):
    assert "1 GPU architecture" in build_options.build_time_sentence("cuda", 16, 1)
    assert "roughly 10 minute" in build_options.build_time_sentence("cuda", 16, 1)  # 287 s x 2 sources
    assert "Vulkan tools takes roughly" in build_options.build_time_sentence("vulkan", 2)


# --- doctor -------------------------------------------------------------------------------

def _toolset(backend: str | None) -> ToolSet:
    return ToolSet(tools={name: ToolInfo(name=name, path=Path("/opt/llama") / name, source="PATH",
                                         flavour="upstream" if name == "llama-finetune" else "tool",
                                         backend=backend if name == "llama-finetune" else None)
                          for name in build.TOOL_NAMES})


def test_doctor_lists_gpus_with_memory_and_the_tools_backend(tmp_path, monkeypatch, capsys):
    from forge_gui.core.llamacpp import discover

    fake_tool(tmp_path / "bin", "nvidia-smi", "nvidia-smi-two-gpus.csv")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(discover, "find_tools", lambda configured=None: _toolset("cpu"))
    assert main(["doctor", "--host", "127.0.0.1:9"]) == 0
    out = capsys.readouterr().out
    assert "GPUs:\n  NVIDIA GeForce RTX 3090 (24.0 GB memory, 23.7 GB free; CUDA sm_86)" in out
    assert "NVIDIA GeForce RTX 4090 (24.0 GB memory" in out
    assert "Tools built for: cpu" in out
    assert "Build for your GPU: forge-cli setup-llama-cpp --cuda" in out

    assert main(["doctor", "--json", "--host", "127.0.0.1:9"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [g["name"] for g in payload["gpus"]] == ["NVIDIA GeForce RTX 3090",
                                                    "NVIDIA GeForce RTX 4090"]
    assert payload["gpus"][1]["memory_total"] == 24564 * 1024**2
    assert payload["gpus"][1]["cuda_arch"] == "89"
    assert payload["llama_cpp"]["backend"] == "cpu" and payload["gpu_build"] == "cuda"


def test_doctor_with_no_gpu_and_gpu_tools_offers_nothing(tmp_path, monkeypatch, capsys):
    from forge_gui.core.llamacpp import discover

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(discover, "find_tools", lambda configured=None: _toolset("cuda"))
    assert main(["doctor", "--host", "127.0.0.1:9"]) == 0
    out = capsys.readouterr().out
    assert "GPUs:\n  none found (training runs on the CPU)" in out
    assert "Tools built for: cuda" in out and "Build for your GPU" not in out
    amd = gpu.parse_vulkaninfo_summary(fixture("vulkaninfo-summary-amd-rx6700xt.txt"))
    assert gpu.gpu_build_offer(amd, "cpu") == "vulkan"
    assert gpu.gpu_build_offer(amd, "vulkan") is None


# --- using the GPU ------------------------------------------------------------------------

def test_gpu_builds_put_every_layer_on_the_gpu_unless_the_user_chose():
    assert gpu.default_gpu_layers("cuda", None) == 999
    assert gpu.default_gpu_layers("vulkan", None) == 999
    assert gpu.default_gpu_layers("metal", None) == 999
    assert gpu.default_gpu_layers("cpu", None) is None  # no -ngl at all
    assert gpu.default_gpu_layers(None, None) is None
    assert gpu.default_gpu_layers("cuda", 12) == 12
    assert gpu.default_gpu_layers("cuda", 0) == 0  # "none on the GPU" is a choice too


def test_the_estimate_is_corrected_by_what_was_measured():
    measured, estimated = 16.9e9, 14.8e9  # H200, 953M-parameter Llama, ctx 512
    assert gpu.corrected_estimate(int(estimated)) == pytest.approx(measured, rel=0.001)


def test_memory_check_says_how_many_layers_fit():
    weights = 4 * GB  # a 1B-parameter F32 model: 16 GB of weights + gradients + moments
    estimate = 4 * weights + 2 * GB
    assert gpu.fit_on_gpu(estimate, 40 * GB, 16, 4 * weights).fits

    fit = gpu.fit_on_gpu(estimate, 12 * GB, 16, 4 * weights)
    assert not fit.fits and 0 < fit.layers_fit < 16
    # corrected: 2.28 GB stay whole, each layer 1.14 GB -> (12 - 2.28) / 1.14 = 8 layers
    assert fit.layers_fit == 8
    assert f"{fit.layers_fit} of 16 layers fit" in fit.sentence()
    assert "Set GPU layers to 8" in fit.sentence()

    none = gpu.fit_on_gpu(estimate, 1 * GB, 16, 4 * weights)
    assert none.layers_fit == 0 and "not even one layer fits" in none.sentence()
    # an estimate that fits uncorrected but not once corrected is caught
    assert not gpu.fit_on_gpu(int(14.8 * GB), 16 * GB, 16, 12 * GB).fits


def test_layers_are_counted_from_tensor_names():
    names = ["token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_up.weight",
             "blk.1.attn_q.weight", "blk.11.attn_q.weight", "output.weight"]
    assert gpu.count_layers(names) == 3


def test_probe_failures_are_logged_not_raised(tmp_path, monkeypatch, caplog):
    bad = tmp_path / "nvidia-smi"
    bad.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    bad.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with caplog.at_level("INFO", logger="forge_gui"):
        assert gpu.detect_gpus() == []
    assert "exit code 9" in caplog.text and "NVIDIA-SMI has failed" in caplog.text
    assert os.environ["PATH"] == str(tmp_path)


def test_the_preflight_gpu_memory_check_for_a_base_model():
    from forge_gui.core.llamacpp.gguf_info import GGUFInfo

    names = [f"blk.{i}.{t}.weight" for i in range(16) for t in ("attn_q", "ffn_up")]
    base = GGUFInfo(path=Path("base.gguf"), size_bytes=6_000_000_000, general_type="model",
                    architecture="llama", parameters=1_500_000_000, tensor_types={"F32": 32},
                    tensor_names=names, vocab_size=32000)
    (rtx,) = gpu.parse_nvidia_smi(fixture("nvidia-smi-rtx4090.csv"))  # 23.0 GB free
    full = base.training_memory_bytes(512)
    fit = gpu.gpu_memory_check(base, full, "cuda", None, "full", [rtx])
    assert fit is not None and not fit.fits and fit.layers == 16
    assert f"{fit.layers_fit} of 16 layers fit" in fit.sentence()
    (h100,) = gpu.parse_nvidia_smi(fixture("nvidia-smi-h100.csv"))
    assert gpu.gpu_memory_check(base, full, "cuda", None, "full", [h100]).fits
    # LoRA keeps the base as stored and a small adapter: it fits where the full one does not
    lora = base.size_bytes + 2 * GB
    assert gpu.gpu_memory_check(base, lora, "cuda", None, "lora", [rtx]).fits
    # training on the CPU: nothing to check against a GPU
    assert gpu.gpu_memory_check(base, full, "cpu", None, "full", [h100]) is None
    assert gpu.gpu_memory_check(base, full, "cuda", 0, "full", [h100]) is None
    amd = gpu.parse_vulkaninfo_summary(fixture("vulkaninfo-summary-amd-rx6700xt.txt"))
    assert gpu.gpu_memory_check(base, full, "vulkan", None, "full", amd) is None  # unknown
