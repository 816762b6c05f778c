"""Does an Ollama TEMPLATE render the prompt the model was trained with? (docs/training.md,
"Which format is trained").

For every answer of every conversation given, the TEMPLATE rendered over the messages before
that answer (Ollama's `.Messages`, system ones included, as Ollama passes them) must equal the
training format's prompt for them (`ChatFormat.prompt`, the text up to where the answer
starts). Rendered with core/formats/gotemplate.py, a model of Go's text/template proven equal to
Go by the tests, so the check runs on a user's machine without Go.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from forge_gui.core.formats import gotemplate
from forge_gui.core.formats.chat_format import ChatFormat, Message

log = logging.getLogger(__name__)


def collate(messages: Sequence[Message]) -> tuple[str, list[Message]]:
    """What Ollama's template.Execute gives a TEMPLATE: `.System`, every system message's text
    joined by a blank line, and `.Messages`, consecutive messages of one role joined so."""
    system = "\n\n".join(c for r, c in messages if r == "system")
    collated: list[Message] = []
    for role, content in messages:
        if collated and collated[-1][0] == role:
            collated[-1] = (role, f"{collated[-1][1]}\n\n{content}")
        else:
            collated.append((role, content))
    return system, collated


def render_go(template: str, messages: Sequence[Message], system: str | None = None) -> str:
    """What Ollama's TEMPLATE gives the model for these messages (tools, images: none).
    `system`: `.System` as given, else as Ollama collates it from the messages."""
    joined, collated = collate(messages)
    return gotemplate.render(template, {
        "Messages": [{"Role": r, "Content": c, "Thinking": "", "Images": None,
                      "ToolCalls": None, "ToolName": ""} for r, c in collated],
        "System": joined if system is None else system, "Prompt": "", "Response": "",
        "Tools": None, "Think": False, "ThinkLevel": "", "IsThinkSet": False})


def _where(a: str, b: str) -> str:
    i = next((n for n, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return (f"at character {i}: the training text has {a[max(0, i - 20):i + 30]!r}, "
            f"the TEMPLATE gives {b[max(0, i - 20):i + 30]!r}")


def differs(want: str, template: str, messages: Sequence[Message]) -> str:
    """Where the TEMPLATE's render of `messages` departs from `want`, in words; "" when equal.
    Raises gotemplate.TemplateError when the TEMPLATE cannot be rendered."""
    got = render_go(template, messages)
    return "" if got == want else _where(want, got)


def check_go_template(fmt: ChatFormat, template: str,
                      conversations: Iterable[Sequence[Message]], limit: int = 3) -> list[str]:
    """Sentences saying where the TEMPLATE's prompt differs from the training prompt (at most
    `limit`); empty when they agree for every answer."""
    problems: list[str] = []
    for number, messages in enumerate(conversations, 1):
        for k, (role, _) in enumerate(messages):
            if role != "assistant":
                continue
            try:
                where = differs(fmt.prompt(messages[:k]), template, messages[:k])
            except gotemplate.TemplateError as exc:
                problems.append(f"The Ollama TEMPLATE cannot be rendered here: {exc}")
                return problems
            if where:
                answer = sum(r == "assistant" for r, _ in messages[:k]) + 1
                problems.append(f"Record {number}, answer {answer}: the Ollama TEMPLATE renders "
                                f"a different prompt {where}.")
                if len(problems) >= limit:
                    return problems
                break
    for problem in problems:
        log.warning("%s", problem)
    return problems
