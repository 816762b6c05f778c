"""Write Modelfiles that Ollama reads back exactly, and parse them the way Ollama does.

Ollama's parser (parser/parser.go) has no escape sequences: a backslash is a backslash. A value
is bare, "…" or \"\"\"…\"\"\"; it ends at the first newline (or end of file) where the value read
so far, trimmed, is complete (bare, or its quotes closed). Characters that are not printable
are dropped, except spaces, tabs and newlines inside a value that is still open. So some values
cannot be written at all (a \"\"\" followed later by a newline, control characters, …): the writer
tries each quoting, parses the result back with `parse_modelfile`, and refuses with a clear
message when none reproduces the value.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from forge_gui.core.base.atomic import atomic_write_text

COMMANDS = ("from", "license", "template", "system", "adapter", "draft", "renderer", "parser",
            "parameter", "message", "requires")
MESSAGE_ROLES = ("system", "user", "assistant")


class ModelfileError(ValueError):
    """A Modelfile that cannot be parsed, or a value that cannot be written faithfully."""


@dataclass
class Modelfile:
    """The instructions Forge writes. Parameters keep their order; `stop` may repeat."""

    from_: str
    adapter: str | None = None
    template: str | None = None
    system: str | None = None
    parameters: list[tuple[str, str]] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)
    license: str | None = None

    def commands(self) -> list[tuple[str, str]]:
        """(name, value) pairs as Ollama's parser yields them ("model" for FROM)."""
        out = [("model", self.from_)]
        if self.adapter is not None:
            out.append(("adapter", self.adapter))
        if self.template is not None:
            out.append(("template", self.template))
        if self.system is not None:
            out.append(("system", self.system))
        out += list(self.parameters)
        out += [("message", f"{role}: {text}") for role, text in self.messages]
        if self.license is not None:
            out.append(("license", self.license))
        return out


# ---------------------------------------------------------------------------- parsing

def _is_print(ch: str) -> bool:
    """Go's strconv.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space."""
    return ch == " " or unicodedata.category(ch)[0] in "LMNPS"


