"""Forge: fine-tune a local language model and run it in Ollama."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("forge-gui")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
