"""One parsed record (a dict) -> the turns of a conversation, or a reason it is rejected.

This is the hot path of validation: it works on plain tuples, not pydantic objects.
A turn is (role, content, input); `input` is only set for Alpaca's user turn.

Rules (docs/data.md):
- Alpaca: `instruction` + `output` (+ `input`, `system`). ShareGPT: `conversations` of
  {from, value}. Chat: `messages` of {role, content}; content may be OpenAI text parts.
- Consecutive turns of one role are merged (joined by a blank line), with a warning.
- There must be a user turn and an assistant turn; every answer needs a question before it.
- A trailing user turn is kept in the data but has no answer to train on (warning).
"""

from __future__ import annotations

import re
from typing import Any

from forge_gui.core.formats.chat_format import PLAIN, Turn, Turns

ALPACA_KEYS = frozenset({"instruction", "input", "output", "system"})
CHAT_KEYS = frozenset({"messages"})
SHAREGPT_KEYS = frozenset({"conversations", "system"})
COMMON_KEYS = frozenset({"id"})  # metadata many datasets carry; never trained on
MESSAGE_KEYS = frozenset({"role", "content", "name", "weight"})
SHAREGPT_TURN_KEYS = frozenset({"from", "value", "weight"})
SHAREGPT_ROLES = {
    "human": "user", "user": "user",
    "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "model": "assistant",
    "bard": "assistant", "bing": "assistant",
    "system": "system",
}
CHAT_ROLES = {"system": "system", "user": "user", "assistant": "assistant"}

FORMAT_HELP = ("Alpaca (instruction + output), chat (messages) or ShareGPT (conversations)")


class Reject(Exception):
    """The record cannot be used: an error code and one sentence for a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class UnknownFormat(Exception):
    """The record's keys fit none of the formats; reported once per key set."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        super().__init__(keys)
        self.keys = keys


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def normalise(obj: Any) -> tuple[str, Turns, frozenset[str], list[tuple[str, str]] | None]:
    """-> (format, turns, unknown keys, warnings as (code, message) or None). Raises Reject."""
    if type(obj) is not dict:
        raise Reject("not_object", f"is a JSON {json_kind(obj)}, not an object with fields.")
    turns: list[Turn]
    if "messages" in obj:
        fmt, turns, extra = "chat", _chat(obj["messages"]), obj.keys() - CHAT_KEYS - COMMON_KEYS
    elif "conversations" in obj:
        fmt, extra = "sharegpt", obj.keys() - SHAREGPT_KEYS - COMMON_KEYS
        turns = _sharegpt(obj["conversations"], obj.get("system"))
    elif ("instruction" in obj and "output" in obj) or (
            ("instruction" in obj or "output" in obj) and obj.keys() <= ALPACA_KEYS | COMMON_KEYS):
        fmt, turns, extra = "alpaca", _alpaca(obj), obj.keys() - ALPACA_KEYS - COMMON_KEYS
    else:
        raise UnknownFormat(tuple(sorted(obj)))
    finished, warnings = _finish(turns)
    warnings = check_text(finished, warnings)
    return fmt, finished, frozenset(extra), warnings


# Control characters other than tab and line breaks are refused; the format's own markers in
# a text are warned about (docs/data.md, "Text the format cannot carry"). The markers are the
# plain format's (core/formats/chat_format.py), which every base can be trained in.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MARKERS = PLAIN.markers
_MARKER = re.compile("|".join(re.escape(m) for m in MARKERS))
_STOPS = " and ".join(f"'{m}'" for m in PLAIN.stop_markers)
_CONTROL_NAMES = {0x00: "NUL", 0x08: "backspace", 0x0c: "form feed", 0x1b: "escape",
                  0x7f: "delete"}
# The raw JSON line may hold one of the above (an escaped control character, a raw DEL, a
# marker): the fast path leaves such lines to `normalise`, which decides precisely.
SUSPECT_BYTES = re.compile(rb"\\u00[01][0-9a-fA-F]|\\u007[fF]|\\[bf]|\x7f|"
                           + b"|".join(re.escape(m.encode()) for m in MARKERS))


def _what(turns: Turns, n: int, part: str | None = None) -> str:
    role = turns[n][0]
    kind = {"system": "the system message", "user": "the question",
            "assistant": "the answer"}[role]
    if part == "input":
        kind = "the input"
    return kind if len(turns) <= 2 else f"{kind} (turn {n + 1})"


def check_text(turns: Turns, warnings: list[tuple[str, str]] | None
               ) -> list[tuple[str, str]] | None:
    """Reject control characters, warn about the format's markers inside a text."""
    for n, (_role, content, inp) in enumerate(turns):
        for part, text in (("content", content), ("input", inp)):
            if not text:
                continue
            bad = CONTROL.search(text)
            if bad:
                code = ord(bad.group())
                name = _CONTROL_NAMES.get(code)
                char = f"U+{code:04X}" + (f" ({name})" if name else "")
                raise Reject("control_character",
                             f"has the control character {char} in {_what(turns, n, part)}; "
                             f"it is not text and would end up in the training text. Remove "
                             f"it from the record.")
            marker = _MARKER.search(text)
            if marker:
                warnings = warnings or []
                warnings.append(("format_marker",
                                 f"has '{marker.group()}' in {_what(turns, n, part)}: the "
                                 f"training text marks turns with it, so the model learns a "
                                 f"false turn boundary there (and Ollama stops answering at "
                                 f"{_STOPS}). Reword it, e.g. without the "
                                 f"'{marker.group().split()[0]}'."))
    return warnings


