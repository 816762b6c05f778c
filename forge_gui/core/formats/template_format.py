"""Training in the base's own chat format: its GGUF Jinja template (core/formats/jinja_chat.py) is the
source of truth, for every family, with no per-family markers (docs/training.md, "Which format
is trained").

- The training text of a conversation is the template's render of all its messages (BOS text
  stripped; a trailing user message has no answer and is dropped).
- The answers are found from the template itself: for the assistant message k, the render of
  the messages before it with add_generation_prompt=True is the prompt the model sees at chat
  time; where it stops matching the training text the model's own text starts. The answer as
  the template renders it (as is, or trimmed: Llama 3 and Gemma trim) follows, then the
  end-of-turn marker: what the template writes after an answer both as the last message and
  in the history (their common start, trailing whitespace off: Llama 3's eot_id, ChatML's
  im_end, Gemma's end_of_turn, Phi-3's end, Mistral's EOS …). The loss covers that span; nothing else.
- Thinking models: data without reasoning trains as the template renders a non-thinking
  answer. Qwen 3 renders the last answer after an empty `<think>\\n\\n</think>\\n\\n` (the model
  learns to write that block before answering); DeepSeek-R1 distills render answers with no
  think block although their generation prompt opens one (`<think>\\n`): the training text
  follows the conversation's render, so the answer is trained right after the assistant tag.
- The Ollama TEMPLATE for a GGUF base is derived from the same template (the texts it puts
  before, between and after messages, found by rendering probe conversations) and must render,
  for every record of the run, the same prompt as the template (`check_go_template`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from forge_gui.core.formats.chat_format import ChatFormat, Message, Segment, Turns, messages_of
from forge_gui.core.formats.jinja_chat import JinjaChat, TemplateRenderError

log = logging.getLogger(__name__)

_A, _B, _S, _U, _V = "\x02answer one\x02", "\x02answer two\x02", "\x02sys\x02", "\x02q1\x02", \
    "\x02q2\x02"


class FormatUnsupported(ValueError):
    """Forge cannot find the answers in this template's text (or prove an Ollama TEMPLATE)."""


@dataclass(frozen=True)
class TemplateFormat(ChatFormat):
    engine: JinjaChat | None = field(default=None, compare=False)
    end_of_turn: str = ""

    def _engine(self) -> JinjaChat:
        assert self.engine is not None
        return self.engine

    def conversation(self, turns: Turns) -> list[Message]:
        messages = messages_of(turns)
        while messages and messages[-1][0] != "assistant":
            messages.pop()  # a question without an answer trains nothing
        return messages

    def render_turns(self, turns: Turns) -> str:
        return "".join(text for text, _ in self.segments(turns))

    def prompt(self, messages: Iterable[Message]) -> str:
        return self._engine().render(list(messages), add_generation_prompt=True)

    def segments(self, turns: Turns) -> list[Segment]:
        return answer_segments(self._engine(), self.conversation(turns), self.end_of_turn)


def answer_segments(engine: JinjaChat, messages: Sequence[Message],
                    end_of_turn: str) -> list[Segment]:
    """The training text of a conversation cut into (text, trained) pieces (module doc)."""
    full = engine.render(messages)
    folded = engine.fold(messages)
    segments: list[Segment] = []
    pos = 0
    for k, (role, content) in enumerate(folded):
        if role != "assistant":
            continue
        prompt = engine.raw(folded[:k], add_generation_prompt=True)
        start = _common_prefix(prompt, full)
        if start < pos:
            raise FormatUnsupported("the prompt before an answer does not match the rendered "
                                    "conversation")
        at, shown = _find_answer(full, content, start)
        end = at + len(shown)
        if not full.startswith(end_of_turn, end):
            raise FormatUnsupported(f"an answer is not followed by {end_of_turn!r}")
        end += len(end_of_turn)
        segments += [(full[pos:start], False), (full[start:end], True)]
        pos = end
    segments.append((full[pos:], False))
    return [(text, trained) for text, trained in segments if text]


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _marker(last_after: str, answer_to_user: str) -> str:
    """What closes an answer: the common start of the texts after the last answer and after
    an answer in the history, cut back to whitespace where it ends mid-word (Phi-3's
    "<|end|>\n<|endoftext|>" and "<|end|>\n<|user|>" share "<|end|>\n<|"), whitespace off."""
    n = _common_prefix(last_after, answer_to_user)
    common = last_after[:n]
    if not all(n == len(t) or t[n].isspace() for t in (last_after, answer_to_user)):
        cut = max(common.rfind(c) for c in " \t\r\n")
        common = common[:cut] if cut > 0 else common
    return common.rstrip()


