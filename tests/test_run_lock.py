"""run.lock: a run whose process died reads as interrupted, a live one as running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from forge_gui.core.runs.run import RunSettings, RunState
from forge_gui.core.runs.run_lock import RunBusy, acquire_run_lock, hold_run_lock, run_is_live
from forge_gui.core.runs.runs_index import list_runs

HOLDER = """
import sys, time
from forge_gui.core.runs.run_lock import acquire_run_lock
lock = acquire_run_lock(sys.argv[1])
print("held", flush=True)
time.sleep(120)
"""


def _running_run(root, name="r"):
    """A run folder as a Forge left it in the middle of training."""
    state = RunState.create(RunSettings(data=[root], name=name), root / name)
    state.mark("train", "running", label="Fine-tune")
    return state


def test_a_killed_holder_leaves_an_interrupted_run(tmp_path):
    state = _running_run(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(state.run_dir)],
                              stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"held"
        assert run_is_live(state.run_dir) is True
        [run] = list_runs(tmp_path)
        assert run.status == "running" and run.step == "Fine-tune"
        with pytest.raises(RunBusy, match=f"process {holder.pid}"):
            acquire_run_lock(state.run_dir)  # a second Forge may not run it too
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # no handler, no clean-up: like a crash
        holder.wait()
    assert run_is_live(state.run_dir) is False
    [run] = list_runs(tmp_path)
    assert run.status == "interrupted" and run.resumable
    assert "Fine-tune" in run.message


def test_the_lock_is_released_when_the_walk_ends(tmp_path):
    state = _running_run(tmp_path)
    with hold_run_lock(state.run_dir):
        assert run_is_live(state.run_dir) is True  # seen from this process too
    assert run_is_live(state.run_dir) is False
    assert json.loads((state.run_dir / "run.json").read_text())["status"] == "pending"


def test_a_run_from_before_the_lock_is_interrupted_not_running(tmp_path):
    state = _running_run(tmp_path)
    assert not (state.run_dir / "run.lock").exists()
    assert run_is_live(state.run_dir) is None
    assert list_runs(tmp_path)[0].status == "interrupted"


def test_run_pipeline_holds_the_lock_while_steps_run(tmp_path):
    from forge_gui.core.base.steps import FunctionStep
    from forge_gui.core.pipeline.walk import run_pipeline
    from forge_gui.core.runs.run import StepSpec

    state = RunState.create(RunSettings(data=[tmp_path], name="p"), tmp_path / "p")
    seen = []

    def work(progress, cancel):
        seen.append((run_is_live(state.run_dir), list_runs(tmp_path)[0].status))

    spec = StepSpec("one", "One", lambda s: FunctionStep(key="one", label="One", run=work))
    run_pipeline([spec], state)
    assert seen == [(True, "running")]
    assert list_runs(tmp_path)[0].status == "done"
    time.sleep(0)  # nothing left behind holding it
    assert run_is_live(state.run_dir) is False
