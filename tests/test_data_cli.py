"""forge-cli validate-training-data / prepare-training-data / train-data init, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

from fixtures_data import alpaca, chat, jl

from forge_gui.cli import main


def run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_all_good_exits_0_with_counts(write, capsys):
    write("a.jsonl", jl(alpaca(1), chat(("q", "a"))))
    code, out, _ = run(capsys, "validate-training-data", write.root)
    assert code == 0
    assert "Checked 1 file: 2 records, 2 valid, 0 invalid." in out
    assert "approximate" in out


def test_validate_shows_counts_per_code_and_only_the_first_20_errors(write, capsys):
    write("a.jsonl", jl(*([alpaca(1)] + [{"instruction": "x"}] * 25 + ["[1]"] * 5)))
    code, out, _ = run(capsys, "validate-training-data", write.root)
    assert code == 1
    assert "31 records, 1 valid, 30 invalid" in out
    assert "missing_field" in out and "25" in out and "not_object" in out
    listed = [line for line in out.splitlines() if "a.jsonl:" in line]
    assert len(listed) == 20 and listed[0].strip().startswith(str(write.root / "a.jsonl") + ":2:")
    assert "Run with --json or --report FILE for the full list." in out


def test_validate_json_prints_the_report_shape(write, capsys):
    write("a.jsonl", jl(alpaca(1), b"{broken"))
    code, out, _ = run(capsys, "validate-training-data", write.root, "--json")
    assert code == 1
    report = json.loads(out)
    assert report["files"] == [{"path": str(write.root / "a.jsonl"), "records": 2, "valid": 1,
                                "invalid": 1, "format": "jsonl"}]
    assert (report["valid"], report["invalid"]) == (1, 1)
    assert report["errors"] == [{"file": str(write.root / "a.jsonl"), "line": 2,
                                 "code": "invalid_json", "message": report["errors"][0]["message"]}]
    assert report["warnings"] == [] and report["stats"]["records"] == 1


def test_validate_report_file_and_refusal_to_write_over_input(write, capsys, tmp_path):
    src = write("a.jsonl", jl(alpaca(1)))
    code, out, _ = run(capsys, "validate-training-data", src, "--report", tmp_path / "r.json")
    assert code == 0 and json.loads((tmp_path / "r.json").read_text())["valid"] == 1
    before = src.read_bytes()
    code, _, err = run(capsys, "validate-training-data", src, "--report", src)
    assert code == 2 and "never writes over" in err and src.read_bytes() == before


def test_validate_unreadable_path_exits_2_without_traceback(tmp_path, capsys):
    code, _, err = run(capsys, "validate-training-data", tmp_path / "nope.jsonl")
    assert code == 2
    assert "does not exist" in err and "Traceback" not in err


def test_validate_bad_map_is_a_usage_error(write, capsys):
    write("a.jsonl", jl(alpaca(1)))
    code, _, err = run(capsys, "validate-training-data", write.root, "--map", "output")
    assert code == 2 and "new=old" in err


def test_unknown_schema_is_explained_once_and_map_fixes_it(write, capsys):
    write("d.jsonl", jl(*[{"instruction": f"q{i}", "context": "", "response": "r",
                           "category": "qa"} for i in range(30)]))
    code, out, _ = run(capsys, "validate-training-data", write.root)
    assert code == 1
    assert out.count("--map input=context,output=response") == 1
    assert "d.jsonl:" not in out.split("Errors by code:")[1]  # not 30 identical line errors
    code, out, _ = run(capsys, "validate-training-data", write.root,
                       "--map", "input=context,output=response")
    assert code == 0 and "30 valid" in out


def test_strict_turns_unknown_keys_into_errors(write, capsys):
    write("a.jsonl", jl(alpaca(1, note="x")))
    assert run(capsys, "validate-training-data", write.root)[0] == 0
    assert run(capsys, "validate-training-data", write.root, "--strict")[0] == 1


def test_prepare_prints_summary_and_next_step(write, capsys, tmp_path):
    write("a.jsonl", jl(*[alpaca(i) for i in range(10)]))
    out_file = tmp_path / "train.txt"
    code, out, _ = run(capsys, "prepare-training-data", write.root, "-o", out_file,
                       "--val-fraction", "0.2", "--seed", "1")
    size = out_file.stat().st_size
    assert code == 0
    assert f"Prepared 8 samples (2 held out) → {out_file} ({size:,} bytes)" in out
    assert (tmp_path / "train.val.txt").exists()
    assert "Next: forge-cli train-run --data" in out


def test_prepare_refuses_existing_output_unless_forced(write, capsys, tmp_path):
    write("a.jsonl", jl(alpaca(1)))
    out_file = tmp_path / "train.txt"
    out_file.write_text("mine")
    code, _, err = run(capsys, "prepare-training-data", write.root, "-o", out_file)
    assert code == 2 and "already exists" in err and out_file.read_text() == "mine"
    code, _, _ = run(capsys, "prepare-training-data", write.root, "-o", out_file, "--force")
    assert code == 0 and out_file.read_text().startswith("### Instruction:")


def test_prepare_refuses_invalid_data_and_points_to_validate(write, capsys, tmp_path):
    write("a.jsonl", jl(alpaca(1), b"{"))
    code, _, err = run(capsys, "prepare-training-data", write.root, "-o", tmp_path / "t.txt")
    assert code == 1 and "validate-training-data" in err and not (tmp_path / "t.txt").exists()


def test_prepare_refuses_to_write_over_an_input(write, capsys):
    src = write("a.jsonl", jl(alpaca(1)))
    code, _, err = run(capsys, "prepare-training-data", src, "-o", src, "--force")
    assert code == 2 and "never writes over" in err


def test_train_data_init_writes_sample_that_validates_and_never_overwrites(tmp_path, capsys):
    dest = tmp_path / "mydata"
    code, out, _ = run(capsys, "train-data", "init", "--out", dest)
    assert code == 0 and (dest / "README.md").exists() and (dest / "sample.jsonl").exists()
    code, out, _ = run(capsys, "validate-training-data", dest)
    assert code == 0 and "alpaca" in out and "chat" in out
    (dest / "sample.jsonl").write_text("my own data")
    code, _, err = run(capsys, "train-data", "init", "--out", dest)
    assert code == 2 and "already exists" in err
    assert (dest / "sample.jsonl").read_text() == "my own data"


def test_the_installed_command_runs(write):
    write("a.jsonl", jl(alpaca(1)))
    result = subprocess.run([sys.executable, "-m", "forge_gui.cli", "validate-training-data",
                             str(write.root), "--json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["valid"] == 1
