"""Ctrl-C during `retrain` and `setup-llama-cpp` stops the tools they started (which run in
their own session, out of the terminal's reach) before forge-cli exits, as `train-run` does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from forge_gui.core.base.process import wait_until_gone
from forge_gui.core.llamacpp import build

pytestmark = pytest.mark.skipif(sys.platform == "win32",
                                reason="POSIX signals; Windows uses CTRL_BREAK")

CLI = [sys.executable, "-c", "import sys; from forge_gui.cli import main; sys.exit(main())"]


def ctrl_c_as_in_a_terminal() -> None:
    """Popen's preexec_fn: Ctrl-C acts as it does in a terminal, even when the test run was
    started in the background, where the shell makes every child ignore SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

# Stands in for a long tool: a child of its own that must go too.
SLOW_TOOL = "#!/bin/sh\nsleep 300 &\nwait\n"


def _fake_tool(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / name
    tool.write_text(SLOW_TOOL)
    tool.chmod(0o755)
    return tool


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _interrupt_when_sleeping(cli: subprocess.Popen, signum=signal.SIGINT) -> tuple[int, str]:
    """Wait for the fake tool's `sleep`, press Ctrl-C; the tree must be gone in 5 s."""
    deadline = time.monotonic() + 60
    tree: list[int] = []
    try:
        while time.monotonic() < deadline:
            kids = _descendants(cli.pid)
            if any(k.name() == "sleep" for k in kids if k.is_running()):
                tree = [k.pid for k in kids]
                break
            assert cli.poll() is None, cli.stderr.read()
            time.sleep(0.05)
        assert tree, "the fake tool never started"
        cli.send_signal(signum)
        assert wait_until_gone(tree, timeout=5.0) == [], "the tool outlived forge-cli's Ctrl-C"
        code = cli.wait(timeout=30)
    finally:
        if cli.poll() is None:
            cli.kill()
        for pid in tree:  # never leave the fake tools behind, even when the test fails
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return code, cli.stderr.read()


def test_ctrl_c_during_retrain_stops_the_merge(tiny_gguf, tmp_path, ollama_down):
    tools = tmp_path / "tools"
    _fake_tool(tools, "llama-export-lora")
    cli = subprocess.Popen([*CLI, "retrain", "--adapter", str(tiny_gguf["lora"]), "--base",
                            str(tiny_gguf["f32"]), "--name", "merged", "--tools-dir", str(tools),
                            "--workdir", str(tmp_path / "run")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           preexec_fn=ctrl_c_as_in_a_terminal)
    code, err = _interrupt_when_sleeping(cli)
    assert code == 130 and "cancelled" in err
    assert "Traceback" not in err


def test_ctrl_c_during_setup_llama_cpp_stops_the_build(tmp_path, monkeypatch):
    sdist = build.tools_cache_root() / "downloads" / build.SDIST_NAME
    if not sdist.is_file():
        pytest.skip(f"needs the pinned source in the shared cache ({sdist}); "
                    "`forge-cli setup-llama-cpp` puts it there")
    cache = tmp_path / "cache"
    root = cache / "llama.cpp"
    (root / "downloads").mkdir(parents=True)
    (root / "downloads" / build.SDIST_NAME).symlink_to(sdist)
    # An unpacked tree, so the build goes straight to CMake (a fake one that takes long).
    tree = root / f"src-{build.LLAMA_CPP_PYTHON_VERSION}" / "vendor" / "llama.cpp"
    tree.mkdir(parents=True)
    (tree / "CMakeLists.txt").write_text("")
    (root / f"src-{build.LLAMA_CPP_PYTHON_VERSION}" / ".complete").write_text("")
    bin_dir = tmp_path / "bin"
    _fake_tool(bin_dir, "cmake")
    env = {**os.environ, "FORGE_CACHE_DIR": str(cache),
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    cli = subprocess.Popen([*CLI, "setup-llama-cpp"], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_as_in_a_terminal)
    code, err = _interrupt_when_sleeping(cli)
    assert code == 130 and "cancelled" in err
    assert "Traceback" not in err
