"""Run folders: run.json kept in step, atomic writes, commands recorded, pipeline walk."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from forge_gui.core.base.atomic import atomic_open, atomic_write_text
from forge_gui.core.base.steps import FunctionStep, ProcessStep, StepFailed
from forge_gui.core.pipeline.walk import run_pipeline
from forge_gui.core.runs.run import RunSettings, RunState, StepSpec


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half of the new")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temp left behind


def test_run_folder_refuses_a_non_empty_workdir(tmp_path):
    (tmp_path / "mine.txt").write_text("user file")
    with pytest.raises(FileExistsError):
        RunState.create(RunSettings(data=[tmp_path], name="m"), workdir=tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "user file"


def test_pipeline_records_commands_statuses_and_failures(tmp_path):
    state = RunState.create(RunSettings(data=[Path("d.jsonl")], name="m"), workdir=tmp_path / "run")

    def produce(progress, cancel):
        state.artifacts.samples = 3

    def fail(progress, cancel):
        raise StepFailed("Nothing to train.", "Use a smaller context.")

    specs = [
        StepSpec("prep", "Prepare", lambda s: FunctionStep("prep", "Prepare", produce)),
        StepSpec("convert", "Convert", lambda s: None),
        StepSpec("echo", "Echo", lambda s: ProcessStep("echo", "Echo", [sys.executable, "-c", "print(1)"],
                                                      log_path=s.log_path("echo"))),
        StepSpec("train", "Train", lambda s: FunctionStep("train", "Train", fail)),
    ]
    with pytest.raises(StepFailed):
        run_pipeline(specs, state)

    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert [(s["key"], s["status"]) for s in record["steps"]] == [
        ("prep", "done"), ("convert", "skipped"), ("echo", "done"), ("train", "failed")]
    assert record["status"] == "failed"
    assert record["artifacts"]["samples"] == 3
    assert "Use a smaller context." in record["steps"][3]["message"]
    argv = json.loads((tmp_path / "run" / "commands" / "echo.json").read_text())["argv"]
    assert argv == [sys.executable, "-c", "print(1)"]
    assert (tmp_path / "run" / "logs" / "echo.log").read_text().strip() == "1"

    # Retry from the failed step only: earlier results stay in the run state.
    specs[3] = StepSpec("train", "Train", lambda s: FunctionStep("train", "Train", lambda p, c: None))
    run_pipeline(specs, RunState.load(tmp_path / "run"), start=3)
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "done" and record["steps"][3]["status"] == "done"


def test_atomic_writes_get_the_mode_a_plain_open_would_give(tmp_path):
    import os
    import stat
    atomic_write_text(tmp_path / "a.txt", "x")
    (tmp_path / "b.txt").write_text("x")
    mode = lambda p: stat.S_IMODE(os.stat(p).st_mode)  # noqa: E731
    assert mode(tmp_path / "a.txt") == mode(tmp_path / "b.txt")


def test_settings_check_themselves_with_one_sentence(tmp_path):
    from forge_gui.core.runs.run import SettingsError

    for bad, words in (({"ctx": 300}, "multiple of 256"), ({"ctx": 0}, "multiple of 256"),
                       ({"epochs": 0}, "epochs"), ({"learning_rate": 0.0}, "learning rate"),
                       ({"lora_rank": 1000}, "LoRA rank"), ({"val_split": 1.0}, "validation"),
                       ({"name": "bad name"}, "cannot be an Ollama model name"),
                       ({"base": "-x"}, "cannot be an Ollama model name")):
        with pytest.raises(SettingsError) as exc:
            RunSettings.checked(data=[tmp_path], **{"name": "ok", **bad})
        message = str(exc.value)
        assert words in message and "\n" not in message and "validation error" not in message
    assert RunSettings.checked(data=[tmp_path], name="me/ok:v1", ctx=1024).ctx == 1024


def test_a_run_made_under_looser_rules_still_loads(tmp_path):
    """Older versions let the app pick any context: such a run folder can still be shown
    and resumed (run.json is read as it was written)."""
    state = RunState.create(RunSettings(data=[tmp_path], name="old"), tmp_path / "run")
    record = json.loads((state.run_dir / "run.json").read_text("utf-8"))
    record["settings"]["ctx"] = 320
    (state.run_dir / "run.json").write_text(json.dumps(record), "utf-8")
    assert RunState.load(state.run_dir).settings.ctx == 320
