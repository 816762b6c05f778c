"""Ollama's model-name rules (docs/ollama.md), checked before any work starts.

A name is [host/][namespace/]model[:tag]. Every part is made of letters, digits, '_', '-' and
'.' ('.' not in the namespace; a host may also carry a ':port'); the first character is a
letter, a digit or '_'. Ollama fills in the defaults registry.ollama.ai / library / latest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"

_PART = {
    "host": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*"), 350),
    "namespace": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*"), 80),
    "model": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*"), 80),
    "tag": (re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*"), 80),
}

_RULE = {
    "host": "letters, digits, '_', '-', '.' and ':'",
    "namespace": "letters, digits, '_' and '-' (no '.')",
    "model": "letters, digits, '_', '-' and '.'",
    "tag": "letters, digits, '_', '-' and '.'",
}


@dataclass(frozen=True)
class ModelName:
    host: str
    namespace: str
    model: str
    tag: str

    @property
    def short(self) -> str:
        """How `ollama list` shows it: defaults left out, except the tag."""
        prefix = ""
        if self.host.lower() != DEFAULT_HOST:  # Ollama compares names case-insensitively
            prefix = f"{self.host}/{self.namespace}/"
        elif self.namespace.lower() != DEFAULT_NAMESPACE:
            prefix = f"{self.namespace}/"
        return f"{prefix}{self.model}:{self.tag}"


def split_model_name(name: str) -> tuple[str | None, str | None, str, str | None]:
    """Split without checking: (host, namespace, model, tag); missing parts are None."""
    rest, tag = name, None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
    parts = rest.split("/")
    if len(parts) >= 3:
        return "/".join(parts[:-2]), parts[-2], parts[-1], tag
    if len(parts) == 2:
        return None, parts[0], parts[1], tag
    return None, None, parts[0], tag


def validate_model_name(name: str) -> str | None:
    """None when `name` is a valid Ollama model name, else a sentence saying what is wrong."""
    if not name or not name.strip():
        return "Enter a model name, e.g. 'my-assistant' or 'me/my-assistant:v1'."
    if name != name.strip():
        return "A model name cannot start or end with a space."
    host, namespace, model, tag = split_model_name(name)
    if host is not None and host.count("/"):
        return "A model name has at most three parts: host/namespace/model (plus :tag)."
    for kind, value in (("host", host), ("namespace", namespace), ("model", model), ("tag", tag)):
        if value is None:
            continue
        pattern, limit = _PART[kind]
        if value == "":
            return f"The {kind} part of '{name}' is empty."
        if len(value) > limit:
            return f"The {kind} part is {len(value)} characters long; at most {limit} are allowed."
        if not pattern.fullmatch(value):
            first = value[0]
            if not (first.isascii() and (first.isalnum() or first == "_")):
                return (f"The {kind} '{value}' must start with a letter, a digit or '_' "
                        f"(not '{first}').")
            bad = next(c for c in value if not re.fullmatch(r"[A-Za-z0-9_.:-]", c)
                       or (c == "." and kind == "namespace") or (c == ":" and kind != "host"))
            return f"The {kind} '{value}' contains '{bad}'; use only {_RULE[kind]}."
    return None


def parse_model_name(name: str) -> ModelName:
    """The full name with Ollama's defaults; raises ValueError for an invalid name."""
    problem = validate_model_name(name)
    if problem:
        raise ValueError(problem)
    host, namespace, model, tag = split_model_name(name)
    return ModelName(host or DEFAULT_HOST, namespace or DEFAULT_NAMESPACE, model, tag or DEFAULT_TAG)


def model_key(name: str) -> str:
    """The name as Ollama compares it: defaults filled in, case folded (Ollama treats
    'LLAMA3.2:1B' and 'llama3.2:1b' as one model since ollama#7676; docs/ollama.md)."""
    try:
        full = parse_model_name(name)
    except ValueError:
        return name.casefold()
    return f"{full.host}/{full.namespace}/{full.model}:{full.tag}".casefold()


def find_same_model(name: str, existing) -> str | None:
    """The name in `existing` that Ollama would take for `name` (and replace), if any."""
    key = model_key(name)
    return next((other for other in existing if other and model_key(other) == key), None)
