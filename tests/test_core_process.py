"""The CLI's process runner: output splitting, checks, cancel of a whole process tree."""

from __future__ import annotations

import sys
import textwrap
import threading
import time

import psutil
import pytest

from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.lines import LineSplitter
from forge_gui.core.base.process import run_process_step, wait_until_gone
from forge_gui.core.base.steps import Cancelled, CancelToken, ProcessStep, StepFailed


def test_line_splitter_handles_cr_rewrites_and_split_characters():
    data = "a\r\nb\rc\nbar █▌ 50%\r".encode() + b"\n" + b"tail"
    splitter = LineSplitter()
    lines = []
    for i in range(len(data)):  # worst case: one byte per read, splitting every character
        lines += splitter.feed(data[i:i + 1])
    lines += splitter.flush()
    assert lines == ["a", "b", "c", "bar █▌ 50%", "tail"]


def test_process_step_rejects_shell_strings():
    with pytest.raises(TypeError):
        ProcessStep(key="x", label="x", argv="echo hi")  # type: ignore[arg-type]


def test_run_process_step_streams_events_logs_and_checks(tmp_path):
    script = ("import sys\nfor i in range(3):\n    sys.stderr.write(f'step {i}\\r'); sys.stderr.flush()\n"
              "print('done')\n")
    seen: list[ProgressEvent] = []

    def parse(line: str) -> ProgressEvent | None:
        return ProgressEvent(message=line) if line.startswith("step") else None

    checked = []
    step = ProcessStep(key="demo", label="Demo", argv=[sys.executable, "-c", script],
                       parse_line=parse, check=checked.append, log_path=tmp_path / "demo.log")
    code = run_process_step(step, on_event=seen.append)
    assert code == 0 and checked == [0]
    assert [e.message for e in seen] == ["step 0", "step 1", "step 2"]
    assert all(e.step == "demo" for e in seen)
    assert "done" in (tmp_path / "demo.log").read_text()


def test_a_check_turns_exit_zero_without_output_into_a_failure(tmp_path):
    out = tmp_path / "model.gguf"

    def check(code: int) -> None:
        if not out.exists():
            raise StepFailed("The tool exited without writing model.gguf.")

    step = ProcessStep(key="t", label="t", argv=[sys.executable, "-c", "pass"], check=check)
    with pytest.raises(StepFailed, match="without writing"):
        run_process_step(step)


def test_missing_program_is_a_clear_failure():
    step = ProcessStep(key="t", label="t", argv=["/nonexistent/llama-finetune", "--help"])
    with pytest.raises(StepFailed, match="Could not start"):
        run_process_step(step)


def test_cancel_stops_the_whole_process_tree_within_five_seconds(tmp_path):
    pidfile = tmp_path / "pids"
    # A parent that starts a grandchild and ignores SIGTERM, like a stubborn tool would.
    script = textwrap.dedent(f"""
        import os, signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN) if hasattr(signal, "SIGTERM") else None
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(pidfile)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
        print("ready", flush=True)
        time.sleep(60)
    """)
    cancel = CancelToken()

    def on_output(data: bytes) -> None:
        if b"ready" in data:
            threading.Timer(0.2, cancel.cancel).start()

    step = ProcessStep(key="t", label="t", argv=[sys.executable, "-c", script])
    started = time.monotonic()
    with pytest.raises(Cancelled):
        run_process_step(step, on_output=on_output, cancel=cancel)
    assert time.monotonic() - started < 5 + 0.2 + 3
    pids = [int(p) for p in pidfile.read_text().split()]
    assert wait_until_gone(pids, timeout=5) == [], "a process of the tree outlived Cancel"
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                   for p in pids)
