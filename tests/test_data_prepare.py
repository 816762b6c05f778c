"""Rendering, normalisation paths and prepare: the text the trainer will see."""

from __future__ import annotations

import json
import random

import pytest
from fixtures_data import alpaca, chat, issues, jl

from forge_gui.core.base.steps import Cancelled, CancelToken, StepFailed
from forge_gui.core.data import (
    Conversation,
    DataInputError,
    DataInvalid,
    Turn,
    ValidationOptions,
    iter_conversations,
    prepare_training_data,
    render_conversation,
    validate_paths,
)
from forge_gui.core.data.normalise import fast_normalise, normalise
from forge_gui.core.data.render import measure


def conv(*turns) -> Conversation:
    return Conversation(turns=[Turn(role=r, content=c, input=i) for r, c, i in turns],
                        file="x.jsonl", line=1)


def test_alpaca_renders_in_the_ollama_forge_format():
    text = render_conversation(conv(("user", "Translate.", "Bonjour"), ("assistant", "Hello", None)))
    assert text == ("### Instruction:\nTranslate.\n\n### Input:\nBonjour\n\n"
                    "### Response:\nHello\n")
    text = render_conversation(conv(("user", "Hi?", None), ("assistant", "Hi.", None)))
    assert text == "### Instruction:\nHi?\n\n### Input:\n(none)\n\n### Response:\nHi.\n"


def test_multi_turn_keeps_every_turn_and_the_system_message():
    text = render_conversation(conv(("system", "Be brief.", None), ("user", "Q1", None),
                                    ("assistant", "A1", None), ("user", "Q2", None),
                                    ("assistant", "A2", None)))
    assert text == ("### System:\nBe brief.\n\n"
                    "### Instruction:\nQ1\n\n### Input:\n(none)\n\n### Response:\nA1\n"
                    "\n"
                    "### Instruction:\nQ2\n\n### Input:\n(none)\n\n### Response:\nA2\n")


def test_sharegpt_record_is_read_with_all_turns(write):
    path = write("s.json", json.dumps([{"id": "x", "conversations": [
        {"from": "human", "value": "Q1"}, {"from": "gpt", "value": "A1"},
        {"from": "human", "value": "Q2"}, {"from": "gpt", "value": "A2"},
        {"from": "human", "value": "Q3"}, {"from": "gpt", "value": "A3"}]}]).encode())
    [c] = list(iter_conversations([path]))
    assert [(t.role, t.content) for t in c.turns] == [
        ("user", "Q1"), ("assistant", "A1"), ("user", "Q2"), ("assistant", "A2"),
        ("user", "Q3"), ("assistant", "A3")]
    assert render_conversation(c).count("### Response:") == 3


