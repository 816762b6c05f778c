"""The training format of a base GGUF: its chat template, BOS and EOS read by gguf_info, the
choice made by formats.detect; and the format a run recorded (`format_of`)."""

from __future__ import annotations

from pathlib import Path

from forge_gui.core.base.steps import StepFailed
from forge_gui.core.formats.chat_format import FORMATS, PLAIN, ChatFormat
from forge_gui.core.formats.detect import detect
from forge_gui.core.llamacpp.gguf_info import inspect_gguf


def format_for_base(path) -> ChatFormat:
    """The format `detect` picks for this base GGUF (its template, BOS and EOS texts)."""
    info = inspect_gguf(path)
    return detect(info.chat_template, info.bos_token, info.eos_token, info.add_bos_token)[0]


def format_of(key: str | None, base: Path | None = None) -> ChatFormat:
    """The chat format recorded for a run (plain when none was recorded); "template" (the
    base's own chat template) is read again from the base GGUF, which must be given."""
    if key == "template":
        if base is None:
            raise StepFailed("The run trains in the base's chat format but has no base model.",
                             "Run it again from the start.")
        return format_for_base(base)
    return next((fmt for k, fmt in FORMATS.items() if k == key), PLAIN)
