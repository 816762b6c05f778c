"""Fixtures for the ollama tests: the Ollama test double, and a private sha256 cache."""

from __future__ import annotations

import pytest

from ollama_double import OllamaDouble


@pytest.fixture(autouse=True)
def _private_hash_cache(tmp_path_factory, monkeypatch):
    """Each test starts with an empty sha256 cache (the real one is in the user's cache dir)."""
    from forge_gui.core.ollama import hashing

    path = tmp_path_factory.mktemp("hashcache") / "sha256-cache.json"
    monkeypatch.setattr(hashing, "cache_file", lambda: path)


def _start(tmp_path_factory, monkeypatch, mode: str):
    double = OllamaDouble(tmp_path_factory.mktemp("ollama-store"), mode=mode)
    monkeypatch.setenv("OLLAMA_HOST", double.url)
    return double


@pytest.fixture
def ollama(tmp_path_factory, monkeypatch):
    """A current Ollama (0.34.1: ADAPTER refused) at OLLAMA_HOST."""
    double = _start(tmp_path_factory, monkeypatch, "current")
    yield double
    double.stop()


@pytest.fixture
def ollama_legacy(tmp_path_factory, monkeypatch):
    """An Ollama older than 0.34.1 (0.34.0: ADAPTER accepted) at OLLAMA_HOST."""
    double = _start(tmp_path_factory, monkeypatch, "legacy")
    yield double
    double.stop()


@pytest.fixture
def ollama_down(tmp_path_factory, monkeypatch):
    """OLLAMA_HOST points at a port where nothing listens (Ollama not running)."""
    double = _start(tmp_path_factory, monkeypatch, "current")
    double.stop()
    yield double
