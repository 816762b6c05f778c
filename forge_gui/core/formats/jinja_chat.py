"""A GGUF's own chat template (`tokenizer.chat_template`, Jinja) rendered the way Hugging Face's
`apply_chat_template` renders it: jinja2's immutable sandbox with trim_blocks, lstrip_blocks and
loop controls; the variables `messages`, `bos_token`, `eos_token`, `add_generation_prompt`,
`tools` (None) and the functions `raise_exception`, `strftime_now`; `tojson` keeps non-ASCII.

One generic renderer, no per-family code. Two rules of Forge's own:
- The leading BOS text is stripped when the GGUF's tokenizer adds BOS itself
  (tokenizer.ggml.add_bos_token, llama.cpp's and Ollama's rule at inference): the trainer adds
  it then, so the text never holds it twice. Where the tokenizer does not add one (SmolLM2,
  whose BOS is the ChatML turn opener), the template's text is kept whole. A BOS elsewhere stays.
- A template that refuses a system message (Gemma 2 raises "System role not supported") or
  drops it from a conversation that ends with an answer (Mistral Nemo shows it only before the
  last question at chat time) gets the system text put before the first user message,
  separated by a blank line, which is what Gemma 3's template does itself. `folds_system` says
  when; the Ollama TEMPLATE Forge derives folds it the same way.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Callable, Sequence
from functools import cached_property

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

log = logging.getLogger(__name__)

Message = tuple[str, str]  # (role, content)


class TemplateRenderError(ValueError):
    """The chat template cannot render a conversation (its own error, or a Jinja error)."""


def _raise_exception(message: str) -> None:
    raise TemplateRenderError(message)


def _tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def _environment(now: Callable[[], datetime.datetime]) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                       extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: now().strftime(fmt)
    return env


class JinjaChat:
    """One chat template with the BOS/EOS texts of its tokenizer."""

    def __init__(self, source: str, bos: str | None, eos: str | None,
                 now: Callable[[], datetime.datetime] = datetime.datetime.now,
                 add_bos: bool = True) -> None:
        self.source, self.bos, self.eos = source, bos or "", eos or ""
        self.add_bos = add_bos  # the tokenizer adds BOS: strip the template's own
        try:
            self._template = _environment(now).from_string(source)
        except jinja2.TemplateError as exc:
            raise TemplateRenderError(f"the chat template does not parse: {exc}") from exc

    def raw(self, messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
        """The template's own text (BOS stripped), no system folding."""
        try:
            text = self._template.render(
                messages=[{"role": r, "content": c} for r, c in messages], tools=None,
                add_generation_prompt=add_generation_prompt, bos_token=self.bos,
                eos_token=self.eos)
        except TemplateRenderError:
            raise
        except Exception as exc:  # a Jinja error inside the template (undefined, type …)
            raise TemplateRenderError(f"the chat template failed: {exc}") from exc
        if self.add_bos and self.bos and text.startswith(self.bos):
            return text[len(self.bos):]
        return text

    @cached_property
    def folds_system(self) -> bool:
        """The template refuses a system message, or drops it from a conversation that ends
        with an answer (Mistral Nemo shows it only before the last question): Forge then
        folds it into the first user message, so training and chat see the same text."""
        try:
            shown = "\x02system\x02" in self.raw(
                [("system", "\x02system\x02"), ("user", "u"), ("assistant", "a")])
        except TemplateRenderError as exc:
            self.raw([("user", "u"), ("assistant", "a")])  # fails loudly if this fails too
            log.info("chat template refuses a system message (%s): folding it", exc)
            return True
        if not shown:
            log.info("chat template drops a system message before an answer: folding it")
        return not shown

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
        """The conversation's text as the template renders it (see the module's two rules)."""
        return self.raw(self.fold(messages), add_generation_prompt)

    def fold(self, messages: Sequence[Message]) -> list[Message]:
        """Messages as the template takes them: system text joins the next user message."""
        if not self.folds_system:
            return list(messages)
        out: list[Message] = []
        pending: list[str] = []
        for role, content in messages:
            if role == "system":
                pending.append(content)
            elif role == "user" and pending:
                out.append((role, "\n\n".join([*pending, content])))
                pending = []
            else:
                out.append((role, content))
        return out
