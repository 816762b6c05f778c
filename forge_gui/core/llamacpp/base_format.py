"""The training format of a base GGUF: its chat template, BOS and EOS read by gguf_info, the
choice made by formats.detect."""

from __future__ import annotations

from forge_gui.core.formats.chat_format import ChatFormat
from forge_gui.core.formats.detect import detect
from forge_gui.core.llamacpp.gguf_info import inspect_gguf


def format_for_base(path) -> ChatFormat:
    """The format `detect` picks for this base GGUF (its template, BOS and EOS texts)."""
    info = inspect_gguf(path)
    return detect(info.chat_template, info.bos_token, info.eos_token, info.add_bos_token)[0]
