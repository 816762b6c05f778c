"""The Ollama double's checks of a create request (POST /api/create), as strict as Ollama's
server/create.go and stricter about fields (tests/ollama_double.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

PARAMETER_TYPES = {"stop": list, "num_ctx": int, "num_predict": int, "temperature": float,
                   "top_k": int, "top_p": float, "min_p": float, "repeat_penalty": float,
                   "repeat_last_n": int, "seed": int, "num_gpu": int, "num_thread": int}
GGUF_MAGIC = b"GGUF"


def check_create(double: Any, data: dict, key: Callable[[Any, str], str],
                 invalid: Callable[[str], bool]) -> str | None:
    """Ollama's answer to a create request it refuses (None: accepted); `key` finds where the
    double keeps a name, `invalid` applies Ollama's name rules."""
    files, adapters = data.get("files"), data.get("adapters")
    if not data.get("from") and not files:
        return "neither 'from' or 'files' was specified"
    if data.get("from") and (invalid(data["from"])
                             or key(double, data["from"]) not in double.models):
        return f"model '{data['from']}' not found"
    for kind, mapping in (("files", files), ("adapters", adapters)):
        if mapping is None:
            continue
        if not isinstance(mapping, dict) or not mapping:
            return f"'{kind}' must map file names to digests"
        for fname, digest in mapping.items():
            if "/" in fname or "\\" in fname or fname.startswith(".."):
                return "file path must be relative"
            if not re.fullmatch(r"sha256:[0-9a-f]{64}", str(digest)):
                return "invalid digest format"
            blob = double.blob_path(digest)
            if not blob.is_file():
                return f"open {blob}: no such file or directory"
            peft = kind == "adapters" and fname.endswith((".json", ".safetensors"))
            with open(blob, "rb") as fh:
                if fh.read(4) != GGUF_MAGIC and not peft:
                    return "supplied file was not in GGUF format"
        if kind == "adapters" and any(n.endswith(".safetensors") for n in mapping) and \
                "adapter_config.json" not in mapping:
            return "PEFT adapter without adapter_config.json"
    params = data.get("parameters") or {}
    if not isinstance(params, dict):
        return "parameters must be an object"
    for key, value in params.items():
        want = PARAMETER_TYPES.get(key)
        if want is None:
            return f"unknown parameter '{key}' (test double)"
        if want is list and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return f"parameter '{key}' must be a list of strings"
        if want is int and not (isinstance(value, int) and not isinstance(value, bool)):
            return f"parameter '{key}' must be an integer"
        if want is float and not isinstance(value, (int, float)):
            return f"parameter '{key}' must be a number"
    for key in ("template", "system"):
        if key in data and not isinstance(data[key], str):
            return f"'{key}' must be a string"
    if data.get("template"):
        try:
            double.render(data["template"], [], "")
        except RuntimeError as exc:
            return f"template error: {exc}"
    return None
