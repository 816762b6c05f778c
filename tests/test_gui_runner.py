"""The GUI's QProcess runner: real child processes, real run folder, real Cancel."""

from __future__ import annotations

import json
import sys
import textwrap

import psutil
import pytest

from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.process import wait_until_gone
from forge_gui.core.base.steps import FunctionStep, ProcessStep, StepFailed
from forge_gui.core.runs.run import RunSettings, RunState, StepSpec
from forge_gui.gui.runner import PipelineRunner


def _state(tmp_path):
    return RunState.create(RunSettings(data=[tmp_path / "d.jsonl"], name="m"), tmp_path / "run")


def _parse_loss(line: str) -> ProgressEvent | None:
    if line.startswith("loss="):
        return ProgressEvent(loss=float(line.split("=")[1]), fraction=0.5)
    return None


def _python_step(key: str, code: str, check=None) -> ProcessStep:
    step = ProcessStep(key=key, label=key, argv=[sys.executable, "-c", textwrap.dedent(code)],
                       parse_line=_parse_loss)
    if check:
        step.check = check
    return step


def _run(qtbot, runner, start=0, timeout=20000):
    with qtbot.waitSignal(runner.finished, timeout=timeout) as blocker:
        runner.start(start)
    return blocker.args[0]


def test_runs_process_and_function_steps_and_keeps_run_json(qtbot, tmp_path):
    state = _state(tmp_path)
    seen_by_function = []

    def work(progress, cancel):
        seen_by_function.append(state.artifacts.samples)
        progress(ProgressEvent(fraction=1.0, message="hashed"))

    def prepare(progress, cancel):
        state.artifacts.samples = 7

    specs = [
        StepSpec("prepare", "Prepare", lambda s: FunctionStep("prepare", "Prepare", prepare)),
        StepSpec("skip", "Not needed", lambda s: None),
        StepSpec("train", "Train", lambda s: _python_step("train", r"""
            import sys
            sys.stdout.write("loss=3.5\rloss=2.25\n"); sys.stdout.flush()
            sys.stderr.write("épo\n"); sys.stderr.flush()
        """)),
        StepSpec("hash", "Hash", lambda s: FunctionStep("hash", "Hash", work)),
    ]
    runner = PipelineRunner(specs, state)
    events, lines = [], []
    runner.progress.connect(events.append)
    runner.lines.connect(lines.extend)

    assert _run(qtbot, runner) == "done"

    assert [e.loss for e in events if e.loss is not None] == [3.5, 2.25]
    assert all(e.step == "train" for e in events if e.loss is not None)
    assert "épo" in lines  # stderr merged, UTF-8 decoded
    assert seen_by_function == [7]  # a later step sees what an earlier one produced
    record = json.loads((state.run_dir / "run.json").read_text())
    assert record["status"] == "done"
    assert [(s["key"], s["status"]) for s in record["steps"]] == [
        ("prepare", "done"), ("skip", "skipped"), ("train", "done"), ("hash", "done")]
    assert json.loads((state.run_dir / "commands" / "train.json").read_text())["argv"][0] == sys.executable
    assert "loss=2.25" in (state.run_dir / "logs" / "train.log").read_text("utf-8")


def test_failed_check_reports_why_and_retry_skips_earlier_steps(qtbot, tmp_path):
    state = _state(tmp_path)
    calls = {"first": 0, "flaky": 0}

    def first(progress, cancel):
        calls["first"] += 1

    def flaky_check(code):
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise StepFailed("The tool wrote no model.", "Free some disk space and retry.")

    specs = [
        StepSpec("first", "First", lambda s: FunctionStep("first", "First", first)),
        StepSpec("tool", "Tool", lambda s: _python_step("tool", "print('hi')", flaky_check)),
    ]
    runner = PipelineRunner(specs, state)
    failures = []
    runner.step_failed.connect(lambda i, why: failures.append((i, why)))

    assert _run(qtbot, runner) == "failed"
    assert failures == [(1, "The tool wrote no model.\nFree some disk space and retry.")]
    assert json.loads((state.run_dir / "run.json").read_text())["status"] == "failed"

    assert _run(qtbot, runner, start=1) == "done"
    assert calls == {"first": 1, "flaky": 2}
    assert json.loads((state.run_dir / "run.json").read_text())["status"] == "done"