def test_openai_text_parts_are_joined():
    _, turns, _, _ = normalise({"messages": [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": "c"}]})
    assert turns[0] == ("user", "a\nb", None)


def _random_record(rng: random.Random):
    """Well-formed and awkward records alike, to compare the fast and the precise path."""
    def text() -> str:
        return rng.choice(["x", "hello world", " pad ", "é 東京", "", "  ", "a\nb"])

    kind = rng.randrange(4)
    if kind == 0:
        rec = {"instruction": text(), "output": text()}
        if rng.random() < 0.5:
            rec["input"] = rng.choice([text(), None, 3])
        if rng.random() < 0.2:
            rec["id"] = 1
        return rec
    roles = ["system", "user", "assistant", "tool"]
    if kind == 1:
        return {"messages": [{"role": rng.choice(roles), "content": rng.choice([text(), 5])}
                             for _ in range(rng.randint(0, 5))]}
    froms = ["human", "gpt", "system", "bot"]
    return {"conversations": [{"from": rng.choice(froms), "value": text()}
                              for _ in range(rng.randint(0, 5))], "id": "z"}


def test_fast_path_agrees_with_the_precise_path():
    rng = random.Random(7)
    fast_hits = 0
    for _ in range(5000):
        rec = _random_record(rng)
        if rng.random() < 0.1:  # a key the fast path must not take for one it knows
            rec[rng.choice(["extra", "messages", "output", "system", "input"])] = "x"
        fast = fast_normalise(rec)
        if fast is None:
            continue
        fast_hits += 1
        fmt, turns, extra, warnings = normalise(rec)
        assert (fast[0], fast[1]) == (fmt, turns) and not extra and not warnings, rec
        assert (fast[2], fast[3], fast[4]) == measure(turns), rec
    assert fast_hits > 300


def test_prepare_writes_every_sample_separated_by_a_blank_line(write, tmp_path):
    src = write("a.jsonl", jl(alpaca(1), chat(("q", "a"), ("q2", "a2")), alpaca(2, input="ctx")))
    out = tmp_path / "out" / "train.txt"
    result = prepare_training_data([src], out)
    text = out.read_text("utf-8")
    blocks = [render_conversation(c) for c in iter_conversations([src])]
    assert text == "\n".join(blocks)
    assert (result.samples, result.held_out, result.bytes) == (3, 0, len(text.encode()))
    assert text.count("### Response:") == 4  # both exchanges of the chat record


def test_val_fraction_holds_out_an_exact_seeded_share(write, tmp_path):
    src = write("a.jsonl", jl(*[alpaca(i) for i in range(50)]))
    first = prepare_training_data([src], tmp_path / "t1.txt", val_fraction=0.2, seed=3)
    again = prepare_training_data([src], tmp_path / "t2.txt", val_fraction=0.2, seed=3)
    other = prepare_training_data([src], tmp_path / "t3.txt", val_fraction=0.2, seed=4)
    assert (first.samples, first.held_out) == (40, 10)
    assert first.val_out == tmp_path / "t1.val.txt"
    held = first.val_out.read_text("utf-8")
    assert held == again.val_out.read_text("utf-8") != other.val_out.read_text("utf-8")
    train = (tmp_path / "t1.txt").read_text("utf-8")
    def questions(t: str) -> set[str]:
        return {line for line in t.splitlines() if line.startswith("Question")}

    assert len(questions(held)) == 10 and len(questions(train)) == 40
    assert questions(held).isdisjoint(questions(train))


def test_prepare_refuses_invalid_input_and_writes_nothing(write, tmp_path):
    src = write("a.jsonl", jl(alpaca(1), {"instruction": "x"}))
    out = tmp_path / "train.txt"
    with pytest.raises(DataInvalid) as info:
        prepare_training_data([src], out)
    assert isinstance(info.value, StepFailed)
    assert "1 of 2 records are invalid" in info.value.message
    assert "validate-training-data" in info.value.hint
    assert list(tmp_path.glob("*train*")) == []  # no output, no temp file left behind


def test_prepare_never_writes_over_an_input_file(write):
    src = write("a.jsonl", jl(alpaca(1)))
    before = src.read_bytes()
    with pytest.raises(DataInputError):
        prepare_training_data([write.root], src)
    assert src.read_bytes() == before


def test_progress_is_by_bytes_and_cancel_stops_validation(write, monkeypatch):
    from forge_gui.core.data import scan
    monkeypatch.setattr(scan, "PROGRESS_EVERY", 4096)
    src = write("a.jsonl", jl(*[alpaca(i, output="z" * 200) for i in range(400)]))
    events = []
    validate_paths([src], progress=events.append)
    fractions = [e.fraction for e in events]
    assert len(fractions) > 5 and fractions == sorted(fractions) and fractions[-1] == 1.0
    token = CancelToken()

    def cancel_soon(event):
        token.cancel()

    with pytest.raises(Cancelled):
        validate_paths([src], progress=cancel_soon, cancel=token)


def test_field_map_reads_nested_instances_and_says_what_it_left_out(write):
    src = write("seed.jsonl", jl(
        {"id": "t1", "name": "n", "instruction": "Add.", "is_classification": False,
         "instances": [{"input": "1+1", "output": "2"}]},
        {"id": "t2", "name": "m", "instruction": "Sub.", "is_classification": False,
         "instances": [{"input": "3-1", "output": "2"}, {"input": "5-1", "output": "4"}]}))
    plain = validate_paths([src])
    [schema] = plain.unknown_schemas
    assert schema.records == 2 and schema.first_line == 1
    assert schema.suggested_map == {"input": "instances.0.input", "output": "instances.0.output"}
    assert plain.error_counts == {"unknown_format": 2} and len(plain.errors) == 1
    mapped = validate_paths([src], ValidationOptions(field_map=schema.suggested_map))
    assert (mapped.valid, mapped.invalid) == (2, 0)
    assert [(w.line, w.code) for w in mapped.warnings] == [(1, "unknown_keys"), (2, "partial_map")]
    [first, _] = list(iter_conversations([src], ValidationOptions(field_map=schema.suggested_map)))
    assert first.turns[0].input == "1+1" and first.turns[1].content == "2"


def test_dolly_style_fields_are_suggested_and_mapped(write):
    src = write("dolly.jsonl", jl({"instruction": "Why?", "context": "c", "response": "r",
                                   "category": "qa"}))
    report = validate_paths([src])
    assert report.unknown_schemas[0].suggested_map == {"input": "context", "output": "response"}
    ok = validate_paths([src], ValidationOptions(field_map={"input": "context", "output": "response"}))
    assert ok.ok and [c for c in ok.warning_counts] == ["unknown_keys"]


def test_stats_count_turns_characters_and_mark_tokens_approximate(write):
    src = write("a.jsonl", jl(alpaca(1, input="ctx"), chat(("q", "a"), ("q2", "a2"), system="sys")))
    stats = validate_paths([src]).stats
    assert (stats.records, stats.turns, stats.exchanges) == (2, 7, 3)
    assert stats.chars == {"system": 3, "user": len("Question 1?") + 3, "input": 3,
                           "assistant": len("Answer 1.") + 3}
    assert stats.tokens_approximate is True
    assert stats.formats == {"alpaca": 1, "chat": 1}
    assert stats.length_percentiles["max"] >= stats.length_percentiles["p50"] > 0


def test_parallel_validation_reports_exactly_what_one_process_does(write, monkeypatch):
    from forge_gui.core.data import parallel
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 2048)
    rng = random.Random(3)
    lines = []
    for i in range(600):
        kind = rng.randrange(10)
        lines.append(alpaca(i % 150) if kind < 6 else chat((f"q{i}", "a")) if kind < 8
                     else {"instruction": f"x{i}"} if kind == 8
                     else {"prompt": "p", "completion": "c", **({"n": i} if i % 2 else {})})
    src = write("big.jsonl", jl(*lines) + b"\n\n" + jl(b"{bad", alpaca(1, extra="k")))
    serial = validate_paths([src], ValidationOptions(workers=1, very_long_chars=60))
    forked = validate_paths([src], ValidationOptions(workers=2, very_long_chars=60))
    assert forked.model_dump() == serial.model_dump()
    assert serial.warning_counts["duplicate"] > 100 and len(serial.unknown_schemas) == 2
    assert issues(serial.errors)[-1] == ("big.jsonl", 603, "invalid_json")


def test_parallel_duplicate_check_matches_one_process_once_the_table_is_full(
        write, monkeypatch):
    from forge_gui.core.data import parallel, scan
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 4096)
    monkeypatch.setattr(scan._SeenHashes.__init__, "__defaults__", (0, 1 << 12))
    # 4,096 slots: full after ~2,900 records; repeats come before and after that.
    src = write("big.jsonl", jl(*[alpaca(i % 3500 if i % 7 else i % 50) for i in range(6000)]))
    serial = validate_paths([src], ValidationOptions(workers=1))
    forked = validate_paths([src], ValidationOptions(workers=2, max_issues=0))
    assert not serial.stats.duplicate_check_complete
    serial_all = validate_paths([src], ValidationOptions(workers=1, max_issues=0))
    assert forked.model_dump() == serial_all.model_dump()
    assert serial.warning_counts == forked.warning_counts
    assert forked.warning_counts["duplicate"] > 1000


def test_duplicate_table_grows_then_stops_adding_but_still_compares():
    from forge_gui.core.data.scan import _SeenHashes
    table = _SeenHashes(expected_records=0, max_slots=1 << 13)
    assert table.slots == 1 << 12
    for n in range(1, 5000):
        assert table.check_add(n * 7919, n) is None
    assert table.slots == 1 << 13 and not table.full
    for n in range(5000, 7000):
        table.check_add(n * 7919, n)
    assert table.full and table.count < 1 << 13
    assert table.check_add(7919 * 3, 99) == 3  # remembered before and after growing
    assert table.check_add(7919 * 6999, 99) is None  # arrived after it was full


def test_parallel_prepare_writes_exactly_what_one_process_does(write, tmp_path, monkeypatch):
    from forge_gui.core.data import parallel
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 2048)
    forked = []
    scan_file = parallel.scan_file
    monkeypatch.setattr(parallel, "scan_file", lambda *a: forked.append(a[4]) or scan_file(*a))
    rng = random.Random(5)
    records = [alpaca(i % 90, input="ctx" if i % 3 else None) if rng.random() < 0.6
               else chat((f"q{i}", "a"), (f"q{i}b", "b"), system="s" if i % 2 else None)
               for i in range(500)]
    src = write("big.jsonl", jl(*records))
    runs = {}
    for workers in (1, 2):
        for fraction in (0.0, 0.25):
            out = tmp_path / f"w{workers}-{fraction}.txt"
            result = prepare_training_data([src], out, val_fraction=fraction, seed=9,
                                           options=ValidationOptions(workers=workers))
            val = result.val_out.read_text("utf-8") if result.val_out else None
            runs[workers, fraction] = (out.read_text("utf-8"), val, result.samples,
                                       result.held_out, result.report.model_dump())
    for fraction in (0.0, 0.25):
        assert runs[2, fraction] == runs[1, fraction]
    assert True in forked  # (scanner, path, index, counts, render, sizes): workers rendered
    text, _, samples, _, report = runs[1, 0.0]
    chats = sum(1 for r in records if "messages" in r)
    assert samples == 500 and text.count("### Response:") == 500 + chats  # 2 exchanges a chat
    distinct = {json.dumps(r, sort_keys=True) for r in records}
    assert report["warning_counts"]["duplicate"] == 500 - len(distinct) > 50
    assert (runs[1, 0.25][2], runs[1, 0.25][3]) == (375, 125)
