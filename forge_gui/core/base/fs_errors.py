"""Operating-system errors on a user's files, said as one sentence (docs/data.md, "When a
file cannot be read or written").

`describe_os_error` names the path and the cause ("the disk is full", "the file system is
read-only", ...). `FileAccessError` is an OSError that carries that sentence, so code that
already catches OSError keeps working and front ends print `str(exc)` as it is.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

_CAUSES = {
    errno.ENOSPC: "the disk is full (no space left on the device)",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "the operation is not permitted",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ENOENT: "it does not exist",
    errno.ELOOP: "it is a symbolic link that points back to itself (a loop)",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EFBIG: "the file would be larger than the file system allows",
    errno.EIO: "the device reported an input/output error",
}


def _file_in_the_way(path: Path) -> Path | None:
    """The nearest parent of `path` that exists and is not a folder, if any."""
    for parent in path.parents:
        try:
            if parent.exists():
                return None if parent.is_dir() else parent
        except OSError:
            return None
    return None


def describe_os_error(exc: OSError, path: str | os.PathLike | None = None,
                      doing: str = "write") -> str:
    """One sentence: what could not be done to which path, and why."""
    if isinstance(exc, FileAccessError):
        return exc.sentence
    if exc.errno is None and path is None and not exc.filename:
        return str(exc)  # raised by Forge itself with its own sentence
    where = path if path is not None else (exc.filename or "a file")
    code = exc.errno
    if code in (errno.ENOTDIR, errno.EEXIST) and path is not None:
        blocker = _file_in_the_way(Path(path))
        if blocker is not None:
            return f"Cannot {doing} {where}: {blocker} is a file, not a folder."
    return f"Cannot {doing} {where}: {os_error_cause(exc)}."


def os_error_cause(exc: OSError) -> str:
    """The cause alone, lower case, no full stop: "the disk is full (...)"."""
    known = _CAUSES.get(exc.errno) if exc.errno is not None else None
    return known or (exc.strerror or str(exc)).rstrip(".").lower()


class FileAccessError(OSError):
    """An OS error on `path`, with `sentence` for the user (also what str() gives)."""

    def __init__(self, exc: OSError, path: str | os.PathLike, doing: str = "write") -> None:
        super().__init__(exc.errno, exc.strerror, str(path))
        self.sentence = describe_os_error(exc, path, doing)

    def __str__(self) -> str:
        return self.sentence
