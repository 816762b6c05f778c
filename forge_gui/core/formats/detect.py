"""Which format a base trains in, read from its GGUF chat template, and why (one sentence).

Apart from chat_format because it asks template_format, which builds on chat_format's
values. PLAIN is imported by callers from here too: it is what detect falls back to."""

from __future__ import annotations

import logging

from forge_gui.core.formats.chat_format import PLAIN, ChatFormat
from forge_gui.core.formats.template_format import FormatUnsupported, template_format

log = logging.getLogger(__name__)

__all__ = ["PLAIN", "detect"]


def detect(chat_template: str | None, bos: str | None = None,
           eos: str | None = None, add_bos: bool | None = True) -> tuple[ChatFormat, str]:
    """The format to train a base with this GGUF chat template in, and why (one sentence).
    `bos`/`eos`: the texts of the base's BOS and EOS tokens (GGUFInfo.bos_token/eos_token);
    `add_bos`: whether its tokenizer adds BOS itself (GGUFInfo.add_bos_token; unknown: yes)."""
    if not chat_template:
        return PLAIN.with_eos(eos), ("The base has no chat template (a base model): Forge trains "
                                     "its own plain-text format (### Instruction / ### Response).")
    try:
        fmt = template_format(chat_template, bos, eos, add_bos is not False)
    except FormatUnsupported as exc:
        log.warning("chat template not usable for training: %s", exc)
        return PLAIN.with_eos(eos), (
            f"Forge cannot train in the base's chat format ({exc}), so it trains its own "
            "plain-text format and gives the model the matching template: the model will "
            "answer in that format.")
    note = (" Its template cannot show a system message before an answer, so a system prompt is "
            "put before the first user message, in training and in Ollama's TEMPLATE alike."
            if fmt.engine is not None and fmt.engine.folds_system else "")
    return fmt, (f"Training in the base's own chat format (its chat template; answers end with "
                 f"{fmt.end_of_turn}), with the loss on the answers only: the model keeps "
                 f"answering in its own format.{note}")
