"""installer/ci/vulkan_headers.sh: the Vulkan headers CI builds with on Debian 12 (docs/gpu.md).
Its download runs in .ci/run (and so before tests/test_train_vulkan.py); here, its cache."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "installer" / "ci" / "vulkan_headers.sh"
BASH = shutil.which("bash") or "/bin/bash"


def run(cache: Path, path: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FORGE_CACHE_DIR": str(cache), "PATH": path}
    return subprocess.run([BASH, str(SCRIPT)], capture_output=True, text=True, env=env,
                          timeout=60)


def test_cached_headers_are_printed_without_apt(tmp_path):
    include = tmp_path / "vulkan-headers" / "1.4.309.0-1" / "include" / "vulkan"
    include.mkdir(parents=True)
    (include / "vulkan_core.h").write_text("#define VK_HEADER_VERSION 309\n")
    done = run(tmp_path, str(tmp_path / "no-tools-here"))  # no apt-get: nothing downloaded
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(include.parent.parent)


def test_the_vulkan_sdk_given_to_ci_is_new_enough_for_the_pinned_llama_cpp():
    """.ci/run exports VULKAN_SDK from the script; the build's own check accepts it."""
    if os.environ.get("CI") != "true" and not os.environ.get("VULKAN_SDK"):
        pytest.skip("VULKAN_SDK is set by .ci/run (installer/ci/vulkan_headers.sh)")
    from forge_gui.core.base.process import child_env
    from forge_gui.core.llamacpp import build_options

    assert build_options.vulkan_header_version(child_env()) >= build_options.MIN_VULKAN_HEADER