def _text(value: Any, what: str, required: bool = True) -> str:
    if type(value) is str:
        if required and not value.strip():
            raise Reject("empty_field", f"{what} is empty.")
        return value
    raise Reject("wrong_type", f"{what} must be text (a string), not a JSON {json_kind(value)}.")


def _alpaca(obj: dict) -> list[Turn]:
    for key in ("instruction", "output"):
        if key not in obj:
            raise Reject("missing_field", f"has no '{key}' field (Alpaca records need "
                                          f"'instruction' and 'output').")
    instruction = _text(obj["instruction"], "field 'instruction'")
    output = _text(obj["output"], "field 'output'")
    raw_input = obj.get("input")
    inp = None if raw_input is None else _text(raw_input, "field 'input'", required=False)
    turns: list[tuple[str, str, str | None]] = []
    if obj.get("system") is not None:
        turns.append(("system", _text(obj["system"], "field 'system'"), None))
    turns.append(("user", instruction, inp if inp and inp.strip() else None))
    turns.append(("assistant", output, None))
    return turns


def _content(content: Any, what: str) -> str:
    if type(content) is str:
        return _text(content, what)
    if type(content) is list:  # OpenAI-style parts: [{"type": "text", "text": "..."}]
        texts = []
        for n, part in enumerate(content, 1):
            if type(part) is str:
                texts.append(part)
            elif type(part) is dict and part.get("type", "text") == "text" and "text" in part:
                texts.append(_text(part["text"], f"{what}, part {n},", required=False))
            elif type(part) is dict:
                raise Reject("wrong_type", f"{what} has a '{part.get('type')}' part; only text "
                                           f"parts can be trained on.")
            else:
                raise Reject("wrong_type", f"{what}, part {n}, must be an object "
                                           f"{{\"type\": \"text\", \"text\": ...}}.")
        return _text("\n".join(texts), what)
    if content is None:
        raise Reject("wrong_type", f"{what} has no text (content is null).")
    raise Reject("wrong_type", f"{what} must be text or a list of text parts, "
                               f"not a JSON {json_kind(content)}.")


def _chat(messages: Any) -> list[Turn]:
    if type(messages) is not list:
        raise Reject("wrong_type", f"field 'messages' must be a list, not a JSON {json_kind(messages)}.")
    if not messages:
        raise Reject("empty_field", "field 'messages' is an empty list.")
    turns: list[Turn] = []
    for n, msg in enumerate(messages, 1):
        if type(msg) is not dict:
            raise Reject("wrong_type", f"message {n} must be an object with 'role' and "
                                       f"'content', not a JSON {json_kind(msg)}.")
        if "role" not in msg:
            raise Reject("missing_field", f"message {n} has no 'role'.")
        role = CHAT_ROLES.get(msg["role"]) if type(msg["role"]) is str else None
        if role is None:
            raise Reject("unknown_role", f"message {n} has role {msg['role']!r}; "
                                         f"expected system, user or assistant.")
        if "content" not in msg:
            raise Reject("missing_field", f"message {n} ({role}) has no 'content'.")
        turns.append((role, _content(msg["content"], f"message {n} ({role})"), None))
    return turns


def _sharegpt(conversations: Any, system: Any) -> list[Turn]:
    if type(conversations) is not list:
        raise Reject("wrong_type", f"field 'conversations' must be a list, not a JSON "
                                   f"{json_kind(conversations)}.")
    if not conversations:
        raise Reject("empty_field", "field 'conversations' is an empty list.")
    turns: list[Turn] = []
    if system is not None:
        turns.append(("system", _text(system, "field 'system'"), None))
    for n, msg in enumerate(conversations, 1):
        if type(msg) is not dict:
            raise Reject("wrong_type", f"turn {n} must be an object with 'from' and 'value', "
                                       f"not a JSON {json_kind(msg)}.")
        if "from" not in msg:
            raise Reject("missing_field", f"turn {n} has no 'from'.")
        role = SHAREGPT_ROLES.get(msg["from"]) if type(msg["from"]) is str else None
        if role is None:
            raise Reject("unknown_role", f"turn {n} is from {msg['from']!r}; expected "
                                         f"human, gpt or system.")
        if "value" not in msg:
            raise Reject("missing_field", f"turn {n} ({msg['from']}) has no 'value'.")
        turns.append((role, _text(msg["value"], f"turn {n} ({msg['from']})"), None))
    return turns


