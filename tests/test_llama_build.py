"""The pinned llama.cpp build: cache layout, hash pinning, CMake options, build progress."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from forge_gui.core.base.steps import StepFailed
from forge_gui.core.llamacpp import build, build_options


def test_cache_holds_a_stamped_build_of_the_pinned_source(llama_tools):
    assert llama_tools == build.cached_tools_dir()
    level = build_options.cpu_level()  # "avx512" on an AVX-512 machine, as CI's
    assert llama_tools.parent.name == f"{build.BUILD_KEY}-cpu" + (f"-{level}" if level else "")
    stamp = json.loads((llama_tools.parent / build.STAMP).read_text())
    assert ("-DGGML_AVX512=ON" in stamp["lora_cmake_options"]) == (level == "avx512")
    assert stamp["sdist_sha256"] == build.SDIST_SHA256
    assert stamp["lora_fork"].endswith("@57d4c9849a2dff5118843cc9e675b006d8493e04")
    assert (llama_tools / "llama-finetune-lora").is_file()
    assert "-DGGML_NATIVE=OFF" in stamp["cmake_options"]
    assert build.sha256_of(build.tools_cache_root() / "downloads" / build.SDIST_NAME) == \
        build.SDIST_SHA256
    assert (build.source_dir() / "examples" / "training" / "finetune.cpp").is_file()


def test_an_incomplete_build_is_not_taken_for_a_finished_one(tmp_path, monkeypatch):
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path))
    bin_dir = build.install_dir("cpu") / "bin"
    bin_dir.mkdir(parents=True)
    for name in build.TOOL_NAMES[:-1]:
        (bin_dir / name).write_bytes(b"")
    (bin_dir.parent / build.STAMP).write_text("{}")
    assert build.cached_tools_dir() is None  # llama-completion is missing
    (bin_dir / build.TOOL_NAMES[-1]).write_bytes(b"")
    assert build.cached_tools_dir() == bin_dir


def test_a_download_with_the_wrong_hash_is_refused(tmp_path, monkeypatch):
    def fake_fetch(folder):
        bad = folder / build.SDIST_NAME
        bad.write_bytes(b"not the pinned source")
        return bad

    monkeypatch.setattr(build, "_fetch_with_pip", fake_fetch)
    with pytest.raises(StepFailed, match="Refusing to build"):
        build.fetch_sdist(tmp_path)
    assert not (tmp_path / build.SDIST_NAME).exists()


def test_cmake_options_per_backend():
    cpu = build_options.cmake_options("cpu")
    assert "-DBUILD_SHARED_LIBS=OFF" in cpu and "-DGGML_CUDA=OFF" in cpu
    assert "-DGGML_CUDA=ON" in build_options.cmake_options("cuda")
    assert "-DGGML_METAL=ON" in build_options.cmake_options("metal")


AVX2_FLAGS = "fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma bmi2 avx2"
AVX512_CPU = f"{AVX2_FLAGS} avx512f avx512dq avx512cd avx512bw avx512vl avx512_vnni"


@pytest.mark.parametrize(("flags", "level"), [
    (AVX2_FLAGS, ""),
    (AVX512_CPU, "avx512"),
    (f"{AVX2_FLAGS} avx512f", ""),  # Xeon Phi has AVX512F without BW/VL: ggml's flags need all
])
def test_the_trainer_is_built_for_avx512_only_where_the_cpu_has_it(flags, level, monkeypatch):
    monkeypatch.delenv(build_options.PORTABLE_ENV, raising=False)
    cpuinfo = f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags}\n"
    assert build_options.cpu_level(cpuinfo) == level
    lora = build_options.cmake_options("cpu", lora=True, level=build_options.cpu_level(cpuinfo))
    assert ("-DGGML_AVX512=ON" in lora) == (level == "avx512")
    assert "-DGGML_NATIVE=OFF" in lora  # never -march=native: the cache folder names the level


def test_installers_and_other_machines_get_portable_avx2_tools(monkeypatch, tmp_path):
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(build, "cpu_level", lambda: "avx512")
    assert build.install_dir("cpu").name == f"{build.BUILD_KEY}-cpu-avx512"
    # a copied cache of AVX-512 tools is not found on an AVX2 machine: it is rebuilt, not run
    bin_dir = build.install_dir("cpu") / "bin"
    bin_dir.mkdir(parents=True)
    for name in build.TOOL_NAMES:
        (bin_dir / name).write_bytes(b"")
    (bin_dir.parent / build.STAMP).write_text("{}")
    monkeypatch.setattr(build, "cpu_level", lambda: "")
    assert build.cached_tools_dir("cpu") is None
    assert build.install_dir("cpu").name == f"{build.BUILD_KEY}-cpu"
    # the upstream-only tools never carry the fork's level
    assert "avx512" not in build.install_dir("cpu", ("llama-quantize",)).name
    monkeypatch.setenv(build_options.PORTABLE_ENV, "1")
    assert build_options.cpu_level(f"flags\t: {AVX512_CPU}\n") == ""
    assert build_options.cmake_options("cuda", lora=True, level="avx512").count(
        "-DGGML_AVX512=ON") == 0


def test_the_installer_builds_portable_tools(monkeypatch):
    path = Path(__file__).resolve().parents[1] / "installer" / "build.py"
    spec = importlib.util.spec_from_file_location("installer_build", path)
    installer_build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(installer_build)
    monkeypatch.delenv("FORGE_BUNDLE_TOOLS", raising=False)
    # setenv, not delenv: monkeypatch restores only what it recorded, and tools_dir() sets the
    # variable in this process; left set, the rest of the suite would look for AVX2 tools on
    # an AVX-512 machine
    monkeypatch.setenv(build_options.PORTABLE_ENV, "0")
    monkeypatch.setattr(build, "ensure_tools",
                        lambda: Path(os.environ.get(build_options.PORTABLE_ENV, "unset")))
    assert installer_build.tools_dir() == Path("1")  # AVX2 tools, even built on AVX-512


def test_build_progress_from_ninja_and_make_lines():
    half = build.parse_build_line("[50/100] Building CXX object src/llama.cpp.o")
    assert half.fraction == pytest.approx(0.12 + 0.88 * 0.5)
    assert build.parse_build_line("[ 25%] Linking CXX executable bin/llama-quantize").fraction \
        == pytest.approx(0.12 + 0.88 * 0.25)
    assert build.parse_build_line("-- Configuring done") is None


def test_a_nested_build_does_not_jump_the_progress_bar_to_the_end(tmp_path):
    """The Vulkan build runs the shader generator's own small build ([1/2], [2/2]) midway."""
    step = build._build_step(tmp_path, tmp_path / "log", ("llama-finetune",), 0.0, 1.0)
    lines = ["[33/455] Linking CXX static library ggml/src/libggml-cpu.a",
             "[1/2] Building CXX object CMakeFiles/vulkan-shaders-gen.dir/vulkan-shaders-gen.cpp.o",
             "[2/2] Linking CXX executable vulkan-shaders-gen",
             "[34/455] Generate vulkan shaders for add.comp"]
    fractions = [e.fraction if (e := step.parse_line(line)) else None for line in lines]
    assert fractions == [pytest.approx(33 / 455), None, None, pytest.approx(34 / 455)]