def _go_trim_space(s: str) -> str:
    # Go's strings.TrimSpace trims unicode.IsSpace characters.
    return s.strip(" \t\n\v\f\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
                   "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def _unquote(s: str) -> tuple[str, bool]:
    if s.startswith('"""'):
        if len(s) >= 6 and s.endswith('"""'):
            return s[3:-3], True
        return "", False
    if s.startswith('"'):
        if len(s) >= 2 and s.endswith('"'):
            return s[1:-1], True
        return "", False
    return s, True


_NIL, _NAME, _VALUE, _PARAMETER, _MESSAGE, _COMMENT = range(6)


def parse_modelfile(text: str) -> list[tuple[str, str]]:
    """Parse like Ollama's parser.ParseFile; returns (name, value) pairs in file order.

    FROM is reported as "model", a PARAMETER by its own name, a MESSAGE as "role: text".
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    commands: list[tuple[str, str]] = []
    buf: list[str] = []
    state, line = _NIL, 1
    name, role = "", ""

    def fail(msg: str) -> ModelfileError:
        return ModelfileError(f"(line {line}): {msg}")

    for ch in text:
        if ch in "\r\n":
            line += 1
        nxt, r = _next_state(ch, state)
        if nxt is None:
            raise fail(r)
        if nxt != state:
            if state == _NAME:
                word = "".join(buf)
                if word.lower() not in COMMANDS:
                    raise fail("command must be one of " + ", ".join(COMMANDS))
                low = word.lower()
                if low == "from":
                    name = "model"
                elif low == "parameter":
                    nxt = _PARAMETER
                elif low == "message":
                    nxt, name = _MESSAGE, low
                else:
                    name = low
            elif state == _PARAMETER:
                name = "".join(buf)
            elif state == _MESSAGE:
                role = "".join(buf)
                if role not in MESSAGE_ROLES:
                    raise fail('message role must be one of "system", "user", or "assistant"')
            elif state == _VALUE:
                value, ok = _unquote(_go_trim_space("".join(buf)))
                if not ok or ch in " \t":
                    buf.append(r)  # still inside the value: keep the space or newline
                    continue
                if role:
                    value, role = f"{role}: {value}", ""
                commands.append((name, value))
            buf = []
            state = nxt
        if r and _is_print(r):
            buf.append(r)

    if state == _VALUE:
        value, ok = _unquote(_go_trim_space("".join(buf)))
        if not ok:
            raise ModelfileError("unexpected end of file inside a quoted value")
        commands.append((name, f"{role}: {value}" if role else value))
    elif state not in (_NIL, _COMMENT):
        raise ModelfileError("unexpected end of file")
    if not any(n == "model" for n, _ in commands):
        raise ModelfileError("no FROM line")
    return commands


def _next_state(ch: str, state: int) -> tuple[int | None, str]:
    """Go's parseRuneForState: (next state, rune to keep) or (None, error message)."""
    space, newline = ch in " \t", ch in "\r\n"
    if state == _NIL:
        if ch == "#":
            return _COMMENT, ""
        if space or newline:
            return _NIL, ""
        return _NAME, ch
    if state == _NAME:
        if ch.isascii() and ch.isalpha():
            return _NAME, ch
        if space:
            return _VALUE, ""
        return None, "command must be one of " + ", ".join(COMMANDS)
    if state == _VALUE:
        return (_NIL, ch) if (newline or space) else (_VALUE, ch)
    if state == _PARAMETER:
        if ch.isascii() and (ch.isalnum() or ch == "_"):
            return _PARAMETER, ch
        if space:
            return _VALUE, ""
        return None, "unexpected end of file in a PARAMETER name"
    if state == _MESSAGE:
        if ch.isascii() and ch.isalpha():
            return _MESSAGE, ch
        if space:
            return _VALUE, ""
        return None, "unexpected end of file in a MESSAGE role"
    # comment
    return (_NIL, "") if newline else (_COMMENT, "")


# ---------------------------------------------------------------------------- writing

_LABELS = {"model": "FROM", "adapter": "ADAPTER", "template": "TEMPLATE", "system": "SYSTEM",
           "license": "LICENSE"}
# Long free text reads best in triple quotes; names and paths read best bare.
_TEXT_KINDS = ("template", "system", "license", "message")


def _head(name: str, value: str) -> tuple[str, str]:
    """The instruction keyword(s) for a command and the value part to quote."""
    if name == "message":
        role, _, text = value.partition(": ")
        return f"MESSAGE {role}", text
    if name in _LABELS:
        return _LABELS[name], value
    return f"PARAMETER {name}", value


def format_command(name: str, value: str) -> str:
    """One Modelfile instruction (without the final newline) that parses back to (name, value)."""
    head, text = _head(name, value)
    if name not in ("model", "adapter", "template", "system", "license", "message") and (
            not name or not all(c.isascii() and (c.isalnum() or c == "_") for c in name)):
        raise ModelfileError(f"'{name}' cannot be a PARAMETER name: use letters, digits and '_'.")
    styles = ('"""', '"', "") if name in _TEXT_KINDS else ("", '"', '"""')
    for quote in styles:
        if not quote and not text:
            continue  # an empty bare value is legal but reads like a mistake
        candidate = f"{head} {quote}{text}{quote}"
        try:
            parsed = parse_modelfile(f"FROM x\n{candidate}\n")[1:]
        except ModelfileError:
            continue
        if parsed == [(name, value)]:
            return candidate
    raise ModelfileError(_why_unwritable(head, text))


def _why_unwritable(head: str, text: str) -> str:
    bad = sorted({c for c in text if not _is_print(c) and c not in " \t\n"})
    if bad:
        shown = ", ".join(f"U+{ord(c):04X}" for c in bad[:5])
        return (f"The {head} value contains characters Ollama drops ({shown}); "
                "remove them and try again.")
    return (f"The {head} value cannot be written to a Modelfile without being changed "
            '(Ollama\'s Modelfile has no escapes: a value may not hold \"\"\" together with a '
            "newline, nor end a line with a quote in a way that closes it early). "
            "Reword the value and try again.")


def render_modelfile(modelfile: Modelfile) -> str:
    """The Modelfile text; raises ModelfileError naming the value that cannot be written."""
    lines = ["# Written by Forge. Register by hand with: ollama create NAME -f Modelfile"]
    lines += [format_command(name, value) for name, value in modelfile.commands()]
    text = "\n".join(lines) + "\n"
    if parse_modelfile(text) != modelfile.commands():  # the whole file, not just each line
        raise ModelfileError("The Modelfile would not read back as written; please report this.")
    return text


def write_modelfile(path: Path, modelfile: Modelfile) -> Path:
    atomic_write_text(path, render_modelfile(modelfile))
    return path
