"""Shared test setup: every test gets its own data/config/cache folders (never the user's)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The LoRA trainer's pinned source for builds made by the tests (no GitHub on CI machines):
# the trimmed copy beside the checkout, verified like a download (core/llamacpp/lora_source.py).
_VENDOR = Path(__file__).resolve().parents[2] / "shared" / "vendor"
for _archive in sorted(_VENDOR.glob("qvac-fabric-llm.cpp-*-trimmed.tar.gz")):
    os.environ.setdefault("FORGE_LORA_SOURCE", str(_archive))

# Fixtures of each area live in their own module beside this file (tests/ is on sys.path).
pytest_plugins = ["fixtures_data", "fixtures_llama", "fixtures_ollama", "fixtures_gui"]


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    base = tmp_path_factory.mktemp("userdirs")
    monkeypatch.setenv("FORGE_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("FORGE_CONFIG_DIR", str(base / "config"))
    # The llama.cpp build cache is shared on purpose: building takes minutes.
    yield
