"""The training text of one sample (the format the Ollama TEMPLATE reproduces, docs/ollama.md).

    ### System:\n{system}\n\n                       only when there is a system message
    ### Instruction:\n{user}\n\n### Input:\n{input or (none)}\n\n### Response:\n{answer}\n

Exchanges of one conversation are joined with "\n" (a blank line between them), and so are
samples in the prepared file. A system message applies to the exchange after it; a trailing
user turn has no answer and is not rendered (validation warns `ends_with_user_turn`).
"""

from __future__ import annotations

from typing import NamedTuple

from forge_gui.core.data.models import Conversation
from forge_gui.core.data.normalise import Turns

NO_INPUT = "(none)"
SAMPLE_SEPARATOR = "\n"
STOP_MARKERS = ("### Instruction:", "### System:")


def render_turns(turns: Turns) -> str:
    # One exchange, no system message: the common case, rendered in one step.
    if len(turns) == 2 and turns[0][0] == "user" and turns[1][0] == "assistant":
        (_, user, user_input), (_, answer, _) = turns
        return (f"### Instruction:\n{user}\n\n### Input:\n{user_input or NO_INPUT}\n\n"
                f"### Response:\n{answer}\n")
    blocks = []
    system = ""
    question: tuple[str, str | None] | None = None
    for role, content, inp in turns:
        if role == "system":
            system += f"### System:\n{content}\n\n"
        elif role == "user":
            question = (content, inp)
        elif question is not None:
            user, user_input = question
            blocks.append(f"{system}### Instruction:\n{user}\n\n### Input:\n"
                          f"{user_input or NO_INPUT}\n\n### Response:\n{content}\n")
            system, question = "", None
    return "\n".join(blocks)


class SampleBlock(NamedTuple):
    """Rendered samples as UTF-8 joined by SAMPLE_SEPARATOR: prepare writes whole blocks (and
    workers send them as one bytes object, far cheaper than a string per sample)."""
    data: bytes
    count: int
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
