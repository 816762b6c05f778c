"""Every child process Forge starts, started here and nowhere else (docs/architecture.md,
"Processes"; a test greps the package for other process starts).

- `stream`: a long tool with stdout and stderr merged, read as it comes (training, quantize,
  builds). `run_process_step` runs a ProcessStep through it for both front ends.
- `capture`: a short tool whose stdout is kept apart from stderr (tokenize, one completion,
  probes such as `--help` or `nvidia-smi`), with an optional time limit.

Both start the child in its own process group / session, stop the whole tree on cancel
(`kill_process_tree`: polite first, then kill) and return a `ProcessOutcome` that keeps how the
process ended, a crash's signal included.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil

from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.lines import LineSplitter
from forge_gui.core.base.steps import Cancelled, CancelToken, ProcessStep, StepFailed

log = logging.getLogger(__name__)

# How long a tool gets to exit after the polite signal before it is killed.
CANCEL_GRACE_SECONDS = 3.0
# How often a waiting launcher looks at the cancel token.
CANCEL_POLL_SECONDS = 0.1

WINDOWS = sys.platform == "win32"
# Windows NTSTATUS codes at or above this are crashes (0xC0000005: access violation).
_NTSTATUS_ERROR = 0xC0000000


class ProcessTimeout(Exception):
    """A captured process ran past its time limit; its tree has been stopped."""

    def __init__(self, argv: Sequence[str], timeout: float) -> None:
        super().__init__(f"{Path(argv[0]).name} did not finish within {timeout:g} s")
        self.argv = list(argv)
        self.timeout = timeout


@dataclass(frozen=True)
class ProcessOutcome:
    """How a child process ended. `returncode` is Popen's: negative means killed by that
    signal on POSIX, so a crash never passes for an exit code."""

    argv: tuple[str, ...]
    returncode: int
    stdout: bytes = b""
    stderr: bytes = b""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def signal(self) -> int | None:
        return -self.returncode if self.returncode < 0 and not WINDOWS else None

    def describe(self) -> str:
        return describe_exit(self.returncode)

    @property
    def stdout_text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")


def describe_exit(code: int) -> str:
    """'exit code 1', 'killed by signal 11 (SIGSEGV)' or 'crashed (0xC0000005)' for a user."""
    if code < 0 and not WINDOWS:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            return f"killed by signal {-code}"
        return f"killed by signal {-code} ({name})"
    if WINDOWS and code >= _NTSTATUS_ERROR:
        return f"crashed (0x{code:08X})"
    return f"exit code {code}"


def format_command(argv: Sequence[str]) -> str:
    """One argv as a line a user can paste into this OS's shell."""
    if WINDOWS:
        return subprocess.list2cmdline(list(argv))
    import shlex
    return shlex.join(argv)


def popen_kwargs() -> dict[str, Any]:
    """Start the child in its own process group / session, without a console window on Windows."""
    if WINDOWS:
        flags = (getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)
                 | getattr(subprocess, "CREATE_NO_WINDOW", 0))
        return {"creationflags": flags}
    return {"start_new_session": True}


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra or {})
    return env


