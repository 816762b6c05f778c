"""The text a model is trained on, and everything derived from it: the Ollama TEMPLATE that
renders the same text, the stops, the markers a record's text must not hold, and the frame
lengths the data scanner's fast path adds up. This module is the one place that spells a
format's markers out (tests/test_chat_format.py fails on a second copy in forge_gui/).

Two formats (docs/training.md, "Which format is trained"), each a renderer:

- plain: Forge's own text (docs/data.md, "The training text"). Works for every base and both
  trainers; special tokens play no part. Per exchange:

      SYSTEM_HEAD{system}\\n\\n               only when there is a system message
      INSTRUCTION_HEAD{user}\\n\\nINPUT_HEAD{input or NO_INPUT}\\n\\nRESPONSE_HEAD{answer}\\n

  Exchanges of one conversation are joined with "\\n" (a blank line between them). A system
  message applies to the exchange after it; a trailing user turn has no answer and is not
  rendered. Ollama's chat has no "input" field, so its TEMPLATE always renders NO_INPUT.
- chatml: Forge's own ChatML renderer (`IM_START role\\n content IM_END\\n` per message), kept
  for `prepare-training-data --format chat-jsonl` and the tests; a base's own chat template,
  whatever its family, is rendered by formats/template_format.py (the "template" format).

Every LoRA run is fed as segments (`ChatFormat.segments`): the training text cut where the loss
starts and stops, packed by Forge's patched llama-finetune-lora (docs/training.md, "How the
trainer is fed").
"""

from __future__ import annotations

import json
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Literal, NamedTuple

FormatKey = Literal["plain", "chatml", "template"]
Message = tuple[str, str]  # (role, content)
Segment = tuple[str, bool]  # (text, trained): the loss covers the text when True
Turn = tuple[str, str, "str | None"]  # (role, content, Alpaca input)
Turns = tuple[Turn, ...]
log = logging.getLogger(__name__)


class FrameLengths(NamedTuple):
    """Characters a format adds around the texts, measured by rendering (see `lengths`)."""
    system: int      # per system message
    exchange: int    # per exchange whose question has an input
    no_input: int    # added when the question has no input
    separator: int   # between two exchanges


@dataclass(frozen=True)
class ChatFormat(ABC):
    """One training format: a renderer and what derives from it (each format a subclass)."""
    key: FormatKey
    label: str
    go_template: str                 # Ollama's TEMPLATE (Go text/template)
    stop_markers: tuple[str, ...]    # what follows an answer in the training text
    markers: tuple[str, ...]         # what marks a turn: a text holding one is warned about
    jinja_template: str | None = None  # given to llama-finetune-lora for chat formats
    eos_text: str | None = None  # the base's EOS token text (plain: trained after the answers)

    @property
    def chat(self) -> bool:
        """Trained from conversations (JSONL + chat template), loss on the answers only."""
        return self.key != "plain"

    def stop_parameters(self) -> list[tuple[str, str]]:
        """PARAMETER lines (name, value) that end a turn where the training text does."""
        return [("stop", marker) for marker in self.stop_markers]

    @property
    def stop_marker(self) -> str:
        """What ends an answer in the training text (llama-completion's reverse prompt)."""
        return self.stop_markers[0]

    @abstractmethod
    def render_turns(self, turns: Turns) -> str:
        """The training text of one record's normalised turns."""

    def render(self, messages: Iterable[Message]) -> str:
        """The training text of one conversation, as the trainer tokenizes it."""
        return self.render_turns(tuple((role, content, None) for role, content in messages))

    @abstractmethod
    def prompt(self, messages: Iterable[Message]) -> str:
        """The text up to where the model's answer starts (what Ollama's TEMPLATE renders)."""

    @abstractmethod
    def segments(self, turns: Turns) -> list[Segment]:
        """One record's training text in pieces, True where the loss covers it: each answer
        and the end-of-turn text that closes it, nothing else (the segments-jsonl file)."""

    def with_eos(self, eos: str | None) -> ChatFormat:
        """This format for a base whose EOS token has this text."""
        return replace(self, eos_text=eos)

    def segments_line(self, turns: Turns) -> str:
        """One line of the segments-jsonl file: {"segments": [[text, trained], ...]}."""
        return json.dumps({"segments": [[t, b] for t, b in self.segments(turns)]},
                          ensure_ascii=False)

    @cached_property
    def lengths(self) -> FrameLengths:
        """The frame lengths, measured on the renderer itself (one-character texts)."""
        def size(*turns: Turn) -> int:
            return len(self.render_turns(turns)) - sum(len(c) + len(i or "") for _, c, i in turns)
        q, a, s = ("user", "q", None), ("assistant", "a", None), ("system", "s", None)
        exchange = size(("user", "q", "i"), a)
        bare = size(q, a)
        return FrameLengths(system=size(s, q, a) - bare, exchange=exchange,
                            no_input=bare - exchange, separator=size(q, a, q, a) - 2 * bare)