def _finish(turns: list) -> tuple[Turns, list[tuple[str, str]] | None]:
    """Merge runs of one role, check the order of questions and answers."""
    warnings: list[tuple[str, str]] | None = None
    merged: list = []
    for turn in turns:
        if merged and merged[-1][0] == turn[0]:
            role, content, inp = merged[-1]
            merged[-1] = (role, f"{content}\n\n{turn[1]}", inp or turn[2])
            if warnings is None:
                warnings = []
            if not any(code == "merged_turns" for code, _ in warnings):
                warnings.append(("merged_turns", f"has consecutive {role} turns; they are "
                                                 f"joined into one, separated by a blank line."))
        else:
            merged.append(turn)
    roles = [t[0] for t in merged]
    if "user" not in roles:
        raise Reject("no_user_turn", "has no user turn (no question to learn from).")
    if "assistant" not in roles:
        raise Reject("no_assistant_turn", "has no assistant turn (no answer to learn from).")
    question = False
    for n, role in enumerate(roles, 1):
        if role == "user":
            question = True
        elif role == "assistant":
            if not question:
                raise Reject("turn_order", f"turn {n} is an answer with no user turn before it.")
            question = False
        elif question:
            raise Reject("turn_order", f"turn {n} is a system message between a question and "
                                       f"its answer.")
    if roles[-1] == "system":
        raise Reject("turn_order", "ends with a system message that has no exchange after it.")
    if roles[-1] == "user":
        warnings = warnings or []
        warnings.append(("ends_with_user_turn", "ends with a user turn that has no answer; "
                                                "that last turn is not used for training."))
    return tuple(merged), warnings


# --- the fast path ----------------------------------------------------------------------
# Most records are well formed. This does the whole job for them in one pass over the turns
# (turns, rendered length, characters per role) and returns None for anything unusual, which
# `normalise` then decides precisely. A test checks both paths agree.

# The frame lengths are measured on the plain renderer (core/formats/chat_format.py): one place.
_SYSTEM_FRAME, _EXCHANGE_FRAME, _NO_INPUT, _SEPARATOR = PLAIN.lengths

# (format, turns, rendered length, (system, user, input, assistant) characters, exchanges)
FastResult = tuple[str, Turns, int, tuple[int, int, int, int], int]


def fast_normalise(obj: Any) -> FastResult | None:
    if type(obj) is not dict:
        return None
    instruction = obj.get("instruction")
    try:
        if instruction is not None:
            return _fast_alpaca(obj, instruction)
        items = obj.get("messages")
        if items is not None:
            if len(obj) != 1 + ("id" in obj):  # only messages (and id)
                return None
            return _fast_turns("chat", items, "role", "content", CHAT_ROLES)
        items = obj.get("conversations")
        if items is not None:
            if len(obj) != 1 + ("id" in obj):  # only conversations (and id)
                return None
            return _fast_turns("sharegpt", items, "from", "value", SHAREGPT_ROLES)
    except (KeyError, TypeError):
        return None
    return None


_ALPACA_FRAME = _EXCHANGE_FRAME + _NO_INPUT


def _fast_alpaca(obj: dict, instruction: Any) -> FastResult | None:
    output = obj["output"]
    inp = obj.get("input")
    # Counting keys instead of comparing key sets: instruction, output, maybe input and id.
    if len(obj) != 2 + (inp is not None or "input" in obj) + ("id" in obj):
        return None
    if (type(instruction) is not str or type(output) is not str or not instruction
            or not output or instruction.isspace() or output.isspace()):
        return None
    n_user, n_output = len(instruction), len(output)
    if inp is not None:
        if type(inp) is not str:
            return None
        if inp and not inp.isspace():
            n_input = len(inp)
            return ("alpaca", (("user", instruction, inp), ("assistant", output, None)),
                    _EXCHANGE_FRAME + n_user + n_input + n_output,
                    (0, n_user, n_input, n_output), 1)
    return ("alpaca", (("user", instruction, None), ("assistant", output, None)),
            _ALPACA_FRAME + n_user + n_output, (0, n_user, 0, n_output), 1)


def _fast_turns(fmt: str, items: Any, role_key: str, text_key: str,
                roles: dict[str, str]) -> FastResult | None:
    if type(items) is not list:
        return None
    turns: list[Turn] = []
    append = turns.append
    prev = None
    length = pending = question = exchanges = 0
    n_system = n_user = n_assistant = 0
    for item in items:
        role = roles[item[role_key]]
        content = item[text_key]
        if type(content) is not str or not content or content.isspace():
            return None
        if role == "assistant":
            if prev != "user":
                return None
            n = len(content)
            length += pending + question + n
            n_assistant += n
            exchanges += 1
            pending = 0
        elif role == "user":
            if prev == "user":
                return None
            n = len(content)
            question = _EXCHANGE_FRAME + n + _NO_INPUT
            n_user += n
        else:
            if prev == "system" or prev == "user":
                return None
            n = len(content)
            pending += _SYSTEM_FRAME + n
            n_system += n
        prev = role
        append((role, content, None))
    if prev != "assistant":
        return None
    length += (exchanges - 1) * _SEPARATOR  # between exchanges
    return fmt, tuple(turns), length, (n_system, n_user, 0, n_assistant), exchanges