def _popen(argv: Sequence[str], cwd: Path | None, env: dict[str, str] | None,
           stdout: int | IO[bytes], stderr: int | IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(list(argv), cwd=cwd, env=child_env(env), stdin=subprocess.DEVNULL,
                            stdout=stdout, stderr=stderr, **popen_kwargs())


# --- stopping -----------------------------------------------------------------------------

def _send_ctrl_break(pid: int) -> None:
    try:
        os.kill(pid, getattr(signal, "CTRL_BREAK_EVENT"))  # noqa: B009 (Windows only)
    except OSError as exc:  # no console shared with it: the kill after the grace follows
        log.info("CTRL_BREAK to process group %s failed: %s", pid, exc)


def _polite_stop(pid: int, procs: list[psutil.Process]) -> None:
    """Ask the tree to stop. POSIX: SIGTERM to the child's session and each process.
    Windows: CTRL_BREAK to the child's process group (it was started with
    CREATE_NEW_PROCESS_GROUP); terminate() there is already a hard kill, so it waits."""
    if WINDOWS:
        _send_ctrl_break(pid)
        return
    try:  # the child leads its own session (start_new_session)
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    for proc in procs:
        try:
            proc.terminate()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass


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
    except psutil.AccessDenied as exc:  # not ours to inspect: still try the root itself
        log.warning("cannot list the processes under %s: %s", pid, exc)
        procs = [root]
    _polite_stop(pid, procs)
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
        except psutil.AccessDenied as exc:
            log.warning("could not stop process %s: %s", proc.pid, exc)
    psutil.wait_procs(alive, timeout=grace)


def _watch_cancel(proc: subprocess.Popen[bytes], cancel: CancelToken) -> Callable[[], None]:
    """Stop proc's tree when `cancel` fires; returns the function that ends the watch."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(CANCEL_POLL_SECONDS):
            if cancel.cancelled:
                kill_process_tree(proc.pid)
                return

    watcher = threading.Thread(target=watch, name=f"cancel-{proc.pid}", daemon=True)
    watcher.start()

    def end() -> None:
        stop.set()
        watcher.join()
    return end


# --- the two ways to run a tool -----------------------------------------------------------

def stream(argv: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
           on_output: Callable[[bytes], None] | None = None, cancel: CancelToken | None = None,
           log_path: Path | None = None,
           on_start: Callable[[int], None] | None = None) -> ProcessOutcome:
    """Run a tool with stdout and stderr merged, handing each chunk to on_output as it
    arrives and appending it to log_path. Raises OSError when it cannot start, Cancelled
    once its tree has been stopped for `cancel`."""
    cancel = cancel or CancelToken()
    log_file: IO[bytes] | None = None
    if log_path is not None:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        log_file = open(log_path, "ab")  # noqa: SIM115 (closed in the finally below)
    try:
        proc = _popen(argv, cwd, env, subprocess.PIPE, subprocess.STDOUT)
        if on_start is not None:
            on_start(proc.pid)
        end_watch = _watch_cancel(proc, cancel)
        try:
            assert proc.stdout is not None
            fd = proc.stdout.fileno()
            while chunk := os.read(fd, 65536):
                if log_file is not None:  # flushed as it comes: a killed run keeps its log
                    log_file = _append(log_file, chunk, log_path)
                if on_output is not None:
                    on_output(chunk)
            code = proc.wait()
        finally:
            end_watch()
            if proc.poll() is None:  # on_output raised: leave nothing running behind
                kill_process_tree(proc.pid)
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
    finally:
        if log_file is not None:
            _close_quietly(log_file, log_path)
    if cancel.cancelled:
        raise Cancelled()
    return ProcessOutcome(tuple(argv), code)


def _append(log_file: IO[bytes], chunk: bytes, log_path: Path | None) -> IO[bytes] | None:
    """Append to the tool's log; when that fails (the disk filled) the tool goes on unlogged:
    its own output check then says what went wrong with what it writes (docs/training.md)."""
    try:
        log_file.write(chunk)
        log_file.flush()
        return log_file
    except OSError as exc:
        log.warning("the log %s cannot be written any more: %s", log_path, exc)
        _close_quietly(log_file, log_path)
        return None


def _close_quietly(log_file: IO[bytes], log_path: Path | None) -> None:
    try:
        log_file.close()
    except OSError as exc:  # its last buffered bytes on a full disk
        log.warning("the log %s could not be closed: %s", log_path, exc)


def capture(argv: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
            cancel: CancelToken | None = None, timeout: float | None = None,
            stderr_path: Path | None = None) -> ProcessOutcome:
    """Run a short tool and keep its stdout and stderr apart (stderr also written to
    stderr_path when given). Files, not pipes, hold them, so a chatty tool never blocks.
    Raises OSError when it cannot start, Cancelled or ProcessTimeout once its tree is stopped."""
    cancel = cancel or CancelToken()
    if stderr_path is not None:
        stderr_path.parent.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    with tempfile.TemporaryFile() as out, \
            (open(stderr_path, "w+b") if stderr_path else tempfile.TemporaryFile()) as err:
        proc = _popen(argv, cwd, env, out, err)
        try:
            while True:
                try:
                    code = proc.wait(timeout=CANCEL_POLL_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    if cancel.cancelled:
                        raise Cancelled() from None
                    if deadline is not None and time.monotonic() > deadline:
                        raise ProcessTimeout(argv, timeout or 0) from None
        finally:
            if proc.poll() is None:
                kill_process_tree(proc.pid)
                proc.wait()
        out.seek(0)
        err.seek(0)
        return ProcessOutcome(tuple(argv), code, out.read(), err.read())


def probe_output(argv: Sequence[str], timeout: float, merge_stderr: bool = False) -> str | None:
    """stdout (and stderr, with merge_stderr) of a quick probe such as `tool --help`, or None
    when it cannot start, fails or hangs: probes inform, they never raise (logged)."""
    try:
        done = capture(argv, timeout=timeout)
    except (OSError, ProcessTimeout) as exc:
        log.info("probe %s did not run: %s", argv[0], exc)
        return None
    if merge_stderr:
        return done.stdout_text + done.stderr_text
    if not done.ok:
        log.info("probe %s ended with %s: %s", argv[0], done.describe(),
                 done.stderr_text.strip()[-300:])
        return None
    return done.stdout_text


# --- a pipeline's process step ------------------------------------------------------------

def run_process_step(
    step: ProcessStep,
    on_event: Callable[[ProgressEvent], None] | None = None,
    on_output: Callable[[bytes], None] | None = None,
    cancel: CancelToken | None = None,
    on_lines: Callable[[list[str]], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> int:
    """Run `step` to the end; return its exit code after `step.check` has passed.

    on_output gets raw output bytes as they arrive (the CLI echoes them, so llama.cpp's
    '\\r' status line redraws in place), on_lines the whole lines (the GUI's log view),
    on_event the parsed progress. Output also goes to step.log_path when set. Raises
    Cancelled, or StepFailed when it cannot start or from the check.
    """
    splitter = LineSplitter()

    def handle(lines: list[str]) -> None:
        if not lines:
            return
        if on_lines is not None:
            on_lines(lines)
        if on_event is None:
            return
        for line in lines:
            event = step.parse_line(line)
            if event is not None:
                on_event(event if event.step else event.model_copy(update={"step": step.key}))

    def output(chunk: bytes) -> None:
        if on_output is not None:
            on_output(chunk)
        handle(splitter.feed(chunk))

    try:
        outcome = stream(step.argv, cwd=step.cwd, env=step.env, on_output=output, cancel=cancel,
                         log_path=step.log_path, on_start=on_start)
    except OSError as exc:
        raise StepFailed(f"Could not start {step.argv[0]}: {exc.strerror or exc}",
                         "Run 'forge-cli doctor' to see which tools are found.") from exc
    handle(splitter.flush())
    if outcome.signal is not None:
        log.warning("%s %s", Path(step.argv[0]).name, outcome.describe())
    step.check(outcome.returncode)
    return outcome.returncode


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    """Return the pids still alive after `timeout` (tests use it to prove nothing is orphaned)."""
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _running(p)]
        time.sleep(0.05)
    return alive