# --- plain ---------------------------------------------------------------------------------
SYSTEM_HEAD = "### System:\n"
INSTRUCTION_HEAD = "### Instruction:\n"
INPUT_HEAD = "### Input:\n"
RESPONSE_HEAD = "### Response:\n"  # the prompt ends here: the model writes the answer next
NO_INPUT = "(none)"
SAMPLE_SEPARATOR = "\n"  # between exchanges, and between records in the prepared file
_HEADS = (SYSTEM_HEAD, INSTRUCTION_HEAD, INPUT_HEAD, RESPONSE_HEAD)
_INPUT = "\n\n" + INPUT_HEAD
_RESPONSE = "\n\n" + RESPONSE_HEAD


def render_plain_turns(turns: Turns) -> str:
    """The plain training text (the data scanner's hot path: a function, no lookups)."""
    # One exchange, no system message: the common case, rendered in one step.
    if len(turns) == 2 and turns[0][0] == "user" and turns[1][0] == "assistant":
        (_, user, user_input), (_, answer, _) = turns
        return f"{INSTRUCTION_HEAD}{user}{_INPUT}{user_input or NO_INPUT}{_RESPONSE}{answer}\n"
    blocks = []
    system = ""
    question: tuple[str, str | None] | None = None
    for role, content, inp in turns:
        if role == "system":
            system += f"{SYSTEM_HEAD}{content}\n\n"
        elif role == "user":
            question = (content, inp)
        elif question is not None:
            user, user_input = question
            blocks.append(f"{system}{INSTRUCTION_HEAD}{user}{_INPUT}{user_input or NO_INPUT}"
                          f"{_RESPONSE}{content}\n")
            system, question = "", None
    return SAMPLE_SEPARATOR.join(blocks)


# Go text/template, as Ollama runs it: .Messages holds every message in order, system ones
# included (Ollama puts the request's or the model's SYSTEM first), so a system message renders
# where it stands, as in the training text. No whitespace sits between actions: nothing to trim.
# After the last user message the prompt ends with RESPONSE_HEAD.
PLAIN_GO = (
    "{{- range $i, $_ := .Messages }}"
    "{{- $last := eq (len (slice $.Messages $i)) 1 }}"
    "{{- if eq .Role \"system\" }}" + SYSTEM_HEAD + "{{ .Content }}\n\n"
    "{{ else if eq .Role \"user\" }}" + INSTRUCTION_HEAD + "{{ .Content }}"
    + _INPUT + NO_INPUT + _RESPONSE +
    "{{ else if eq .Role \"assistant\" }}{{ .Content }}\n"
    "{{ if not $last }}" + SAMPLE_SEPARATOR + "{{ end }}"
    "{{ end }}"
    "{{- end }}"
)


@dataclass(frozen=True)
class _Plain(ChatFormat):
    def render_turns(self, turns: Turns) -> str:
        return render_plain_turns(turns)

    def prompt(self, messages: Iterable[Message]) -> str:
        return self.render([*messages, ("assistant", "")]).removesuffix("\n")

    def segments(self, turns: Turns) -> list[Segment]:
        """Each exchange's prompt (untrained), its answer + "\n" (trained); after the last
        answer the base's EOS text, trained, so the model learns to stop. Without the EOS the
        text is exactly `render_turns`; the EOS comes once per record so the history of a
        multi-turn record stays what Ollama's TEMPLATE renders."""
        out: list[Segment] = []
        system, question = "", None
        for role, content, inp in turns:
            if role == "system":
                system += f"{SYSTEM_HEAD}{content}\n\n"
            elif role == "user":
                question = (content, inp)
            elif question is not None:
                user, user_input = question
                out.append((f"{SAMPLE_SEPARATOR if out else ''}{system}{INSTRUCTION_HEAD}{user}"
                            f"{_INPUT}{user_input or NO_INPUT}{_RESPONSE}", False))
                out.append((f"{content}\n", True))
                system, question = "", None
        if out and self.eos_text:
            out.append((self.eos_text, True))
        return out


