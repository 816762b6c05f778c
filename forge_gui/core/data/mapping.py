"""Field maps (`--map new=old,...`) and the suggestion offered for records of unknown shape.

`old` is a top-level key or a dotted path into nested objects and lists, e.g.
`output=instances.0.output`. Mapped top-level keys are removed so they do not show up as
unknown keys. Dolly: `--map output=response,input=context`.
"""

from __future__ import annotations

from typing import Any

_MISSING = object()

# Names that usually hold the question, the extra input and the answer.
QUESTION_KEYS = ("instruction", "prompt", "question", "query", "human", "user", "text_input")
INPUT_KEYS = ("input", "context")
ANSWER_KEYS = ("output", "response", "answer", "completion", "gpt", "assistant", "target")
EXPECTED = ("Alpaca: instruction, output (input, system optional); chat: messages "
            "[{role, content}]; ShareGPT: conversations [{from, value}]")


def parse_map(text: str) -> dict[str, str]:
    """'output=response,input=context' -> {"output": "response", "input": "context"}."""
    result: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        new, sep, old = item.partition("=")
        if not sep or not new.strip() or not old.strip():
            raise ValueError(f"'{item}' is not of the form new=old (e.g. output=response)")
        result[new.strip()] = old.strip()
    return result


def format_map(field_map: dict[str, str]) -> str:
    return ",".join(f"{new}={old}" for new, old in field_map.items())


def _get(obj: Any, path: str) -> tuple[Any, str | None]:
    """Value at a dotted path, and a note when a list had more items than the one read."""
    note = None
    value = obj
    for part in path.split("."):
        if type(value) is dict:
            value = value.get(part, _MISSING)
        elif type(value) is list and part.isdigit():
            index = int(part)
            if len(value) > index + 1 and note is None:
                note = (f"'{path}' reads item {index} of a list of {len(value)}; "
                        f"the other items are not used.")
            value = value[index] if index < len(value) else _MISSING
        else:
            value = _MISSING
        if value is _MISSING:
            break
    return value, note


def apply_map(obj: Any, field_map: dict[str, str]) -> tuple[Any, list[tuple[str, str]] | None]:
    """A copy of `obj` with mapped fields; a warning per list read only in part."""
    if type(obj) is not dict:
        return obj, None
    values = {new: _get(obj, old) for new, old in field_map.items()}
    result = {k: v for k, v in obj.items() if k not in {old.split(".")[0] for old in field_map.values()}}
    warnings = None
    for new, (value, note) in values.items():
        if value is not _MISSING:
            result[new] = value
        if note and warnings is None:  # one note a record is enough
            warnings = [("partial_map", note)]
    return result, warnings


def suggest_map(obj: dict) -> dict[str, str] | None:
    """The obvious mapping for a record of unknown shape, or None."""
    keys = list(obj)

    def first(names: tuple[str, ...], where: dict) -> str | None:
        lowered = {k.lower(): k for k in where}
        return next((lowered[n] for n in names if n in lowered), None)

    question = first(QUESTION_KEYS, obj)
    answer = first(ANSWER_KEYS, obj)
    inp = first(INPUT_KEYS, obj)
    mapping: dict[str, str] = {}
    if answer is None:
        # Nested examples, e.g. Self-Instruct seed tasks: instances[{input, output}].
        for key in keys:
            items = obj[key]
            if type(items) is list and items and type(items[0]) is dict:
                nested_answer = first(ANSWER_KEYS, items[0])
                if nested_answer:
                    answer = f"{key}.0.{nested_answer}"
                    nested_input = first(INPUT_KEYS, items[0])
                    if nested_input and inp is None:
                        inp = f"{key}.0.{nested_input}"
                    break
    if question is None or answer is None:
        return None
    if question != "instruction":
        mapping["instruction"] = question
    if inp is not None and inp != "input":
        mapping["input"] = inp
    if answer != "output":
        mapping["output"] = answer
    return mapping or None
