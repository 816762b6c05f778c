"""forge-cli runs: every run under the runs folder with its status and figures."""

from __future__ import annotations

import json

from forge_gui.cli import main
from forge_gui.core.base import paths
from forge_gui.core.evaluation.loss_curve import loss_points
from forge_gui.core.runs.evaluation_result import EvaluationResult, HeldOutLoss, save_result
from forge_gui.core.runs.run import RunSettings, RunState, StepStatus
from forge_gui.core.runs.runs_index import delete_run, list_runs

TRAIN_LOG = ("train: [▏] data=0000001/0000002 loss=9.5±nan acc=1.00±0.10% t=00:00:01 ETA=00:00:01\r"
             "train: [█] data=0000002/0000002 loss=8.5±0.2 acc=1.00±0.10% t=00:00:01 ETA=00:00:00\n"
             "val:   [█] data=0000001/0000001 loss=8.9±nan acc=1.00±0.10% t=00:00:00\n"
             "train: [▏] data=0000001/0000002 loss=6.5±nan acc=1.00±0.10% t=00:00:01 ETA=00:00:01\r"
             "train: [█] data=0000002/0000002 loss=5.5±0.2 acc=1.00±0.10% t=00:00:01 ETA=00:00:00\n"
             "val:   [█] data=0000001/0000001 loss=6.1±nan acc=1.00±0.10% t=00:00:00\n")


def make_runs(tmp_path) -> dict[str, RunState]:
    """Runs in every state, as the CLI and the GUI leave them, under runs_dir()."""
    data = tmp_path / "colours.jsonl"
    data.write_text('{"instruction": "Hi", "output": "Hello"}\n')
    runs = {}
    outcomes: tuple[tuple[str, StepStatus], ...] = (
        ("good", "done"), ("broken", "failed"), ("stopped", "cancelled"), ("killed", "running"))
    for name, outcome in outcomes:
        settings = RunSettings(data=[data], name=name, base="llama3.2:1b-instruct-fp16", epochs=2,
                               method="full")
        state = RunState.create(settings, paths.runs_dir() / name)
        state.mark("train", "running", label="Fine-tune")
        if outcome == "done":
            state.mark("train", "done")
            state.artifacts.train_loss_first, state.artifacts.train_loss_last = 9.5, 5.5
            state.artifacts.model = "good:latest"
            state.record.status = "done"
            state.save()
            state.log_path("train").write_text(TRAIN_LOG)
            save_result(state.run_dir, EvaluationResult(
                base=HeldOutLoss(gguf=data, perplexity=33000.0, loss=10.404),
                tuned=HeldOutLoss(gguf=data, perplexity=20.0, loss=2.996)))
        elif outcome != "running":
            state.mark("train", outcome, "llama-finetune failed (exit code 1)."
                       if outcome == "failed" else "Cancelled by the user.")
        runs[name] = state
    return runs


def test_every_run_is_listed_with_its_status_and_figures(tmp_path):
    runs = make_runs(tmp_path)
    found = {r.name: r for r in list_runs()}
    assert {n: r.status for n, r in found.items()} == {
        "good": "done", "broken": "failed", "stopped": "cancelled", "killed": "interrupted"}
    good = found["good"]
    assert (good.base_loss, good.tuned_loss) == (10.404, 2.996)
    assert (good.train_loss_first, good.train_loss_last) == (9.5, 5.5)
    assert good.model == "good:latest" and good.method == "full (llama.cpp)"
    assert good.base == "llama3.2:1b-instruct-fp16" and good.data == [str(tmp_path / "colours.jsonl")]
    assert good.duration_seconds is not None
    assert found["broken"].message == "llama-finetune failed (exit code 1)."
    assert found["killed"].step == "Fine-tune" and found["killed"].resumable
    assert not good.resumable
    # the chart of a finished run, from its log: x in epochs
    train, val = loss_points(runs["good"].run_dir)
    assert train == [(0.5, 9.5), (1.0, 8.5), (1.5, 6.5), (2.0, 5.5)]
    assert val == [(1.0, 8.9), (2.0, 6.1)]


def test_forge_cli_runs_prints_the_table_and_json(tmp_path, capsys):
    make_runs(tmp_path)
    assert main(["runs"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:6] == ["status", "created", "name", "base", "method", "data"]
    good = next(line for line in out if line.startswith("done"))
    assert "good:latest" in good and "10.404 → 2.996" in good and "9.500 → 5.500" in good
    assert any(line.startswith("interrupted") and "killed" in line for line in out)
    assert main(["runs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(r["status"] for r in listed) == ["cancelled", "done", "failed", "interrupted"]


def test_forge_cli_runs_with_no_runs_and_a_bad_folder(tmp_path, capsys):
    assert main(["runs"]) == 0
    assert "No runs yet" in capsys.readouterr().err
    assert main(["runs", "--dir", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.strip() == f"forge-cli: error: {tmp_path / 'nope'} is not a folder."


def test_a_damaged_run_json_is_listed_not_fatal(tmp_path):
    bad = paths.runs_dir() / "bad"
    bad.mkdir(parents=True)
    (bad / "run.json").write_text("{not json")
    [run] = list_runs()
    assert run.status == "unreadable" and "cannot be read" in run.message


def test_delete_removes_only_a_run_folder(tmp_path):
    runs = make_runs(tmp_path)
    delete_run(runs["broken"].run_dir)
    assert not runs["broken"].run_dir.exists()
    import pytest

    from forge_gui.core.runs.runs_index import RunDeleteError

    with pytest.raises(RunDeleteError, match="not a Forge run folder"):
        delete_run(tmp_path)
    assert (tmp_path / "colours.jsonl").exists()