def test_a_tool_that_cannot_start_fails_with_a_sentence(qtbot, tmp_path):
    state = _state(tmp_path)
    specs = [StepSpec("x", "X", lambda s: ProcessStep("x", "X", [str(tmp_path / "no-such-tool")]))]
    runner = PipelineRunner(specs, state)
    failures = []
    runner.step_failed.connect(lambda i, why: failures.append(why))
    assert _run(qtbot, runner) == "failed"
    assert failures and failures[0].startswith("Could not start")


def test_build_refusal_is_a_failed_step(qtbot, tmp_path):
    def refuse(state):
        raise StepFailed("Too little text to train on.", "Add more records.")

    runner = PipelineRunner([StepSpec("pre", "Preflight", refuse)], _state(tmp_path))
    failures = []
    runner.step_failed.connect(lambda i, why: failures.append(why))
    assert _run(qtbot, runner) == "failed"
    assert failures == ["Too little text to train on.\nAdd more records."]


def test_cancel_stops_the_whole_process_tree(qtbot, tmp_path):
    state = _state(tmp_path)
    pid_file = tmp_path / "grandchild.pid"
    code = f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        print("started", flush=True)
        time.sleep(60)
    """
    specs = [StepSpec("train", "Train", lambda s: _python_step("train", code)),
             StepSpec("after", "After", lambda s: pytest.fail("must not run after Cancel"))]
    runner = PipelineRunner(specs, state)
    lines = []
    runner.lines.connect(lines.extend)
    runner.start()
    qtbot.waitUntil(lambda: "started" in lines and pid_file.exists(), timeout=15000)
    pids = [runner.pid, int(pid_file.read_text())]
    assert all(psutil.pid_exists(p) for p in pids)

    with qtbot.waitSignal(runner.finished, timeout=15000) as blocker:
        runner.cancel()
    assert blocker.args == ["cancelled"]
    assert wait_until_gone(pids, timeout=5) == []
    record = json.loads((state.run_dir / "run.json").read_text())
    assert record["status"] == "cancelled"
    assert record["steps"][0]["status"] == "cancelled"


def test_cancel_interrupts_a_function_step(qtbot, tmp_path):
    def slow(progress, cancel):
        import time
        while True:
            cancel.raise_if_cancelled()
            time.sleep(0.01)

    runner = PipelineRunner([StepSpec("v", "Validate", lambda s: FunctionStep("v", "Validate", slow))],
                            _state(tmp_path))
    runner.start()
    qtbot.wait(100)
    with qtbot.waitSignal(runner.finished, timeout=5000) as blocker:
        runner.cancel()
    assert blocker.args == ["cancelled"]


def test_a_cancel_after_the_last_step_leaves_the_run_done(qtbot, tmp_path, monkeypatch):
    """The walk had finished when Cancel came: run.json and the window both say done."""
    import forge_gui.gui.runner as runner_module

    state = _state(tmp_path)
    walk = runner_module.run_pipeline

    def walk_then_cancel(specs, st, observer, cancel, start):
        walk(specs, st, observer, cancel, start)
        cancel.cancel()  # the user pressed Cancel right as the last step ended

    monkeypatch.setattr(runner_module, "run_pipeline", walk_then_cancel)
    runner = PipelineRunner([StepSpec("last", "Last",
                                      lambda s: FunctionStep("last", "Last", lambda p, c: None))],
                            state)
    assert _run(qtbot, runner) == "done"
    assert json.loads((state.run_dir / "run.json").read_text())["status"] == "done"
