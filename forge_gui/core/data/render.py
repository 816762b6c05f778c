"""The training text of one sample (the format the Ollama TEMPLATE reproduces, DESIGN §5).

    ### System:\n{system}\n\n                       only when there is a system message
    ### Instruction:\n{user}\n\n### Input:\n{input or (none)}\n\n### Response:\n{answer}\n

Exchanges of one conversation are joined with "\n" (a blank line between them), and so are
samples in the prepared file. A system message applies to the exchange after it; a trailing
user turn has no answer and is not rendered (validation warns `ends_with_user_turn`).
"""

from __future__ import annotations

from forge_gui.core.data.models import Conversation
from forge_gui.core.data.normalise import Turns

NO_INPUT = "(none)"
SAMPLE_SEPARATOR = "\n"
STOP_MARKERS = ("### Instruction:", "### System:")


def render_turns(turns: Turns) -> str:
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


def render_conversation(conv: Conversation) -> str:
    """The training text of one record, exactly as prepare writes it."""
    return render_turns(tuple((t.role, t.content, t.input) for t in conv.turns))


_SYSTEM_FRAME = len("### System:\n\n\n")
_EXCHANGE_FRAME = len("### Instruction:\n\n\n### Input:\n\n\n### Response:\n\n")


def rendered_length(turns: Turns) -> int:
    """len(render_turns(turns)) without building the text (validation's statistics)."""
    total = 0
    exchanges = 0
    pending = 0
    question = None
    for role, content, inp in turns:
        if role == "system":
            pending += _SYSTEM_FRAME + len(content)
        elif role == "user":
            question = len(content) + len(inp or NO_INPUT)
        elif question is not None:
            total += pending + _EXCHANGE_FRAME + question + len(content)
            exchanges += 1
            pending, question = 0, None
    return total + max(0, exchanges - 1)
