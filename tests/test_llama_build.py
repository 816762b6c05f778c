"""The pinned llama.cpp build: cache layout, hash pinning, CMake options, build progress."""

from __future__ import annotations

import json

import pytest

from forge_gui.core.base.steps import StepFailed
from forge_gui.core.llamacpp import build, build_options


def test_cache_holds_a_stamped_build_of_the_pinned_source(llama_tools):
    assert llama_tools == build.cached_tools_dir()
    assert llama_tools.parent.name == f"{build.BUILD_KEY}-cpu"
    stamp = json.loads((llama_tools.parent / build.STAMP).read_text())
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
