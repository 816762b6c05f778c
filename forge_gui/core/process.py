"""Run a ProcessStep with subprocess (the CLI's runner), and stop process trees on every OS.

The GUI runs the same steps with QProcess (gui/runner.py); both use LineSplitter for output and
kill_process_tree for Cancel, so the two front ends behave alike.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from forge_gui.core.events import ProgressEvent
from forge_gui.core.lines import LineSplitter
from forge_gui.core.steps import Cancelled, CancelToken, ProcessStep, StepFailed

# How long a tool gets to exit after the polite signal before it is killed.
CANCEL_GRACE_SECONDS = 3.0

WINDOWS = sys.platform == "win32"


def popen_kwargs() -> dict:
    """Start the child in its own process group / session, without a console window on Windows."""
    if WINDOWS:
        flags = subprocess.CREATE_NEW_PROCESS_GROUP | getattr(subprocess, "CREATE_NO_WINDOW", 0)
        return {"creationflags": flags}
    return {"start_new_session": True}


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra or {})
    return env


def kill_process_tree(pid: int, grace: float = CANCEL_GRACE_SECONDS) -> None:
    """Stop `pid` and everything it started: polite first, then kill after `grace` seconds.

    The descendants are collected before the first signal: once a parent dies its children
    are re-parented and can no longer be found from it.
    """
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    if not WINDOWS:
        try:  # the child leads its own session (start_new_session / CreateNewSession)
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace)
    if not WINDOWS:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace)


def run_process_step(
    step: ProcessStep,
    on_event: Callable[[ProgressEvent], None] | None = None,
    on_output: Callable[[bytes], None] | None = None,
    cancel: CancelToken | None = None,
) -> int:
    """Run `step` to the end; return its exit code after `step.check` has passed.

    on_output gets raw output bytes as they arrive (the CLI echoes them, so llama.cpp's
    '\\r' status line redraws in place); on_event gets parsed progress. Output also goes to
    step.log_path when set. Raises Cancelled, or StepFailed from the check.
    """
    cancel = cancel or CancelToken()
    splitter = LineSplitter()
    log = open(step.log_path, "ab") if step.log_path else None
    if step.log_path:
        Path(step.log_path).parent.mkdir(parents=True, exist_ok=True)
    try:
        try:
            proc = subprocess.Popen(
                step.argv, cwd=step.cwd, env=child_env(step.env), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen_kwargs(),
            )
        except OSError as exc:
            raise StepFailed(f"Could not start {step.argv[0]}: {exc.strerror or exc}",
                             "Run 'forge-cli doctor' to see which tools are found.") from exc

        stop = threading.Event()

        def watch_cancel() -> None:
            while not stop.wait(0.1):
                if cancel.cancelled:
                    kill_process_tree(proc.pid)
                    return

        watcher = threading.Thread(target=watch_cancel, daemon=True)
        watcher.start()

        def handle(lines: list[str]) -> None:
            if on_event is None:
                return
            for line in lines:
                event = step.parse_line(line)
                if event is not None:
                    if not event.step:
                        event.step = step.key
                    on_event(event)

        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            if log:  # flushed as it comes: a killed run keeps its log (resume continues it)
                log.write(chunk)
                log.flush()
            if on_output:
                on_output(chunk)
            handle(splitter.feed(chunk))
        handle(splitter.flush())
        code = proc.wait()
        stop.set()
        watcher.join()
        if cancel.cancelled:
            raise Cancelled()
        step.check(code)
        return code
    finally:
        if log:
            log.close()


def wait_until_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    """Return the pids still alive after `timeout` (tests use it to prove nothing is orphaned)."""
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if psutil.pid_exists(p) and
                 psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        time.sleep(0.05)
    return alive
