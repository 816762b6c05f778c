"""PARAMETERs: the text a user or a Modelfile gives, and the typed values Ollama's API wants.

Types follow Ollama's api.Options; a name Ollama does not know is refused before any work
starts (Ollama would refuse it at create time, after the upload).
"""

from __future__ import annotations

TYPES: dict[str, type] = {
    "num_keep": int, "seed": int, "num_predict": int, "top_k": int, "top_p": float,
    "min_p": float, "repeat_last_n": int, "temperature": float, "repeat_penalty": float,
    "presence_penalty": float, "frequency_penalty": float, "stop": list, "num_ctx": int,
    "num_batch": int, "num_gpu": int, "main_gpu": int, "use_mmap": bool, "num_thread": int,
}
# Not inherited from the base: its stop markers belong to its own chat format, not ours.
NOT_INHERITED = {"stop"}


class ParameterError(ValueError):
    pass


def convert(name: str, text: str):
    """One PARAMETER value as Ollama's API types it (stop: a single string; callers collect)."""
    kind = TYPES.get(name)
    if kind is None:
        known = ", ".join(sorted(TYPES))
        raise ParameterError(f"'{name}' is not an Ollama parameter. Known: {known}.")
    try:
        if kind is int:
            return int(text.strip())
        if kind is float:
            return float(text.strip())
        if kind is bool:
            low = text.strip().lower()
            if low not in ("true", "false"):
                raise ValueError(text)
            return low == "true"
    except ValueError:
        raise ParameterError(f"PARAMETER {name} needs a {kind.__name__}, not {text!r}.") from None
    return text


def to_request(pairs: list[tuple[str, str]]) -> dict:
    """(name, text) pairs, as in a Modelfile, -> the `parameters` object of /api/create."""
    out: dict = {}
    for name, text in pairs:
        value = convert(name, text)
        if TYPES[name] is list:
            out.setdefault(name, []).append(value)
        else:
            out[name] = value
    return out


def parse_assignments(items: list[str]) -> dict[str, str]:
    """CLI `--param K=V` items -> {K: V}; raises ParameterError for a malformed item."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ParameterError(f"--param wants NAME=VALUE, e.g. temperature=0.7 (got {item!r}).")
        convert(name.strip(), value)
        out[name.strip()] = value
    return out
