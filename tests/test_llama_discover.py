"""Finding the llama.cpp tools, probing their flavour from --help, and `forge-cli doctor`."""

from __future__ import annotations

import json
import os
import shutil
import stat
import time

from forge_gui.cli import main
from forge_gui.core.llamacpp import build
from forge_gui.core.llamacpp.discover import classify_help, find_tools

LEGACY_HELP = """usage: finetune [options]
  --model-base FNAME         model path from which to load base model (default '')
  --lora-out FNAME           path to save llama lora (default 'ggml-lora-ITERATION-f32.gguf')
"""
FORK_HELP = """usage: llama-finetune-lora [options]
  --lora-rank N       LoRA rank (default: 8)
  --output-adapter F  where to write the GGUF adapter
"""


def test_built_tools_are_found_and_probed(llama_tools, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no user build on PATH in this test
    tools = find_tools()
    assert tools.ready, tools.missing
    finetune = tools.tools["llama-finetune"]
    assert finetune.path == llama_tools / "llama-finetune" and finetune.source == "cache"
    assert finetune.flavour == "upstream"  # from its real --help
    assert finetune.backend == "cpu" and finetune.version
    assert tools.tools["llama-quantize"].flavour == "tool"


def test_a_configured_folder_wins(llama_tools, tmp_path):
    mine = tmp_path / "my build"
    mine.mkdir()
    shutil.copy2(llama_tools / "llama-tokenize", mine / "llama-tokenize")
    tools = find_tools(configured=mine)
    assert tools.tools["llama-tokenize"].source == "configured"
    assert tools.tools["llama-tokenize"].path == mine / "llama-tokenize"
    assert tools.tools["llama-finetune"].source in ("PATH", "cache")


def _fake_tool(folder, name, help_text):
    """An executable that prints `help_text` for --help (stands in for other people's builds)."""
    script = folder / name
    script.write_text("#!/bin/sh\ncat <<'EOF'\n" + help_text + "EOF\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_legacy_finetune_is_refused_with_an_explanation(llama_tools, tmp_path):
    _fake_tool(tmp_path, "llama-finetune", LEGACY_HELP)
    info = find_tools(configured=tmp_path).tools["llama-finetune"]
    assert info.flavour == "legacy" and not info.usable
    assert "GGLA" in info.problem


def test_help_classification():
    assert classify_help("finetune", LEGACY_HELP) == "legacy"
    assert classify_help("llama-finetune", FORK_HELP) == "lora"
    assert classify_help("llama-finetune", "  -opt, --optimizer sgd|adamw\n  -val-split F\n") == "upstream"
    assert classify_help("llama-finetune", "usage: something else") == "unknown"
    assert classify_help("llama-quantize", "usage: llama-quantize …") == "tool"


def test_doctor_lists_tools_and_says_how_to_fix_what_is_missing(llama_tools, tmp_path,
                                                                 monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("FORGE_CACHE_DIR", str(tmp_path / "empty-cache"))  # no build there
    assert main(["doctor", "--host", "127.0.0.1:9"]) == 1
    out = capsys.readouterr().out
    assert "llama-finetune" in out and "MISSING" in out
    assert "Fix: forge-cli setup-llama-cpp" in out
    assert "Ollama" in out

    monkeypatch.delenv("FORGE_CACHE_DIR")
    assert main(["doctor", "--json", "--host", "127.0.0.1:9"]) == 0
    payload = json.loads(capsys.readouterr().out)
    tools = payload["llama_cpp"]["tools"]
    assert payload["llama_cpp"]["ready"] and set(tools) == set(build.TOOL_NAMES)
    assert tools["llama-finetune"]["flavour"] == "upstream"
    assert payload["ollama"]["reachable"] is False


def test_setup_is_quick_once_built_and_can_copy_the_tools(llama_tools, tmp_path, capsys):
    start = time.monotonic()
    assert main(["setup-llama-cpp"]) == 0
    assert time.monotonic() - start < 5
    assert capsys.readouterr().out.strip() == str(llama_tools)
    target = tmp_path / "bundle"
    assert main(["setup-llama-cpp", "--dir", str(target), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bin_dir"] == str(target)
    assert all(os.access(target / name, os.X_OK) for name in build.TOOL_NAMES)
    # never over a folder that holds something
    assert main(["setup-llama-cpp", "--dir", str(target)]) == 2
