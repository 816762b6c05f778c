"""What a plain-format run's evaluation reads: LoRA runs are fed segments (train.jsonl,
train.val.jsonl; docs/training.md, "How the trainer is fed"), while llama-perplexity and the
held-out prompt parser read the plain training text."""

from __future__ import annotations

import json
from pathlib import Path

from forge_gui.core.base.atomic import atomic_write_text


def plain_text_of(segments_file: Path, out: Path) -> Path:
    """A plain-format run's segments (train.jsonl, train.val.jsonl) -> the plain training text,
    records separated as prepare-training-data separates them, without the EOS the trainer
    learns after a record's last answer: what llama-perplexity and the prompt parser read."""
    from forge_gui.core.formats.chat_format import SAMPLE_SEPARATOR

    texts = []
    with open(segments_file, encoding="utf-8") as fh:
        for line in fh:
            segments = json.loads(line)["segments"]
            if len(segments) >= 2 and segments[-1][1] and segments[-2][1]:
                segments = segments[:-1]  # the EOS after the last answer
            texts.append("".join(text for text, _ in segments))
    atomic_write_text(out, SAMPLE_SEPARATOR.join(texts))
    return out


def _is_segments(path: Path | None) -> bool:
    if path is None or not path.is_file():
        return False
    with open(path, encoding="utf-8") as fh:
        return fh.read(14).startswith('{"segments"')
