"""One run per Ollama model name at a time (docs/ollama.md, "Names").

Two runs creating the same name would both report "Created model" while one silently
replaced the other. A run that will create a model holds a lock file for the name (as Ollama
compares names: case folded) under the user's data folder, from before its first step until
it ends; a second run is refused with the first one's process and run folder. The operating
system drops the lock when the process ends, however it ends (kill -9 included).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
from pathlib import Path

from forge_gui.core.base import paths
from forge_gui.core.base.model_names import model_key
from forge_gui.core.base.steps import StepFailed

log = logging.getLogger(__name__)


class NameBusy(StepFailed):
    """Another run is creating a model of this name right now."""


def lock_path(name: str) -> Path:
    key = model_key(name)
    readable = re.sub(r"[^a-z0-9._-]+", "_", key.rsplit("/", 1)[-1])[:60]
    return paths.data_dir() / "locks" / f"{readable}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.lock"


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):
        return False
    return True


class NameLock:
    """Held while the object lives (or until release())."""

    def __init__(self, name: str, fd: int, path: Path) -> None:
        self.name, self.path = name, path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None

    def __del__(self) -> None:
        self.release()

    def __enter__(self) -> NameLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def hold_name(name: str, run_dir: Path | str | None = None) -> NameLock:
    """Take the lock for `name`; raises NameBusy when another run holds it."""
    path = lock_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    if not _try_lock(fd):
        try:
            holder = os.read(fd, 4096).decode("utf-8", "replace").strip()
        except OSError:
            holder = ""
        os.close(fd)
        who = f" ({holder})" if holder else ""
        raise NameBusy(f"Another Forge run is creating the model '{name}' right now{who}.",
                       "Wait until it has finished, or choose another name.")
    note = f"process {os.getpid()}" + (f", run folder {run_dir}" if run_dir else "")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, note.encode("utf-8"), 0) if hasattr(os, "pwrite") else os.write(fd, note.encode())
    except OSError as exc:  # the lock holds without the note
        log.warning("could not write who holds %s: %s", path, exc)
    return NameLock(name, fd, path)


def hold_name_for(settings) -> NameLock | None:
    """The lock for a run's settings: only runs that create a model in Ollama take one."""
    return hold_name(settings.name) if getattr(settings, "create", False) else None
