"""The one walk (core/pipeline/walk.py) and the one launcher (core/base/process.py), through both front
ends: the CLI's run_pipeline in this thread and the GUI's PipelineRunner in a worker thread."""

from __future__ import annotations

import json
import signal
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from forge_gui.core.base import process
from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.steps import FunctionStep, ProcessStep, StepFailed
from forge_gui.core.llamacpp.tool_steps import _gguf_check
from forge_gui.core.pipeline.walk import PipelineObserver, run_pipeline
from forge_gui.core.runs.run import RunSettings, RunState, StepSpec


def _state(tmp_path: Path, name: str) -> RunState:
    return RunState.create(RunSettings(data=[tmp_path / "d.jsonl"], name="m"), tmp_path / name)


def _specs(sent: list[ProgressEvent]) -> list[StepSpec]:
    def report(progress, cancel):
        event = ProgressEvent(fraction=1.0, message="half")  # no step: the walk stamps it
        sent.append(event)
        progress(event)

    tool = [sys.executable, "-c", "import sys; print('out'); sys.stderr.write('err\\n'); sys.exit(3)"]

    def tool_check(code: int) -> None:
        if code != 0:
            raise StepFailed(f"The tool failed ({process.describe_exit(code)}).", "Try again.")

    return [
        StepSpec("report", "Report", lambda s: FunctionStep("report", "Report", report)),
        StepSpec("skip", "Not needed", lambda s: None),
        StepSpec("tool", "Tool", lambda s: ProcessStep("tool", "Tool", tool, check=tool_check)),
        StepSpec("after", "After", lambda s: pytest.fail("a step after a failure must not run")),
    ]


def _run_folder(state: RunState) -> dict:
    record = json.loads((state.run_dir / "run.json").read_text("utf-8"))
    return {"status": record["status"],
            "steps": [(s["key"], s["status"], s["message"]) for s in record["steps"]],
            "command": json.loads((state.run_dir / "commands" / "tool.json").read_text())["argv"],
            "log": (state.run_dir / "logs" / "tool.log").read_text("utf-8").split()}


def test_the_cli_and_the_gui_walk_the_same_way_and_leave_the_same_run_folder(qtbot, tmp_path):
    from forge_gui.gui.runner import PipelineRunner

    class Heard(PipelineObserver):
        def __init__(self):
            self.events, self.failed = [], []

        def progress(self, event):
            self.events.append(event)

        def step_failed(self, spec, message):
            self.failed.append((spec.key, message))

    cli_state, cli_sent, heard = _state(tmp_path, "cli"), [], Heard()
    with pytest.raises(StepFailed):
        run_pipeline(_specs(cli_sent), cli_state, heard)

    gui_state, gui_sent = _state(tmp_path, "gui"), []
    runner = PipelineRunner(_specs(gui_sent), gui_state)
    failures, events = [], []
    runner.step_failed.connect(lambda index, why: failures.append((index, why)))
    runner.progress.connect(events.append)
    with qtbot.waitSignal(runner.finished, timeout=20000) as outcome:
        runner.start()

    assert outcome.args == ["failed"]
    why = "The tool failed (exit code 3).\nTry again."
    assert heard.failed == [("tool", why)] and failures == [(2, why)]
    assert _run_folder(cli_state) == _run_folder(gui_state) == {
        "status": "failed",
        "steps": [("report", "done", None), ("skip", "skipped", None), ("tool", "failed", why)],
        "command": _specs([])[2].build(cli_state).argv,
        "log": ["out", "err"]}
    # Each front end got its event with the step filled in, as a copy: the event the step
    # sent (and may still hold) is not changed after it crossed to another thread.
    assert [e.step for e in heard.events] == [e.step for e in events] == ["report"]
    assert [e.step for e in cli_sent + gui_sent] == ["", ""]


def test_a_crash_keeps_its_signal_and_the_user_reads_it(tmp_path):
    crash = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]
    outcome = process.capture(crash)
    assert outcome.returncode == -signal.SIGSEGV and outcome.signal == signal.SIGSEGV
    assert outcome.describe() == "killed by signal 11 (SIGSEGV)"

    # A tool that crashes after writing its output never passes its check, and says how it ended.
    check = _gguf_check(tmp_path / "out.gguf", "Quantizing", tmp_path / "q.log")
    with pytest.raises(StepFailed, match=r"Quantizing failed \(killed by signal 11 \(SIGSEGV\)\)"):
        process.run_process_step(ProcessStep("q", "q", crash, check=check))


def test_a_step_log_in_a_folder_not_made_yet_is_created(tmp_path):
    log = tmp_path / "new" / "logs" / "tool.log"
    step = ProcessStep("t", "t", [sys.executable, "-c", "print('kept')"], log_path=log)
    assert process.run_process_step(step) == 0
    assert log.read_text().strip() == "kept"


def test_capture_keeps_stdout_apart_and_stops_a_hung_tool_at_its_limit(tmp_path):
    script = textwrap.dedent("""
        import sys, time
        print('answer'); sys.stderr.write('log line\\n'); sys.stdout.flush(); sys.stderr.flush()
        time.sleep(60)
    """)
    with pytest.raises(process.ProcessTimeout):
        process.capture([sys.executable, "-c", script], timeout=1.0)
    done = process.capture([sys.executable, "-c", "import sys; print('answer'); sys.stderr.write('log')"],
                           stderr_path=tmp_path / "logs" / "err.log")
    assert (done.stdout_text.strip(), done.stderr_text) == ("answer", "log")
    assert (tmp_path / "logs" / "err.log").read_text() == "log"
    assert process.probe_output([str(tmp_path / "missing-tool"), "--help"], timeout=5) is None


def test_windows_cancel_sends_ctrl_break_to_the_group_first_then_kills(monkeypatch):
    """On Windows terminate() is already a hard kill, so the polite stop is CTRL_BREAK to the
    child's process group (started with CREATE_NEW_PROCESS_GROUP). Only the order and the
    fallback can be run here: a real console control event needs Windows."""
    child = psutil.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    sent = []
    monkeypatch.setattr(process, "WINDOWS", True)
    monkeypatch.setattr(process, "_send_ctrl_break", sent.append)
    process.kill_process_tree(child.pid, grace=0.5)
    assert sent == [child.pid]  # the group, before any kill
    assert process.wait_until_gone([child.pid], timeout=5) == []  # then killed after the grace


def test_a_process_we_may_not_stop_is_logged_not_raised(monkeypatch, caplog):
    child = psutil.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    def denied(self):
        raise psutil.AccessDenied(self.pid)

    monkeypatch.setattr(psutil.Process, "terminate", denied)
    monkeypatch.setattr(psutil.Process, "kill", denied)
    monkeypatch.setattr(process.os, "killpg", lambda pid, sig: None)
    process.kill_process_tree(child.pid, grace=0.2)
    assert "could not stop process" in caplog.text
    monkeypatch.undo()
    child.kill()
    child.wait(timeout=5)