def _plain_exchange_pattern() -> re.Pattern[str]:
    """One exchange of a prepared plain text: groups prompt (everything before the answer,
    system included), question, input, answer (core/evaluation/evaluate.py reads held-out prompts so)."""
    s, q, i, r = (re.escape(h) for h in _HEADS)
    any_head = "|".join(re.escape(h) for h in _HEADS)
    stop = "|".join(re.escape(m) for m in PLAIN.stop_markers)
    return re.compile(
        rf"(?P<prompt>(?:{s}(?:(?!\n\n(?:{any_head})).)*\n\n)?{q}(?P<question>.*?)"
        rf"\n\n{i}(?P<input>.*?)\n\n{r})(?P<answer>.*?)\n(?=\n(?:{stop})\n|\n*\Z)", re.S)


# --- chatml --------------------------------------------------------------------------------
IM_START, IM_END = "<|im_start|>", "<|im_end|>"

# Jinja (minja in llama.cpp): one block per message, a generation prompt when asked.
CHATML_JINJA = (
    "{%- for message in messages -%}"
    "{{- '" + IM_START + "' + message['role'] + '\\n' + message['content'] + '"
    + IM_END + "\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '" + IM_START + "assistant\\n' -}}{%- endif -%}"
)
# Go text/template, as Ollama runs it: every message (the SYSTEM first, when there is one),
# then the assistant's turn opens.
CHATML_GO = ("{{- range .Messages }}" + IM_START + "{{ .Role }}\n{{ .Content }}" + IM_END
             + "\n{{ end }}" + IM_START + "assistant\n")


@dataclass(frozen=True)
class _ChatML(ChatFormat):
    def render_turns(self, turns: Turns) -> str:
        # llama-finetune-lora drops what follows the last IM_END (its trailing newline).
        return self._blocks(messages_of(turns)).removesuffix("\n")

    def prompt(self, messages: Iterable[Message]) -> str:
        return self._blocks(messages) + f"{IM_START}assistant\n"

    def segments(self, turns: Turns) -> list[Segment]:
        out: list[Segment] = []
        for role, content in messages_of(turns):
            head = f"{IM_START}{role}\n"
            if role == "assistant":
                out += [(head, False), (content + IM_END, True), ("\n", False)]
            else:
                out.append((f"{head}{content}{IM_END}\n", False))
        return out[:-1] if out and out[-1] == ("\n", False) else out

    @staticmethod
    def _blocks(messages: Iterable[Message]) -> str:
        return "".join(f"{IM_START}{role}\n{content}{IM_END}\n" for role, content in messages)


PLAIN: ChatFormat = _Plain(
    "plain", "Forge's plain-text format (### Instruction / ### Response)", PLAIN_GO,
    stop_markers=(INSTRUCTION_HEAD.rstrip("\n"), SYSTEM_HEAD.rstrip("\n")),
    markers=tuple(h.rstrip("\n") for h in _HEADS))
CHATML: ChatFormat = _ChatML(
    "chatml", "the base's own chat format (ChatML)", CHATML_GO,
    stop_markers=(IM_START, IM_END), markers=(IM_START, IM_END), jinja_template=CHATML_JINJA)
FORMATS: dict[str, ChatFormat] = {f.key: f for f in (PLAIN, CHATML)}
PLAIN_EXCHANGE = _plain_exchange_pattern()


def messages_of(turns: Iterable[Turn]) -> list[Message]:
    """Forge's normalised turns -> (role, content) messages; an Alpaca input joins its
    instruction after a blank line (the chat formats have no input field)."""
    return [(role, f"{content}\n\n{inp}" if inp else content) for role, content, inp in turns]


def jsonl_line(turns: Iterable[Turn]) -> str:
    """One {"messages": [...]} line (prepare-training-data --format chat-jsonl)."""
    return json.dumps({"messages": [{"role": r, "content": c} for r, c in messages_of(turns)]},
                      ensure_ascii=False)
