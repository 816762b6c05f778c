"""A build of some of the tools only (CI's Vulkan test needs llama-finetune alone): only those
targets are compiled, the LoRA fork is left out, and the subset never passes for "the tools"."""

from __future__ import annotations

import json
import sys

import pytest

from forge_gui.core.llamacpp import build, lora_source

FAKE_CMAKE = """\
import json, pathlib, sys
argv = sys.argv[1:]
with open({calls!r}, "a") as fh:
    fh.write(json.dumps(argv) + "\\n")
if argv[0] == "--build":
    out = pathlib.Path(argv[1]) / "bin"
    out.mkdir(parents=True, exist_ok=True)
    for name in argv[argv.index("--target") + 1:]:
        (out / name).write_text("#!/bin/sh\\n")
else:
    pathlib.Path(argv[argv.index("-B") + 1]).mkdir(parents=True, exist_ok=True)
"""


@pytest.fixture
def fake_cmake(tmp_path, monkeypatch):
    """cmake that records its argv and 'compiles' each --target into an empty file."""
    calls = tmp_path / "cmake-calls.jsonl"
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    script = bin_dir / "cmake"
    script.write_text(f"#!{sys.executable}\n" + FAKE_CMAKE.format(calls=str(calls)))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "cache"))
    tree = tmp_path / "src"
    tree.mkdir()
    monkeypatch.setattr(build, "fetch_sdist", lambda downloads: tmp_path / "sdist.tar.gz")
    monkeypatch.setattr(build, "extract_source", lambda sdist: tree)

    def no_fork(root):
        raise AssertionError("the LoRA fork is not needed for llama-finetune alone")

    monkeypatch.setattr(lora_source, "extract_verified", no_fork)
    return lambda: [json.loads(line) for line in calls.read_text().splitlines()]


def test_only_the_asked_tools_are_compiled_into_a_folder_of_their_own(fake_cmake):
    bin_dir = build.ensure_tools(tools=("llama-finetune",))
    configure, compile_ = fake_cmake()
    assert configure[0] == "-S" and compile_[0] == "--build"
    assert compile_[compile_.index("--target") + 1:] == ["llama-finetune"]
    assert [p.name for p in bin_dir.iterdir()] == ["llama-finetune"]
    # no LoRA trainer in it: the folder is not keyed by the patch to the fork (CI keeps its cache)
    assert bin_dir.parent.name == f"{build._UPSTREAM_KEY}-cpu-llama-finetune"
    stamp = json.loads((bin_dir.parent / build.STAMP).read_text())
    assert stamp["tools"] == ["llama-finetune"]

    # cached: a second call compiles nothing; the subset is never "the tools" of the app
    assert build.ensure_tools(tools=("llama-finetune",)) == bin_dir
    assert len(fake_cmake()) == 2
    assert build.cached_tools_dir() is None and build.cached_tools_dir("cpu") is None
    assert build.cached_tools_dir("cpu", ("llama-finetune",)) == bin_dir


def test_a_tool_forge_does_not_build_is_refused(fake_cmake):
    with pytest.raises(ValueError, match="llama-server"):
        build.ensure_tools(tools=("llama-server",))


def test_the_lora_trainer_alone_compiles_only_the_fork(fake_cmake, tmp_path, monkeypatch):
    fork = tmp_path / "fork-src"
    fork.mkdir()
    monkeypatch.setattr(lora_source, "extract_verified", lambda root: fork)
    bin_dir = build.ensure_tools(tools=("llama-finetune-lora",))
    configure, compile_ = fake_cmake()
    assert configure[configure.index("-S") + 1] == str(fork)  # upstream is not configured
    assert "-DLLAMA_CURL=OFF" in configure
    assert compile_[compile_.index("--target") + 1:] == ["llama-finetune-lora"]
    assert [p.name for p in bin_dir.iterdir()] == ["llama-finetune-lora"]
