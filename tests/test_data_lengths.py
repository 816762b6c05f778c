"""Record lengths against the training context (core/data/lengths.py, the Statistics tab)."""

from __future__ import annotations

import json

import pytest

from forge_gui.core.data import ValidationOptions, validate_paths
from forge_gui.core.data.lengths import histogram, record_tokens, stats_rows


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    return path


def test_lengths_are_the_rendered_record_in_each_training_format(tmp_path):
    data = _write(tmp_path / "d.jsonl", [{"instruction": "Hi", "output": "Hello"},
                                         {"instruction": "x" * 4000, "output": "y"}])
    lengths = record_tokens([data], ValidationOptions())
    assert set(lengths) == {"plain", "chatml"}
    short, long = lengths["plain"]
    assert short < 30 and 1000 < long < 1030  # ~4 characters a token, markers included
    assert lengths["chatml"][1] != lengths["plain"][1]  # its own markers


def test_the_histogram_counts_every_record_and_those_over_the_context():
    lengths = [50] * 10 + [300] * 5 + [700, 900, 2000]
    h = histogram(lengths, 512)
    assert sum(h.counts) == 18 and h.over == 3 and h.longest == 2000
    assert h.edges[0] == 0 and h.edges[-1] > 2000 and h.edges[-1] > 512
    widths = {b - a for a, b in zip(h.edges, h.edges[1:], strict=False)}
    assert len(widths) == 1  # equal bins
    assert "3 of 18 records are longer than the 512-token context" in h.sentence()
    assert "will be cut" in h.sentence() and "about 2,000 tokens" in h.sentence()
    chat = histogram(lengths, 512, chat=True)
    assert "3 of 18 conversations" in chat.sentence() and "skipped" in chat.sentence()
    fits = histogram(lengths, 2048, approximate=False)
    assert fits.over == 0 and fits.sentence().startswith("Every record fits the 2048-token")
    assert "about" not in fits.sentence()
    assert histogram([], 512).sentence() == "No records to measure yet."


def test_the_table_says_what_a_person_reads(tmp_path):
    data = _write(tmp_path / "d.jsonl", [{"instruction": "Hi", "output": "Hello"}] * 3
                  + [{"instruction": "Other", "output": "One"}])
    with open(data, "a", encoding="utf-8") as fh:
        fh.write("{broken\n")
    rows = dict(stats_rows(validate_paths([data], ValidationOptions())))
    assert rows["Records kept"] == "4" and rows["Records rejected"] == "1"
    assert rows["Duplicates"] == "2"
    assert rows["Tokens"].startswith("about ")
    assert rows["Formats"] == "alpaca 4"


# family template (the pinned llama.cpp tree), its BOS and EOS texts
TEMPLATES = {
    "meta-llama-Llama-3.2-3B-Instruct": ("<|begin_of_text|>", "<|eot_id|>"),
    "Qwen-Qwen2.5-7B-Instruct": (None, "<|im_end|>"),
    "google-gemma-2-2b-it": ("<bos>", "<eos>"),
}


@pytest.mark.parametrize("name", TEMPLATES)
def test_lengths_are_measured_in_the_bases_own_chat_format(tmp_path, name):
    """The Statistics tab measures what the trainer will read: for a base with a chat template
    (not only Forge's plain text and ChatML), its own rendering, default system prompt, date
    line and markers included."""
    from forge_gui.core.data.lengths import record_shapes
    from forge_gui.core.data.scan import approx_tokens
    from forge_gui.core.formats.template_format import template_format
    from forge_gui.core.llamacpp.build import source_dir

    path = source_dir() / "models" / "templates" / f"{name}.jinja"
    if not path.is_file():
        pytest.skip("the llama.cpp source tree (templates) is not extracted yet")
    fmt = template_format(path.read_text("utf-8"), *TEMPLATES[name])
    records = [
        {"instruction": "Hi", "output": "Hello"},
        {"instruction": "Sum these", "input": "1 2 3", "output": "6"},
        {"messages": [{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": "Name a fruit."},
                      {"role": "assistant", "content": "An apple."},
                      {"role": "user", "content": "And a vegetable?"},
                      {"role": "assistant", "content": "A carrot."}]},
        {"instruction": "x" * 4000, "output": "y"},
    ]
    data = _write(tmp_path / "d.jsonl", records)
    from forge_gui.core.data import iter_conversations

    rendered = [fmt.render_turns(tuple((t.role, t.content, t.input) for t in conv.turns))
                for conv in iter_conversations([data], ValidationOptions())]
    assert record_shapes([data], ValidationOptions()).tokens(fmt) == \
        [approx_tokens(len(text)) for text in rendered]
