"""Atomic file writes: write a temp file beside the target, fsync, then rename over it.

A crash or a full disk leaves either the old file or the new one, never half of one. An OS
error on the target (disk full, read-only, a folder in the way ...) is raised as a
FileAccessError that says which path and why (docs/data.md). The temp file's name carries
the writer's process id, so a temp left by a killed writer is removed on the next write of
the same target.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from forge_gui.core.base.fs_errors import FileAccessError

log = logging.getLogger(__name__)


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# mkstemp creates files as 0600; a finished file gets the mode a plain open() would give it.
_FILE_MODE = 0o666 & ~_current_umask()
_TEMP_SUFFIX = ".tmp"


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but belongs to someone else (or cannot tell): keep its file
    return True


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove temp files of `path` whose writer process is gone (killed mid-write)."""
    path = Path(path)
    prefix = _temp_prefix(path)
    removed: list[Path] = []
    try:
        names = os.listdir(path.parent)
    except OSError as exc:  # the write that follows reports the folder's problem
        log.debug("cannot list %s for stale temp files: %s", path.parent, exc)
        return removed
    for name in names:
        if not (name.startswith(prefix) and name.endswith(_TEMP_SUFFIX)):
            continue
        pid_text = name[len(prefix):].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _process_alive(int(pid_text)):
            continue
        try:
            os.unlink(path.parent / name)
            removed.append(path.parent / name)
            log.info("removed %s, left by writer %s that is gone", path.parent / name, pid_text)
        except OSError as exc:
            log.warning("could not remove the stale temp file %s: %s", path.parent / name, exc)
    return removed


class _GuardedFile:
    """The temp file as the caller sees it: a failed write names the target and the cause."""

    def __init__(self, fh: IO, target: Path) -> None:
        self._fh = fh
        self._target = target

    def write(self, data):
        try:
            return self._fh.write(data)
        except FileAccessError:
            raise
        except OSError as exc:
            raise FileAccessError(exc, self._target) from exc

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._fh.flush()
        except OSError as exc:
            raise FileAccessError(exc, self._target) from exc

    def __getattr__(self, name):
        return getattr(self._fh, name)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8",
                newline: str | None = "\n") -> Iterator[IO]:
    """Open a temp file beside `path`; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    if path.is_dir():  # os.replace would refuse at the end, after all the work
        raise FileAccessError(IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)), path)
    binary = "b" in mode
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path)
        fd, tmp = tempfile.mkstemp(prefix=f"{_temp_prefix(path)}{os.getpid()}-",
                                   suffix=_TEMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise FileAccessError(exc, path) from exc
    written = False
    try:
        fh = os.fdopen(fd, mode) if binary else os.fdopen(fd, mode, encoding=encoding,
                                                          newline=newline)
        with fh:
            # _GuardedFile passes everything else through to the file: to callers it is one
            yield cast(IO, _GuardedFile(fh, path))
            written = True
            fh.flush()
            os.fsync(fh.fileno())
        if hasattr(os, "fchmod"):
            os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if written and isinstance(exc, OSError) and not isinstance(exc, FileAccessError):
            raise FileAccessError(exc, path) from exc  # the flush, fsync or rename failed
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when both paths name one existing file (guards against writing over an input)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
