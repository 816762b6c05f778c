"""A renderer for the subset of Go's text/template that Forge's TEMPLATEs use, so the pipeline
can check a TEMPLATE against the training text on a machine without Go (core/formats/template_check.py).

Ollama renders TEMPLATE with Go's text/template; this reproduces its rules for what we use:
text, {{ pipeline }}, trim markers ({{- and -}} remove the whitespace beside them), if / else if
/ else / end, range $i, $v := pipeline, $var := pipeline, $var = pipeline (Go's scoping: a
variable lives until the {{ end }} of the block that declared it), fields (.X, $.X, $v.X),
string literals, integers, parentheses and the functions eq, ne, not, len, slice, index, and,
or. Anything else raises, so a template using more than this is never checked by accident.
tests/test_template_formats.py proves it equal to Go's own text/template on every TEMPLATE
Forge derives.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Callable
from typing import Any

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)


class TemplateError(Exception):
    pass


def _lex(source: str) -> list[tuple[str, str]]:
    """[('text', s) | ('action', s)] with trim markers applied to the neighbouring text."""
    items: list[tuple[str, str]] = []
    pos, trim_next = 0, False
    for m in _ACTION.finditer(source):
        text = source[pos:m.start()]
        if trim_next:
            text = text.lstrip(" \t\r\n")
        if m.group(1):
            text = text.rstrip(" \t\r\n")
        items.append(("text", text))
        items.append(("action", m.group(2).strip()))
        trim_next = bool(m.group(3))
        pos = m.end()
    tail = source[pos:]
    items.append(("text", tail.lstrip(" \t\r\n") if trim_next else tail))
    return items


_TOKEN = re.compile(r'\s*(?:(\()|(\))|("(?:[^"\\]|\\.)*")|(:=)|(,)|([^\s(),]+))')


def _tokens(expr: str) -> list[str]:
    out, pos = [], 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"cannot read {expr!r}")
        out.append(next(g for g in m.groups() if g is not None))
        pos = m.end()
    return out


def _truth(value) -> bool:
    return bool(value) if value is not None else False


def _field(obj, name: str):
    if isinstance(obj, dict):
        if name not in obj:
            raise TemplateError(f"no field {name}")
        return obj[name]
    return getattr(obj, name)


class _Scope:
    def __init__(self, root, dot, variables):
        self.root, self.dot, self.vars = root, dot, variables


def _eval(tokens: list[str], scope: _Scope):
    """Evaluate a command: a function call with arguments, or a single operand."""
    args, pos = [], 0
    while pos < len(tokens):
        tok = tokens[pos]
        if tok == "(":
            depth, end = 1, pos + 1
            while depth:
                depth += {"(": 1, ")": -1}.get(tokens[end], 0)
                end += 1
            args.append(("value", _eval(tokens[pos + 1:end - 1], scope)))
            pos = end
            continue
        args.append(("token", tok))
        pos += 1
    if args and args[0][0] == "token" and args[0][1] in _FUNCS:
        values = [_operand(a, scope) for a in args[1:]]
        return _FUNCS[args[0][1]](*values)
    if len(args) != 1:
        raise TemplateError(f"cannot evaluate {tokens!r}")
    return _operand(args[0], scope)


def _operand(arg, scope: _Scope):
    kind, tok = arg
    if kind == "value":
        return tok
    if tok.startswith('"'):
        return tok[1:-1].encode().decode("unicode_escape")
    if tok == ".":
        return scope.dot
    if tok.startswith("$"):
        head, *fields = tok.split(".")
        value = scope.root if head == "$" else scope.vars[head]
    elif tok.startswith("."):
        value, fields = scope.dot, tok[1:].split(".")
    elif re.fullmatch(r"-?\d+", tok):
        return int(tok)
    else:
        raise TemplateError(f"unknown word {tok!r}")
    for name in fields:
        value = _field(value, name)
    return value


def _index(value, keys):
    for key in keys:
        value = value[key]
    return value


_FUNCS: dict[str, Callable[..., Any]] = {
    "eq": lambda a, *bs: any(a == b for b in bs),
    "ne": lambda a, b: a != b,
    "index": lambda a, *ix: _index(a, ix),
    "not": lambda a: not _truth(a),
    "len": lambda a: len(a),
    "slice": lambda a, *ix: a[ix[0]:ix[1]] if len(ix) == 2 else a[ix[0]:] if ix else a,
    "and": lambda *a: next((x for x in a if not _truth(x)), a[-1]),
    "or": lambda *a: next((x for x in a if _truth(x)), a[-1]),
}


def _parse(items, pos=0, stop=("end",)):
    """Items -> a tree of nodes; returns (nodes, pos, the stopping keyword)."""
    nodes = []
    while pos < len(items):
        kind, body = items[pos]
        pos += 1
        if kind == "text":
            if body:
                nodes.append(("text", body))
            continue
        word = body.split()[0] if body else ""
        if word in ("end", "else"):
            if word not in stop and not (word == "else" and "else" in stop):
                raise TemplateError(f"unexpected {{{{{body}}}}}")
            return nodes, pos, body
        if word == "if":
            branches, cond = [], body[2:]
            while True:
                inner, pos, ended = _parse(items, pos, stop=("end", "else"))
                branches.append((cond, inner))
                if ended == "end":
                    break
                cond = ended[4:].strip()[2:] if ended.startswith("else if") else None
                if cond is None:
                    inner, pos, _ = _parse(items, pos, stop=("end",))
                    branches.append((None, inner))
                    break
            nodes.append(("if", branches))
        elif word == "range":
            m = re.fullmatch(r"range\s+(?:(\$\w*)\s*,\s*(\$\w*)\s*:=\s*)?(.+)", body, re.S)
            if not m:
                raise TemplateError(f"unsupported {{{{{body}}}}}")
            inner, pos, _ = _parse(items, pos, stop=("end",))
            nodes.append(("range", m.group(1), m.group(2), m.group(3), inner))
        elif re.match(r"\$\w+\s*:=", body):
            name, expr = body.split(":=", 1)
            nodes.append(("declare", name.strip(), expr))
        elif re.match(r"\$\w+\s*=[^=]", body):
            name, expr = body.split("=", 1)
            nodes.append(("assign", name.strip(), expr))
        elif word in ("with", "define", "template", "block", "break", "continue"):
            raise TemplateError(f"{word} is not supported by this renderer")
        else:
            nodes.append(("print", body))
    if stop:
        raise TemplateError("missing {{ end }}")
    return nodes, pos, None


def _run(nodes, scope: _Scope, out: list[str]) -> None:
    for node in nodes:
        kind = node[0]
        if kind == "text":
            out.append(node[1])
        elif kind == "print":
            value = _eval(_tokens(node[1]), scope)
            out.append("" if value is None else str(value))
        elif kind == "declare":
            scope.vars.maps[0][node[1]] = _eval(_tokens(node[2]), scope)
        elif kind == "assign":
            value = _eval(_tokens(node[2]), scope)
            owner = next((m for m in scope.vars.maps if node[1] in m), None)
            if owner is None:
                raise TemplateError(f"undefined variable {node[1]}")
            owner[node[1]] = value
        elif kind == "if":
            for cond, body in node[1]:
                if cond is None or _truth(_eval(_tokens(cond), scope)):
                    _run(body, _Scope(scope.root, scope.dot, scope.vars.new_child()), out)
                    break
        elif kind == "range":
            _, ivar, vvar, expr, body = node
            for i, item in enumerate(_eval(_tokens(expr), scope) or []):
                inner = _Scope(scope.root, item, scope.vars.new_child())
                if ivar:
                    inner.vars[ivar] = i
                if vvar:
                    inner.vars[vvar] = item
                _run(body, inner, out)


def render(source: str, data: dict) -> str:
    nodes, pos, ended = _parse(_lex(source), stop=())
    if ended is not None:
        raise TemplateError("unbalanced {{ end }}")
    out: list[str] = []
    _run(nodes, _Scope(data, data, ChainMap()), out)
    return "".join(out)