def _find_answer(full: str, content: str, start: int) -> tuple[int, str]:
    """Where the answer stands in the text, and how the template shows it (as is, trimmed)."""
    for shown in dict.fromkeys((content, content.strip(), content.lstrip("\n"))):
        at = full.find(shown, start)
        if at >= 0 and (shown or at == start):
            return at, shown
    raise FormatUnsupported("the template does not render an answer as given")


def probe(engine: JinjaChat) -> dict[str, str]:
    """The texts the template writes around messages, from probe conversations (sentinel
    contents): the start without and with a system message, between messages, and after."""
    def cut(text: str, *marks: str) -> list[str]:
        parts, rest = [], text
        for mark in marks:
            if rest.count(mark) != 1:
                raise FormatUnsupported("the template does not show every message once")
            before, rest = rest.split(mark)
            parts.append(before)
        return [*parts, rest]

    plain = engine.render([("user", _U), ("assistant", _A), ("user", _V), ("assistant", _B)])
    start, user_to_answer, answer_to_user, _, last_after = cut(plain, _U, _A, _V, _B)
    gen = cut(engine.render([("user", _U)], add_generation_prompt=True), _U)
    if gen[0] != start:
        raise FormatUnsupported("the start of a conversation changes with its length")
    texts = {"start": start, "user_to_answer": user_to_answer,
             "answer_to_user": answer_to_user, "generation": gen[1]}
    eot = _marker(last_after, answer_to_user)
    if not eot:
        raise FormatUnsupported("the template writes no end-of-turn marker after an answer")
    texts["end_of_turn"] = eot
    # A folding template (core/formats/jinja_chat.py) gives "<start><system>\n\n<user>": the same cut.
    with_system = engine.render([("system", _S), ("user", _U), ("assistant", _A)])
    sys_start, sys_to_user, _, _ = cut(with_system, _S, _U, _A)
    texts["system_start"], texts["system_to_user"] = sys_start, sys_to_user
    return texts


def _literal(text: str) -> str:
    """Text for a Go template: '{{' cannot stand as itself."""
    return text.replace("{{", '{{ "{{" }}')


def derive_go_template(engine: JinjaChat) -> str:
    """An Ollama TEMPLATE (Go text/template) that renders what the template renders for a
    conversation up to where the answer starts, built from `probe`'s texts."""
    t = {k: _literal(v) for k, v in probe(engine).items()}
    return (
        '{{- $prev := "" }}{{- range $i, $_ := .Messages }}'
        '{{- if eq .Role "system" }}{{ if eq $i 0 }}' + t["system_start"] + "{{ end }}"
        "{{ .Content }}"
        '{{- else if eq .Role "user" }}'
        '{{- if eq $prev "system" }}' + t["system_to_user"]
        + '{{ else if eq $prev "assistant" }}' + t["answer_to_user"]
        + "{{ else }}" + t["start"] + "{{ end }}{{ .Content }}"
        '{{- else if eq .Role "assistant" }}' + t["user_to_answer"] + "{{ .Content }}"
        "{{- end }}{{ $prev = .Role }}{{- end }}"
        '{{- if eq $prev "user" }}' + t["generation"] + "{{ end }}")


@functools.lru_cache(maxsize=8)
def template_format(source: str, bos: str | None, eos: str | None,
                    add_bos: bool = True) -> TemplateFormat:
    """The format of a base whose GGUF has this chat template. Raises FormatUnsupported (with
    the reason) when the answers cannot be found or no Ollama TEMPLATE renders the same."""
    try:
        engine = JinjaChat(source, bos, eos, add_bos=add_bos)
        texts = probe(engine)
        go = derive_go_template(engine)
    except TemplateRenderError as exc:
        raise FormatUnsupported(str(exc)) from exc
    eot = texts["end_of_turn"]
    fmt = TemplateFormat(
        "template", "the base's own chat format (its chat template)", go,
        stop_markers=(eot,), markers=(eot,), engine=engine, end_of_turn=eot)
    from forge_gui.core.formats.template_check import check_go_template

    probes: list[list[Message]] = [
        [("user", "Hi"), ("assistant", "Hello.")],
        [("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello.")],
        [("user", "Hi"), ("assistant", "Hello."), ("user", "And?"), ("assistant", "Bye.")]]
    problems = check_go_template(fmt, go, probes)
    if problems:
        raise FormatUnsupported(problems[0])
    return fmt
