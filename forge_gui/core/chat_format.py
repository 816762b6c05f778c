"""The text a model is trained on, and the Ollama TEMPLATE that renders the same text.

Two formats (docs/training.md, "Which format is trained"):

- plain: Forge's own "### Instruction: / ### Response:" text (core/data/render.py,
  core/ollama/template.py). Works for every base and both trainers; special tokens play no part.
- chatml: the base's own chat format when its GGUF chat template is ChatML (Qwen, many
  instruct models): `<|im_start|>role\\ncontent<|im_end|>\\n` per message. llama-finetune-lora
  renders each conversation with a chat template, parses special tokens and puts the loss on
  the assistant's tokens only. Forge gives it the Jinja template below, so the training text is
  exactly `render()`, and the Ollama model gets TEMPLATE = `go_template`, which renders the same
  text up to where the answer starts (tests/test_chat_format.py proves it with Go's
  text/template).

Other chat templates (Llama 3's, Gemma's …) fall back to plain, and the run says so: the LoRA
tool finds assistant turns only by ChatML's and Gemma's markers, and Forge renders ChatML only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from forge_gui.core.ollama.template import TEMPLATE as PLAIN_TEMPLATE
from forge_gui.core.ollama.template import stop_parameters as plain_stops

FormatKey = Literal["plain", "chatml"]
Message = tuple[str, str]  # (role, content)

IM_START, IM_END = "<|im_start|>", "<|im_end|>"

# Jinja (minja in llama.cpp): one block per message, a generation prompt when asked.
CHATML_JINJA = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
# Go text/template, as Ollama runs it: every message (the SYSTEM first, when there is one),
# then the assistant's turn opens.
CHATML_GO = ("{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n"
             "{{ end }}<|im_start|>assistant\n")


@dataclass(frozen=True)
class ChatFormat:
    key: FormatKey
    label: str

    @property
    def chat(self) -> bool:
        """Trained from conversations (JSONL + chat template), loss on the answers only."""
        return self.key != "plain"

    @property
    def go_template(self) -> str:
        return CHATML_GO if self.key == "chatml" else PLAIN_TEMPLATE

    @property
    def jinja_template(self) -> str | None:
        return CHATML_JINJA if self.key == "chatml" else None

    def stop_parameters(self) -> list[tuple[str, str]]:
        if self.key == "chatml":
            return [("stop", IM_START), ("stop", IM_END)]
        return plain_stops()

    @property
    def stop_marker(self) -> str:
        """What ends an answer in the training text (llama-completion's reverse prompt)."""
        return IM_END if self.key == "chatml" else "### Instruction:"

    def render(self, messages: Iterable[Message]) -> str:
        """The training text of one conversation, as the trainer tokenizes it."""
        if self.key == "chatml":
            # llama-finetune-lora drops what follows the last <|im_end|> (its trailing newline).
            return "".join(f"{IM_START}{role}\n{content}{IM_END}\n"
                           for role, content in messages).removesuffix("\n")
        from forge_gui.core.data.render import render_turns

        return render_turns(tuple((role, content, None) for role, content in messages))

    def prompt(self, messages: Iterable[Message]) -> str:
        """The text up to where the model's answer starts (what Ollama's TEMPLATE renders)."""
        if self.key == "chatml":
            return "".join(f"{IM_START}{role}\n{content}{IM_END}\n"
                           for role, content in messages) + f"{IM_START}assistant\n"
        return self.render([*messages, ("assistant", "")]).removesuffix("\n")


PLAIN = ChatFormat("plain", "Forge's plain-text format (### Instruction / ### Response)")
CHATML = ChatFormat("chatml", "the base's own chat format (ChatML)")
FORMATS = {f.key: f for f in (PLAIN, CHATML)}


def detect(chat_template: str | None) -> tuple[ChatFormat, str]:
    """The format to train a base with this GGUF chat template in, and why (one sentence)."""
    if not chat_template:
        return PLAIN, "The base has no chat template: training in Forge's plain-text format."
    if IM_START in chat_template and IM_END in chat_template:
        return CHATML, ("The base's chat format is ChatML: training in it, with the loss on the "
                        "answers only; the model keeps answering in its own format.")
    family = ("Llama 3's" if "<|start_header_id|>" in chat_template else
              "Gemma's" if "<start_of_turn>" in chat_template else "the base's")
    return PLAIN, (f"Forge cannot train in {family} chat format yet (only ChatML), so it trains "
                   "in its own plain-text format and gives the model the matching template: "
                   "the model will answer in that format.")


def messages_of(turns) -> list[Message]:
    """Forge's normalised turns -> (role, content) messages; an Alpaca input joins its
    instruction after a blank line (the chat formats have no input field)."""
    return [(role, f"{content}\n\n{inp}" if inp else content) for role, content, inp in turns]


def jsonl_line(turns) -> str:
    """One line of the JSONL file llama-finetune-lora reads with --assistant-loss-only."""
    return json.dumps({"messages": [{"role": r, "content": c} for r, c in messages_of(turns)]},
                      ensure_ascii=False)
