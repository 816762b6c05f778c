"""Logging, configured once per process (docs/architecture.md, "Logs").

Every module logs to `logging.getLogger(__name__)`; the front end calls `setup_logging` once:
a new file per session in the user's log folder (paths.log_dir(); the last KEEP_SESSIONS of
each front end are kept) and, when the process has a stderr, the console at `stderr_level`.
A frozen Windows app has no stderr (sys.stderr is None): then only the file is written.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from forge_gui.core.base import paths

log = logging.getLogger(__name__)

KEEP_SESSIONS = 20  # session files kept per front end (forge-gui-*, forge-cli-*)
FILE_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(threadName)s] %(message)s"
# Libraries that log every request at INFO: only their warnings are news.
QUIET_LOGGERS = ("httpx", "httpcore", "urllib3", "asyncio", "PIL")

_handlers: list[logging.Handler] = []
_session_file: Path | None = None


class _Stderr(logging.StreamHandler):
    """The console: whatever sys.stderr is when a record comes (tests swap it), nothing when
    there is none (frozen Windows app). A record logged with extra={"console": False} is for
    the file only (the front end has already said it in its own words)."""

    def __init__(self, level: int) -> None:
        logging.Handler.__init__(self, level)

    @property
    def stream(self):
        return sys.stderr

    def emit(self, record: logging.LogRecord) -> None:
        if sys.stderr is not None and getattr(record, "console", True):
            super().emit(record)


class _OneLine(logging.Formatter):
    """The console's form: one line, no traceback (that is in the log file)."""

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return super().format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def setup_logging(app: str, stderr_level: int | None = logging.WARNING,
                  file_level: int = logging.INFO, force: bool = False) -> Path | None:
    """Configure the root logger for this process (once; `force` starts over) and return the
    session's log file, or None when no file could be made (said on stderr with -v)."""
    global _session_file
    if _handlers and not force:
        return _session_file
    shutdown_logging()
    root = logging.getLogger()
    levels = [file_level] + ([stderr_level] if stderr_level is not None else [])
    root.setLevel(min(levels))
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    if stderr_level is not None:
        console = _Stderr(stderr_level)
        form = "%(name)s: %(levelname)s: %(message)s"
        console.setFormatter(logging.Formatter(form) if stderr_level <= logging.DEBUG
                             else _OneLine(form))
        _add(root, console)
    try:
        folder = paths.log_dir()
        folder.mkdir(parents=True, exist_ok=True)  # before the file is opened in it
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = folder / f"{app}-{stamp}-{os.getpid()}.log"
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:  # e.g. a read-only home: the app and the CLI work on without one
        log.info("No log file this session: %s", exc)
        return None
    handler.setLevel(file_level)
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    _add(root, handler)
    _session_file = path
    _prune(folder, app)
    log.info("%s session started (pid %d, Python %s, %s)", app, os.getpid(),
             sys.version.split()[0], sys.platform)
    return path


def session_file() -> Path | None:
    """This process's log file (None before setup_logging, or when none could be made)."""
    return _session_file


def shutdown_logging() -> None:
    """Remove (and close) the handlers setup_logging added."""
    global _session_file
    root = logging.getLogger()
    while _handlers:
        handler = _handlers.pop()
        root.removeHandler(handler)
        handler.close()
    _session_file = None


def _add(root: logging.Logger, handler: logging.Handler) -> None:
    root.addHandler(handler)
    _handlers.append(handler)


def _prune(folder: Path, app: str) -> None:
    """Keep the newest KEEP_SESSIONS session files of this front end."""
    try:
        files = sorted(folder.glob(f"{app}-*.log"), key=lambda p: p.stat().st_mtime,
                       reverse=True)
    except OSError as exc:  # a file went away while we looked (another session pruning)
        log.info("Old logs not pruned this time: %s", exc)
        return
    for old in files[KEEP_SESSIONS:]:
        try:
            old.unlink()
        except OSError as exc:  # another session still has it open (Windows): next time
            log.info("Could not remove the old log %s: %s", old, exc)
