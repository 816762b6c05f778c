"""The layers a LoRA adapter can adapt (llama-finetune-lora's --lora-modules), checked before any
work starts: a run's rules (core/runs/rules.py), the trainer's memory estimate
(core/llamacpp/lora.py) and the Axolotl export read the same table."""

from __future__ import annotations

# --lora-modules name -> the tensor names it adapts (blk.N.<name>.weight).
MODULE_TENSORS = {"attn_q": "attn_q", "attn_k": "attn_k", "attn_v": "attn_v",
                  "attn_o": "attn_output", "ffn_gate": "ffn_gate", "ffn_up": "ffn_up",
                  "ffn_down": "ffn_down", "output": "output"}


def parse_modules(text: str) -> list[str]:
    """Validate a --lora-modules list; raises ValueError with the names that are unknown."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError("name at least one layer to adapt")
    unknown = [n for n in names if n not in MODULE_TENSORS and n != "all"]
    if unknown:
        raise ValueError(f"unknown layer(s) {', '.join(unknown)}; choose from "
                         f"{', '.join([*MODULE_TENSORS, 'all'])}")
    return names
