"""The bad-input corpus: every case names the exact file, line and code a user is shown."""

from __future__ import annotations

import json
import tracemalloc

import pytest
from fixtures_data import alpaca, chat, issues, jl

from forge_gui.core.data import ValidationOptions, validate_paths

GOOD = alpaca(1)

# name -> (files {name: bytes}, options, expected errors, expected warnings or None to ignore)
CASES = {
    "invalid_json": ({"a.jsonl": jl(GOOD, b'{"instruction": "x", "output": }')}, {},
                     [("a.jsonl", 2, "invalid_json")], []),
    "single_quotes": ({"a.jsonl": jl(b"{'instruction': 'x'}", GOOD)}, {},
                      [("a.jsonl", 1, "invalid_json")], []),
    "invalid_utf8": ({"a.jsonl": jl(GOOD, alpaca(2), b'{"instruction": "caf\xe9", "output": "x"}')},
                     {}, [("a.jsonl", 3, "invalid_utf8")], []),
    "surrogate_escape": ({"a.jsonl": jl(GOOD, rb'{"instruction": "bad \ud800 half", "output": "x"}')},
                         {}, [("a.jsonl", 2, "invalid_utf8")], []),
    "not_object_list": ({"a.jsonl": jl(GOOD, [1, 2])}, {}, [("a.jsonl", 2, "not_object")], []),
    "not_object_string": ({"a.jsonl": jl('"just text"', GOOD)}, {},
                          [("a.jsonl", 1, "not_object")], []),
    "unknown_format_once": ({"a.jsonl": jl({"prompt": "p", "completion": "c"},
                                           {"prompt": "q", "completion": "d"},
                                           {"prompt": "r", "completion": "e"})}, {},
                            [("a.jsonl", 1, "unknown_format")], []),
    "missing_output": ({"a.jsonl": jl(GOOD, {"instruction": "only a question"})}, {},
                       [("a.jsonl", 2, "missing_field")], []),
    "missing_content": ({"a.jsonl": jl({"messages": [{"role": "user"},
                                                    {"role": "assistant", "content": "a"}]})},
                        {}, [("a.jsonl", 1, "missing_field")], []),
    "missing_from": ({"a.jsonl": jl({"conversations": [{"value": "hi"}]})}, {},
                     [("a.jsonl", 1, "missing_field")], []),
    "wrong_type_output": ({"a.jsonl": jl(GOOD, alpaca(2), {"instruction": "x", "output": 42})},
                          {}, [("a.jsonl", 3, "wrong_type")], []),
    "non_string_content": ({"a.jsonl": jl(chat(("q", "a")), {"messages": [
                               {"role": "user", "content": {"text": "q"}},
                               {"role": "assistant", "content": "a"}]})}, {},
                           [("a.jsonl", 2, "wrong_type")], []),
    "image_part": ({"a.jsonl": jl({"messages": [
                       {"role": "user", "content": [{"type": "image_url", "image_url": "x"}]},
                       {"role": "assistant", "content": "a"}]})}, {},
                   [("a.jsonl", 1, "wrong_type")], []),
    "messages_not_list": ({"a.jsonl": jl({"messages": "hello"})}, {},
                          [("a.jsonl", 1, "wrong_type")], []),
    "empty_output": ({"a.jsonl": jl(GOOD, {"instruction": "x", "output": "   "})}, {},
                     [("a.jsonl", 2, "empty_field")], []),
    "empty_messages": ({"a.jsonl": jl({"messages": []})}, {}, [("a.jsonl", 1, "empty_field")], []),
    "unknown_role_chat": ({"a.jsonl": jl(GOOD, {"messages": [
                              {"role": "user", "content": "q"},
                              {"role": "tool", "content": "{}"},
                              {"role": "assistant", "content": "a"}]})}, {},
                          [("a.jsonl", 2, "unknown_role")], []),
    "unknown_role_sharegpt": ({"a.jsonl": jl({"conversations": [
                                  {"from": "human", "value": "q"}, {"from": "bot", "value": "a"}]})},
                              {}, [("a.jsonl", 1, "unknown_role")], []),
    "no_user_turn": ({"a.jsonl": jl({"messages": [{"role": "system", "content": "s"},
                                                  {"role": "assistant", "content": "a"}]})},
                     {}, [("a.jsonl", 1, "no_user_turn")], []),
    "no_assistant_turn": ({"a.jsonl": jl(GOOD, {"messages": [{"role": "user", "content": "q"}]})},
                          {}, [("a.jsonl", 2, "no_assistant_turn")], []),
    "answer_before_question": ({"a.jsonl": jl({"messages": [
                                   {"role": "assistant", "content": "Hi!"},
                                   {"role": "user", "content": "q"},
                                   {"role": "assistant", "content": "a"}]})}, {},
                               [("a.jsonl", 1, "turn_order")], []),
    "line_too_long_configured": ({"a.jsonl": jl(GOOD, alpaca(2, output="x" * 500), alpaca(3))},
                                 {"max_line_bytes": 200}, [("a.jsonl", 2, "line_too_long")], []),
    "unknown_keys_warning": ({"a.jsonl": jl(alpaca(1, category="qa"), alpaca(2, category="qa"))},
                             {}, [], [("a.jsonl", 1, "unknown_keys")]),
    "unknown_keys_strict": ({"a.jsonl": jl(GOOD, alpaca(2, category="qa"), alpaca(3, category="x"))},
                            {"strict": True},
                            [("a.jsonl", 2, "unknown_keys"), ("a.jsonl", 3, "unknown_keys")], []),
    "duplicate": ({"a.jsonl": jl(alpaca(1), alpaca(2), alpaca(1))}, {}, [],
                  [("a.jsonl", 3, "duplicate")]),
    "duplicate_across_formats": ({"a.jsonl": jl(alpaca(1)),
                                  "b.jsonl": jl(chat(("Question 1?", "Answer 1.")))},
                                 {}, [], [("b.jsonl", 1, "duplicate")]),
    "ends_with_user_turn": ({"a.jsonl": jl({"messages": [
                                {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"},
                                {"role": "user", "content": "thanks"}]})}, {}, [],
                            [("a.jsonl", 1, "ends_with_user_turn")]),
    "very_long": ({"a.jsonl": jl(GOOD, alpaca(2, output="y" * 200))}, {"very_long_chars": 150}, [],
                  [("a.jsonl", 2, "very_long")]),
    "merged_turns": ({"a.jsonl": jl({"messages": [
                         {"role": "user", "content": "q1"}, {"role": "user", "content": "q2"},
                         {"role": "assistant", "content": "a"}]})}, {}, [],
                     [("a.jsonl", 1, "merged_turns")]),
    "empty_file": ({"a.jsonl": b""}, {}, [("a.jsonl", 0, "no_records")],
                   [("a.jsonl", 0, "empty_file")]),
    "only_blank_lines": ({"a.jsonl": b"\n\n  \n\r\n"}, {}, [("a.jsonl", 0, "no_records")],
                         [("a.jsonl", 0, "empty_file")]),
    "blank_lines_between": ({"a.jsonl": b"\n" + jl(GOOD) + b"\n\n" + jl(b"{oops")}, {},
                            [("a.jsonl", 5, "invalid_json")], []),
    "binary_file": ({"a.jsonl": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8}, {},
                    [("a.jsonl", 0, "binary_file")], []),
    "utf16_file": ({"a.jsonl": "\ufeff".encode("utf-16-le") + json.dumps(GOOD).encode("utf-16-le")},
                   {}, [("a.jsonl", 0, "invalid_utf8")], []),
    "nul_byte": ({"a.jsonl": jl(GOOD, b'{"instruction": "x\x00", "output": "y"}', alpaca(3))}, {},
                 [("a.jsonl", 2, "invalid_json")], []),
    "last_line_without_newline_bad": ({"a.jsonl": jl(GOOD, alpaca(2)) + b'{"instruction": 1, "output": "x"}'},
                                      {}, [("a.jsonl", 3, "wrong_type")], []),
    "truncated_last_line": ({"a.jsonl": jl(GOOD, alpaca(2)) + b'{"instruction": "x", "outp'}, {},
                            [("a.jsonl", 3, "invalid_json")], []),
    "bom_and_crlf": ({"a.jsonl": b"\xef\xbb\xbf" + jl(GOOD).replace(b"\n", b"\r\n")
                      + b'{"output": 5, "instruction": "x"}\r\n'}, {},
                     [("a.jsonl", 2, "wrong_type")], []),
    "array_bad_element": ({"a.json": json.dumps([GOOD, alpaca(2), "oops", alpaca(4)], indent=2).encode()},
                          {}, [("a.json", 10, "not_object")], []),
    "array_syntax_error": ({"a.json": b'[\n  {"instruction": "a", "output": "b"},\n'
                                      b'  {"instruction": "c" "output": "d"}\n]'},
                           {}, [("a.json", 3, "invalid_json")], []),
    "array_unclosed": ({"a.json": b'[\n {"instruction": "a", "output": "b"},\n'}, {},
                       [("a.json", 3, "invalid_json")], []),
    "array_too_large": ({"a.json": json.dumps([alpaca(i) for i in range(50)]).encode()},
                        {"max_array_bytes": 1000}, [("a.json", 0, "file_too_large")], []),
    "jsonl_starting_with_a_list": ({"a.jsonl": jl([alpaca(1)], alpaca(2), alpaca(3))}, {},
                                   [("a.jsonl", 1, "not_object")], []),
    "array_with_text_after_it": ({"a.json": b'[{"instruction": "a", "output": "b"}]\n{"x": 1}\n'},
                                 {}, [("a.json", 2, "invalid_json")], []),
    "json_single_pretty_object": ({"a.json": json.dumps(alpaca(1), indent=2).encode()
                                   + b"\n"}, {}, [], []),
    "json_single_bad_object": ({"a.json": json.dumps({"instruction": "x", "output": 3},
                                                     indent=2).encode()}, {},
                               [("a.json", 1, "wrong_type")], []),
    "mixed_formats_one_file": ({"a.jsonl": jl(GOOD, chat(("q", "a"), system="s"),
                                              {"conversations": [{"from": "human", "value": "q2"},
                                                                 {"from": "gpt", "value": "a2"}]},
                                              {"messages": [{"role": "user", "content": "only"}]},
                                              alpaca(5, input="ctx"))}, {},
                               [("a.jsonl", 4, "no_assistant_turn")], []),
    "folder_with_other_files": ({"notes.txt": b"not data", "img.png": b"\x89PNG",
                                 "sub/b.jsonl": jl(GOOD, b"["), ".git/x.jsonl": b"{",
                                 "a.json": json.dumps([alpaca(7)]).encode()},
                                {}, [("b.jsonl", 2, "invalid_json")], []),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_reported_with_file_line_and_code(name, write):
    files, options, errors, warnings = CASES[name]
    for fname, content in files.items():
        write(fname, content)
    report = validate_paths([write.root], ValidationOptions(**options))
    assert issues(report.errors) == errors
    if warnings is not None:
        assert issues(report.warnings) == warnings
    assert not report.ok if errors else report.ok
    for issue in report.errors + report.warnings:
        assert issue.message[0].isupper() and issue.message.endswith((".", ")")), issue.message


def test_corpus_covers_every_documented_code():
    seen = {code for _, _, errs, warns in CASES.values() for _, _, code in errs + (warns or [])}
    documented = {"invalid_json", "invalid_utf8", "not_object", "unknown_format", "missing_field",
                  "wrong_type", "empty_field", "unknown_role", "no_user_turn", "no_assistant_turn",
                  "line_too_long", "unknown_keys", "duplicate", "ends_with_user_turn", "very_long",
                  "binary_file", "empty_file", "no_records", "file_too_large", "turn_order",
                  "merged_turns"}
    assert documented <= seen
    assert len(CASES) >= 30


def test_a_50_megabyte_line_is_skipped_without_reading_it_whole(write):
    path = write("big.jsonl", b"")
    with open(path, "wb") as fh:
        fh.write(jl(GOOD))
        fh.write(b'{"instruction": "x", "output": "' + b"y" * (50 * 1024 * 1024) + b'"}\n')
        fh.write(jl(alpaca(3)))
    tracemalloc.start()
    try:
        report = validate_paths([path])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 30 * 1024 * 1024  # a few 8 MiB read buffers, never the 50 MB line
    assert issues(report.errors) == [("big.jsonl", 2, "line_too_long")]
    assert "50.0 MiB" in report.errors[0].message
    assert (report.valid, report.invalid) == (2, 1)  # the line after it is read normally


def test_folder_report_lists_taken_and_skipped_files(write):
    files, _, _, _ = CASES["folder_with_other_files"]
    for fname, content in files.items():
        write(fname, content)
    report = validate_paths([write.root])
    taken = [f.path for f in report.files]
    assert taken == [str(write.root / "a.json"), str(write.root / "sub" / "b.jsonl")]
    skipped = {s.path.split("/data/")[1]: s.reason for s in report.skipped_paths}
    assert skipped == {"img.png": "not a .jsonl or .json file",
                       "notes.txt": "not a .jsonl or .json file", ".git": "hidden folder"}
    assert [(f.records, f.valid, f.invalid) for f in report.files] == [(1, 1, 0), (2, 1, 1)]


def test_a_file_given_twice_is_read_once(write):
    src = write("a.jsonl", jl(alpaca(1), alpaca(2)))
    report = validate_paths([write.root, src])
    assert (report.valid, report.warning_counts) == (2, {})
    assert [s.reason for s in report.skipped_paths] == ["already read"]
