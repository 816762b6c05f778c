"""Which files an input path stands for, and how to read their bytes into JSON values.

Folders: every *.jsonl and *.json inside, recursively, in sorted order; everything else is
listed as skipped with the reason, and so are entries that are not regular files (a FIFO
would block the reader forever) and symbolic link loops (docs/data.md). A file named
explicitly is always read.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

import orjson

from forge_gui.core.base.fs_errors import os_error_cause
from forge_gui.core.data.models import DataInputError, SkippedPath

DATA_SUFFIXES = (".jsonl", ".json")
BOM = b"\xef\xbb\xbf"
_CONTROL_BYTES = [b for b in range(32) if b not in (9, 10, 13)]
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def unreadable_reason(path: Path) -> str | None:
    """Why `path` is not read as a data file (a FIFO would block forever, a symlink loop
    cannot be opened), or None for a regular file."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop; not read"
        if exc.errno == errno.ENOENT and os.path.islink(path):
            return "a symbolic link to nothing; not read"
        return f"cannot be read: {os_error_cause(exc)}"
    if stat.S_ISREG(mode):
        return None
    kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a file")
    return f"{kind}, not a regular file; not read"


def expand_paths(paths: list[Path]) -> tuple[list[Path], list[SkippedPath]]:
    files: list[Path] = []
    skipped: list[SkippedPath] = []

    def walk_error(exc: OSError) -> None:  # a folder inside that cannot be listed
        skipped.append(SkippedPath(path=str(exc.filename),
                                   reason=f"cannot be read: {os_error_cause(exc)}"))

    for given in paths:
        path = Path(given)
        if path.is_dir():
            for root, dirs, names in os.walk(path, onerror=walk_error):
                for hidden in sorted(d for d in dirs if d.startswith(".")):
                    skipped.append(SkippedPath(path=str(Path(root) / hidden),
                                               reason="hidden folder"))
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    child = Path(root) / name
                    if name.startswith("."):
                        skipped.append(SkippedPath(path=str(child), reason="hidden file"))
                    elif child.suffix.lower() in DATA_SUFFIXES:
                        reason = unreadable_reason(child)
                        if reason is None:
                            files.append(child)
                        else:
                            skipped.append(SkippedPath(path=str(child), reason=reason))
                    else:
                        skipped.append(SkippedPath(path=str(child),
                                                   reason="not a .jsonl or .json file"))
        elif path.is_file():
            files.append(path)
        elif os.path.lexists(path):
            raise DataInputError(f"{path} is {unreadable_reason(path) or 'not a file'}.")
        else:
            raise DataInputError(f"{path} does not exist.")
    unique: list[Path] = []
    seen: set[Path] = set()
    for path in files:  # a file given twice (or inside a folder also given) is read once
        key = path.resolve()
        if key in seen:
            skipped.append(SkippedPath(path=str(path), reason="already read"))
        else:
            seen.add(key)
            unique.append(path)
    return unique, skipped


class JsonProblem(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def explain_json_error(raw: bytes, exc: Exception) -> JsonProblem:
    """orjson's error -> our code and a sentence; `raw` is the line (or element) text."""
    text = str(exc)
    column = getattr(exc, "colno", None)
    where = f" (column {column})" if column else ""
    if "UTF-8" in text and "surrogate" in text and not _SURROGATE_ESCAPE.search(raw):
        return JsonProblem("invalid_utf8", f"is not valid UTF-8 text{where}; save the file "
                                           f"as UTF-8.")
    if "surrogate" in text:
        return JsonProblem("invalid_utf8", "contains an escape like \\ud800 for half of a "
                                           "character (an unpaired surrogate), which is not text.")
    if b"\x00" in raw:
        return JsonProblem("invalid_json", "contains a NUL byte (binary data?).")
    pos = getattr(exc, "pos", None)
    if "unexpected end of data" in text or (
            pos is not None and pos >= len(raw.decode("utf-8", "replace").rstrip("\r\n"))):
        return JsonProblem("invalid_json", "ends before the JSON value is complete "
                                           "(the line is cut off).")
    if raw.lstrip()[:2] == b"{'":
        return JsonProblem("invalid_json", "is not valid JSON: it uses single quotes; JSON "
                                           "needs double quotes around names and text.")
    reason = text.split(": line ")[0]
    return JsonProblem("invalid_json", f"is not valid JSON: {reason}{where}.")


def loads(raw: bytes):
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise explain_json_error(raw, exc) from None


def sniff(head: bytes) -> str:
    """'utf16', 'binary', 'array' or 'lines' from the first bytes of a file."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf16"
    control = sum(head.count(bytes([b])) for b in _CONTROL_BYTES)
    if control > max(4, len(head) // 50):
        return "binary"
    stripped = head[len(BOM):] if head.startswith(BOM) else head
    return "array" if stripped.lstrip()[:1] == b"[" else "lines"
