"""Is a run still going? A lock held on `run.lock` in the run folder while a front end runs it.

run.json says "running" from the moment a step starts until it ends; a Forge that was killed
(power cut, SIGKILL, a crash) leaves it saying so for ever. The process that walks the steps
holds an exclusive advisory lock on `<run>/run.lock` (flock on POSIX): the operating system
drops it when the process dies, however it dies, so "run.json says running but nobody holds
the lock" means the run was interrupted. The file also records who holds it (pid, the
process's start time, host) for the message a second Forge shows, and for systems without
flock (Windows), where the pid and its start time are checked instead (a pid reused by a
later process has another start time).

    lock = acquire_run_lock(run_dir)   # raises RunBusy when another process runs it
    ...walk the steps...
    lock.release()

or `with hold_run_lock(run_dir): ...`; `run_is_live(run_dir)` answers True / False, or None
when the folder has no run.lock (a run made before the lock existed).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
from pathlib import Path
from typing import IO

import psutil

from forge_gui.core.base.steps import StepFailed

LOCK_NAME = "run.lock"
log = logging.getLogger(__name__)

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


class RunBusy(StepFailed):
    """Another process holds the run (a second window, a terminal)."""


def _owner() -> dict:
    me = psutil.Process()
    return {"pid": me.pid, "started": me.create_time(), "host": socket.gethostname()}


def read_owner(run_dir: Path) -> dict | None:
    try:
        value = json.loads((Path(run_dir) / LOCK_NAME).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _owner_alive(owner: dict | None) -> bool:
    """The recorded process exists and is the same one (same start time), on this host."""
    if not owner or owner.get("host") not in (None, socket.gethostname()):
        return bool(owner)  # another computer's run (a shared folder): assume it is alive
    try:
        proc = psutil.Process(int(owner["pid"]))
        return abs(proc.create_time() - float(owner["started"])) < 1.0
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False


class RunLock:
    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self._fh: IO[bytes] | None = None

    def acquire(self) -> RunLock:
        # held open for as long as the lock is (release() closes it); not inherited by the
        # tools: Python opens with O_CLOEXEC
        fh = open(self.path, "a+b")  # noqa: SIM115
        if fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                raise self._busy() from None
            except OSError as exc:  # a file system without flock: the pid check remains
                log.warning("cannot lock %s (%s); checking the recorded process instead",
                            self.path, exc)
        elif _owner_alive(read_owner(self.path.parent)):
            fh.close()
            raise self._busy()
        # Written in place, not by rename: a rename would put the lock on a new file.
        fh.seek(0)
        fh.truncate()
        fh.write((json.dumps(_owner()) + "\n").encode("utf-8"))
        fh.flush()
        self._fh = fh
        return self

    def _busy(self) -> RunBusy:
        owner = read_owner(self.path.parent) or {}
        who = f" (process {owner['pid']})" if "pid" in owner else ""
        return RunBusy(f"This run is already running in another Forge window or terminal{who}.",
                       "Wait for it to end, or stop it there first.")

    def release(self) -> None:
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            fh.seek(0)
            fh.truncate()  # no owner any more: a stale pid must not look alive (Windows)
        except OSError as exc:
            log.warning("could not clear %s: %s", self.path, exc)
        if fcntl is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        fh.close()

    @property
    def held(self) -> bool:
        return self._fh is not None


def acquire_run_lock(run_dir: Path) -> RunLock:
    """Hold the run's lock until .release() (or the process ends). Raises RunBusy."""
    return RunLock(run_dir).acquire()


@contextlib.contextmanager
def hold_run_lock(run_dir: Path):
    lock = acquire_run_lock(run_dir)
    try:
        yield lock
    finally:
        lock.release()


def run_is_live(run_dir: Path) -> bool | None:
    """True while some process holds the run's lock; None when there is no run.lock at all."""
    path = Path(run_dir) / LOCK_NAME
    if not path.exists():
        return None
    if fcntl is not None:
        try:
            with open(path, "rb") as fh:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    return True
                except OSError:
                    return _owner_alive(read_owner(path.parent))
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
                return False
        except OSError as exc:
            log.warning("cannot read %s: %s", path, exc)
            return None
    return _owner_alive(read_owner(path.parent))
