"""Ollama's model-name rules for the test double, written from Ollama's own source and kept
apart from Forge's (forge_gui/core/base/model_names.py): a bug in Forge's names cannot hide behind
a double that shares it.

Followed: ollama/ollama types/model/name.go as its tests pin it (types/model/name_test.go at
commit 000ce02098f6bfea486601b5cae35ba38f8824fc; tests/test_ollama_names.py runs those cases
against this module). ParseNameBare: the digest after the last '@', the tag after the last ':'
when it follows the last '/', then model, namespace and host, each cut at the last '/' (a
"scheme://" before the host is dropped; an empty part is "!MISSING!"). ParseName merges
DefaultName (registry.ollama.ai / library / latest). IsValid: every part valid (isValidPart:
1-350 bytes for the host, 1-80 for the rest; the first byte alphanumeric or '_', then also '-',
'_', '.' (not in the namespace) and ':' (host and digest only)). EqualFold: how the server
finds a model whatever its case. DisplayShortest: how /api/tags lists it.
Not followed: the optional "kind" part (skill/agent/mcp) of the newest name.go (commit
5c0caaff8698121a5efad3bd0a10061ad9c0f558), which names other things than models.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_HOST, DEFAULT_NAMESPACE, DEFAULT_TAG = "registry.ollama.ai", "library", "latest"
MISSING = "!MISSING!"


@dataclass(frozen=True)
class Name:
    host: str
    namespace: str
    model: str
    tag: str
    digest: str = ""


def _cut_promised(s: str, sep: str) -> tuple[str, str, bool]:
    i = s.rfind(sep)
    if i < 0:
        return s, "", False
    return s[:i] or MISSING, s[i + len(sep):] or MISSING, True


def parse_bare(s: str) -> Name:
    digest = tag = ""
    i = s.rfind("@")
    if i >= 0:
        s, digest = s[:i], s[i + 1:] or MISSING
    if s.rfind(":") > s.rfind("/"):
        s, tag, _ = _cut_promised(s, ":")
    s, model, promised = _cut_promised(s, "/")
    if not promised:
        return Name("", "", s, tag, digest)
    s, namespace, promised = _cut_promised(s, "/")
    if not promised:
        return Name("", s, model, tag, digest)
    scheme, sep, host = s.partition("://")
    return Name(host if sep else scheme, namespace, model, tag, digest)


def parse(s: str) -> Name:
    n = parse_bare(s)
    return Name(n.host or DEFAULT_HOST, n.namespace or DEFAULT_NAMESPACE, n.model,
                n.tag or DEFAULT_TAG, n.digest)


def _alnum_(c: str) -> bool:
    return "A" <= c <= "Z" or "a" <= c <= "z" or "0" <= c <= "9" or c == "_"


def valid_part(kind: str, s: str) -> bool:
    if not 1 <= len(s.encode("utf-8")) <= (350 if kind == "host" else 80):
        return False
    if not _alnum_(s[0]):
        return False
    for c in s[1:]:
        if c in "_-":
            continue
        if c == ".":
            if kind == "namespace":
                return False
        elif c == ":":
            if kind not in ("host", "digest"):
                return False
        elif not _alnum_(c):
            return False
    return True


def _valid(n: Name) -> bool:
    return ((not n.digest or valid_part("digest", n.digest))
            and all(valid_part(kind, part) for kind, part in (
                ("host", n.host), ("namespace", n.namespace), ("model", n.model),
                ("tag", n.tag))))


def is_valid_bare(s: str) -> bool:
    """ParseNameBare(s).IsValid(): every part given and valid."""
    return _valid(parse_bare(s))


def is_valid(s: str) -> bool:
    """What the server checks (ParseName(s).IsValid(); create answers 400 "invalid model name")."""
    return _valid(parse(s))


def _fold(n: Name) -> tuple[str, ...]:
    return tuple(p.lower() for p in (n.host, n.namespace, n.model, n.tag))


def equal_fold(a: str, b: str) -> bool:
    return _fold(parse(a)) == _fold(parse(b))


def display_shortest(s: str) -> str:
    n = parse(s)
    prefix = ""
    if n.host.lower() != DEFAULT_HOST:
        prefix = f"{n.host}/{n.namespace}/"
    elif n.namespace.lower() != DEFAULT_NAMESPACE:
        prefix = f"{n.namespace}/"
    return f"{prefix}{n.model}:{n.tag}"
