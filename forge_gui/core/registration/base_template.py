"""Which TEMPLATE, SYSTEM and stops the created model gets (docs/ollama.md, "The template").

A base pulled in Ollama (`--base NAME`, no `--base-gguf`) has its own TEMPLATE, SYSTEM and
stop parameters (`/api/show`): clients expect them, so the model keeps them when they give the
model, for the run's own records, exactly the prompt it was trained on. The check renders that
TEMPLATE with core/formats/gotemplate.py (a model of Go's text/template, proven equal to Go by
the tests) for a sample of the run's conversations as Ollama's chat would: the model's SYSTEM
first when a conversation has no system message, system messages collated into `.System`.
Where one prompt differs (tool blocks, date lines, a default system prompt …), the model gets
the TEMPLATE derived from the training format instead (proven equal when the format was
detected) and the run says, in one sentence, what differs.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice

from forge_gui.core.formats import gotemplate
from forge_gui.core.formats.chat_format import ChatFormat, Message, messages_of
from forge_gui.core.formats.template_check import differs
from forge_gui.core.ollama.client import OllamaError, parse_show_parameters
from forge_gui.core.runs.run import RunSettings

log = logging.getLogger(__name__)

SAMPLE = 64       # conversations checked (all of them when the data has fewer)
SCANNED = 20_000  # records read at most to draw the sample from


@dataclass(frozen=True)
class TemplateChoice:
    """What the Modelfile gets: TEMPLATE (None: Ollama's own from the GGUF), SYSTEM, stops."""

    template: str | None
    system: str | None
    stops: list[tuple[str, str]] = field(default_factory=list)
    from_base: bool = False
    note: str = ""  # one sentence for the run's notes ("" when nothing was decided)


def derived(fmt: ChatFormat, settings: RunSettings, note: str = "") -> TemplateChoice:
    """The TEMPLATE and stops of the training format, the user's SYSTEM."""
    return TemplateChoice(fmt.go_template, settings.system, fmt.stop_parameters(), note=note)


def shown_base(settings: RunSettings) -> dict | None:
    """The base's /api/show answer, or None when the base is not an Ollama model we reach."""
    if not settings.base or settings.base_gguf:
        return None
    from forge_gui.core.registration.route import client_for

    try:
        with client_for(settings) as client:
            return client.show(settings.base)
    except OllamaError as exc:
        log.info("The base's own template is not checked (%s): %s", settings.base, exc)
        return None


def chat_messages(messages: Sequence[Message], system: str | None) -> list[Message]:
    """The messages Ollama's chat renders: the model's SYSTEM first when the conversation does
    not start with a system message (Ollama's ChatHandler)."""
    if system and (not messages or messages[0][0] != "system"):
        return [("system", system), *messages]
    return list(messages)


def sample_conversations(settings: RunSettings, limit: int = SAMPLE,
                         scanned: int = SCANNED) -> list[list[Message]]:
    """Up to `limit` of the run's valid records as messages, drawn evenly (seeded) from the
    first `scanned`: all of them when there are fewer."""
    from forge_gui.core.data.models import ValidationOptions
    from forge_gui.core.data.scan import Scanner

    rng = random.Random(settings.seed)
    picked: list[list[Message]] = []
    scanner = Scanner(list(settings.data), ValidationOptions(field_map=settings.field_map))
    for n, (_file, _line, turns) in enumerate(islice(scanner.records(), scanned)):
        messages = messages_of(turns)
        if len(picked) < limit:
            picked.append(messages)
        elif (j := rng.randrange(n + 1)) < limit:  # reservoir sampling
            picked[j] = messages
    return picked


def differences(fmt: ChatFormat, template: str, system: str | None,
                conversations: Sequence[Sequence[Message]]) -> str:
    """Where the base's TEMPLATE (with this SYSTEM) first gives a prompt other than the
    training format's, in words; "" when they agree before every answer of every conversation."""
    for number, original in enumerate(conversations, 1):
        sent = chat_messages(original, system)
        offset = len(sent) - len(original)
        for k, (role, _) in enumerate(original):
            if role != "assistant":
                continue
            try:
                where = differs(fmt.prompt(original[:k]), template, sent[:k + offset])
            except gotemplate.TemplateError as exc:
                return f"cannot be rendered here ({exc})"
            if where:
                answer = sum(r == "assistant" for r, _ in original[:k]) + 1
                return f"renders another prompt for record {number}, answer {answer}, {where}"
    return ""


def choose(fmt: ChatFormat, settings: RunSettings, shown: dict | None,
           conversations: Sequence[Sequence[Message]]) -> TemplateChoice:
    """The base's own TEMPLATE, SYSTEM and stops when they render the training prompt for every
    conversation given, otherwise the derived TEMPLATE (module doc)."""
    if shown is None:
        return derived(fmt, settings)
    template = shown.get("template") or ""
    system = settings.system if settings.system is not None else (shown.get("system") or None)
    if not template:
        return derived(fmt, settings, f"The base {settings.base} has no TEMPLATE in Ollama: the "
                                      "model gets the TEMPLATE of the training format.")
    if ".Messages" not in template:
        why = "uses Ollama's older .Prompt/.Response form, which Forge does not check"
    elif not conversations:
        why = "cannot be checked without training records"
    else:  # the user's own SYSTEM is a choice made for chat time: left out of the comparison
        why = differences(fmt, template, None if settings.system is not None else system,
                          conversations)
    if not why:
        stops = [(k, v) for k, v in parse_show_parameters(shown.get("parameters", ""))
                 if k == "stop"]
        return TemplateChoice(template, system, stops, from_base=True, note=(
            f"The model keeps {settings.base}'s own TEMPLATE, SYSTEM and stops: they render the "
            f"prompt it was trained on for the {len(conversations)} record(s) checked."))
    return derived(fmt, settings, (
        f"The model gets the TEMPLATE of the training format, not {settings.base}'s own, "
        f"so training and chat agree: {settings.base}'s TEMPLATE {why}."))


def choose_for_run(fmt: ChatFormat, settings: RunSettings, shown: dict | None) -> TemplateChoice:
    """`choose` with a sample of the run's own records (none for a run without data). A base
    given as a file (--base-gguf wins over --base) gets the derived TEMPLATE."""
    if shown is None or settings.base_gguf:
        return derived(fmt, settings)
    conversations = sample_conversations(settings) if settings.data else []
    choice = choose(fmt, settings, shown, conversations)
    log.info("%s", choice.note)
    return choice
