"""The rules a run's settings obey, defined once (no pydantic, no Qt: the wizard's spin boxes
read the ranges before the first window). `core/runs/run.RunSettings` checks itself with them,
forge-cli prints their sentence and the wizard's pages show it (docs/architecture.md, "Rules
in core").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from forge_gui.core.base.lora_modules import parse_modules
from forge_gui.core.base.model_names import parse_model_name

CTX_STEP = 256  # llama.cpp pads the context to a multiple of 256 (docs/training.md)
CTX_MAX = 131072
EPOCHS_MAX = 1000
LORA_RANK_RANGE = (1, 512)
LORA_ALPHA_RANGE = (0.1, 1000.0)


class SettingsError(ValueError):
    """A setting core refuses; str() is one sentence saying what to change."""


def _ctx(v: int) -> str | None:
    if CTX_STEP <= v <= CTX_MAX and v % CTX_STEP == 0:
        return None
    return (f"The training context must be a multiple of {CTX_STEP} tokens from {CTX_STEP} to "
            f"{CTX_MAX} (256, 512, 1024, …), not {v}: llama.cpp pads the context to {CTX_STEP}, "
            "and llama-finetune trains right only at that size.")


def _between(what: str, low: float, high: float) -> Callable[[Any], str | None]:
    def rule(v: Any) -> str | None:
        return None if low <= v <= high else f"{what} must be from {low:g} to {high:g}, not {v:g}."
    return rule


def _share(what: str) -> Callable[[Any], str | None]:
    def rule(v: Any) -> str | None:
        return None if 0 <= v < 1 else f"{what} must be at least 0 and below 1, not {v:g}."
    return rule


def _learning_rate(v: float | None) -> str | None:
    if v is None or 0 < v <= 1:
        return None
    return f"The learning rate must be above 0 and at most 1, not {v:g}."


def _at_least_one(what: str) -> Callable[[Any], str | None]:
    def rule(v: Any) -> str | None:
        return None if v >= 1 else f"{what} must be 1 or more, not {v}."
    return rule


def _model_name(v: str | None) -> str | None:
    try:
        parse_model_name(v or "")
    except ValueError as exc:
        return f"'{v or ''}' cannot be an Ollama model name. {exc}"
    return None


def _base_name(v: str | None) -> str | None:
    return None if v is None else _model_name(v)


def _lora_modules(v: str) -> str | None:
    try:
        parse_modules(v)
    except ValueError as exc:
        return f"LoRA layers: {exc}."
    return None


RULES: dict[str, Callable[[Any], str | None]] = {
    "name": _model_name,
    "base": _base_name,
    "epochs": _between("The number of epochs", 1, EPOCHS_MAX),
    "learning_rate": _learning_rate,
    "ctx": _ctx,
    "val_split": _share("The validation split"),
    "val_fraction": _share("The share of records held out"),
    "lora_rank": _between("The LoRA rank", *LORA_RANK_RANGE),
    "lora_alpha": _between("The LoRA alpha", *LORA_ALPHA_RANGE),
    "lora_modules": _lora_modules,
    "checkpoint_every": _at_least_one("The steps between checkpoints"),
}


def setting_problems(values: Mapping[str, Any]) -> list[str]:
    """core's sentence for each of these settings it refuses (only the keys given are checked:
    a wizard page asks about its own fields)."""
    return [problem for key, rule in RULES.items()
            if key in values and (problem := rule(values[key])) is not None]
