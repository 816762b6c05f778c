"""The training text of one sample, as prepare writes it. The format itself (its markers, the
TEMPLATE that reproduces it) is defined once, in core/formats/chat_format.py (docs/data.md, "The
training text"); this module renders records and packs rendered samples into blocks.
"""

from __future__ import annotations

from typing import NamedTuple

from forge_gui.core.data.models import Conversation
from forge_gui.core.data.normalise import Turns
from forge_gui.core.formats.chat_format import NO_INPUT, PLAIN, SAMPLE_SEPARATOR, render_plain_turns

__all__ = ["NO_INPUT", "SAMPLE_SEPARATOR", "STOP_MARKERS", "SampleBlock", "encode_block",
           "measure", "render_conversation", "render_turns"]

STOP_MARKERS = PLAIN.stop_markers
# The plain renderer, under the name the scanner and evaluation call (a function: hot path).
render_turns = render_plain_turns


class SampleBlock(NamedTuple):
    """Rendered samples as UTF-8 joined by SAMPLE_SEPARATOR: prepare writes whole blocks (and
    workers send them as one bytes object, far cheaper than a string per sample)."""
    data: bytes
    samples: int  # how many samples the block holds
    sizes: list[int] | None  # each sample's size in bytes, when asked for


def encode_block(texts: list[str], sizes: bool = False) -> SampleBlock:
    if not sizes:
        return SampleBlock(SAMPLE_SEPARATOR.join(texts).encode("utf-8"), len(texts), None)
    pieces = [text.encode("utf-8") for text in texts]
    return SampleBlock(SAMPLE_SEPARATOR.encode().join(pieces), len(pieces),
                       [len(piece) for piece in pieces])


def render_conversation(conv: Conversation) -> str:
    """The training text of one record, exactly as prepare writes it."""
    return render_turns(tuple((t.role, t.content, t.input) for t in conv.turns))


def measure(turns: Turns) -> tuple[int, tuple[int, int, int, int], int]:
    """(len(render_turns(turns)), (system, user, input, assistant) characters, exchanges)."""
    text = render_turns(turns)
    chars = [0, 0, 0, 0]
    slot = {"system": 0, "user": 1, "assistant": 3}
    for role, content, inp in turns:
        chars[slot[role]] += len(content)
        if inp:
            chars[2] += len(inp)
    exchanges = sum(1 for t in turns if t[0] == "assistant")
    return len(text), (chars[0], chars[1], chars[2], chars[3]), exchanges
