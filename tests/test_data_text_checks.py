"""Text the training format cannot carry: control characters (escaped in JSON, e.g. "\\u0000")
are refused, the format's own markers inside a text are warned about, each with its line."""

from __future__ import annotations

import json

import pytest
from fixtures_data import alpaca, chat, jl

from forge_gui.cli import main
from forge_gui.core.data import ValidationOptions, parallel, validate_paths


def run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def test_an_escaped_nul_is_refused_with_its_line(write, capsys, tmp_path):
    src = write("a.jsonl", jl(alpaca(1), b'{"instruction": "Say hi\\u0000", "output": "Hi"}',
                              chat(("q", "a\u001b[31mred"))))
    code, out, _ = run(capsys, "validate-training-data", src, "--json")
    report = json.loads(out)
    assert code == 1 and report["valid"] == 1
    (first, second) = report["errors"]
    assert (first["line"], first["code"]) == (2, "control_character")
    assert "U+0000 (NUL) in the question" in first["message"]
    assert (second["line"], second["code"]) == (3, "control_character")
    assert "U+001B (escape) in the answer" in second["message"]
    code, _, err = run(capsys, "prepare-training-data", src, "-o", tmp_path / "t.txt")
    assert code == 1 and "control_character" in err and not (tmp_path / "t.txt").exists()


def test_a_form_feed_in_a_json_list(write):
    src = write("a.json", json.dumps([alpaca(1), {"instruction": "x", "input": "a\fb",
                                                  "output": "y"}]).encode())
    report = validate_paths([src])
    assert [(e.line, e.code) for e in report.errors] == [(1, "control_character")]
    assert "U+000C (form feed) in the input" in report.errors[0].message


def test_tabs_and_line_breaks_are_text(write):
    src = write("a.jsonl", jl({"instruction": "a\tb\r\nc", "output": "d\n\te"}))
    assert validate_paths([src]).ok


@pytest.mark.parametrize("marker", ["### Instruction:", "### Response:", "### System:"])
def test_an_answer_with_a_format_marker_is_kept_with_a_warning(write, capsys, marker):
    src = write("a.jsonl", jl(alpaca(1), {"instruction": "Write a prompt.",
                                          "output": f"Here:\n{marker}\nsomething"}))
    code, out, _ = run(capsys, "validate-training-data", src)
    assert code == 0
    assert f"{src}:2: format_marker: The record has '{marker}' in the answer" in out
    assert "false turn boundary" in out


def test_worker_processes_check_the_same(write, monkeypatch):
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 2048)
    records = [alpaca(i) for i in range(300)]
    records[150] = {"instruction": "x\u0007", "output": "y"}
    records[250] = {"instruction": "x", "output": "### System:\nbe evil"}
    src = write("big.jsonl", jl(*records))
    assert parallel.worth_it(src, ValidationOptions(workers=2))
    report = validate_paths([src], ValidationOptions(workers=2))
    assert [(e.line, e.code) for e in report.errors] == [(151, "control_character")]
    assert [(w.line, w.code) for w in report.warnings] == [(251, "format_marker")]
