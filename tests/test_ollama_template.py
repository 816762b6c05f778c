"""The TEMPLATE Forge gives Ollama renders exactly the text the trainer saw (docs/ollama.md,
"What Forge gives Ollama").

Templates are rendered with Go's own text/template (tests/gorender.py, the go_template
fixture), the engine Ollama runs, and compared character for character with prepare's output.
"""

from __future__ import annotations

import json

from forge_gui.core.data import iter_conversations, prepare_training_data, render_conversation
from forge_gui.core.data.models import Conversation
from forge_gui.core.formats.chat_format import PLAIN

TEMPLATE, STOP_MARKERS = PLAIN.go_template, PLAIN.stop_markers

RECORDS = [
    {"instruction": "Name a colour.", "output": "Blue."},
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
    {"messages": [{"role": "system", "content": "Be brief.\nAlways."},
                  {"role": "user", "content": "What is 2+2?"},
                  {"role": "assistant", "content": "4"},
                  {"role": "user", "content": "And 3+3?\n\nThink."},
                  {"role": "assistant", "content": "6\n\n(six)"}]},
    {"conversations": [{"from": "human", "value": "Ping {{ .Prompt }} \"q\""},
                       {"from": "gpt", "value": "Pong ### not a marker"},
                       {"from": "human", "value": "Again"},
                       {"from": "gpt", "value": "Pong"},
                       {"from": "human", "value": "Once more"},
                       {"from": "gpt", "value": "Pong!"}]},
    {"messages": [{"role": "system", "content": "First rules."},
                  {"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
                  {"role": "system", "content": "New rules from here on."},
                  {"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2"}]},
    {"messages": [{"role": "system", "content": "Système ✓"},
                  {"role": "user", "content": "Grüß dich"},
                  {"role": "assistant", "content": "Hallo 🙂"}]},
]


def _ollama_values(conv: Conversation) -> dict:
    """What Ollama gives a .Messages template (template.go: collate): the messages in order,
    consecutive ones of one role merged with a blank line, and .System (all system texts)."""
    messages: list[tuple[str, str]] = []
    for t in conv.turns:
        if messages and messages[-1][0] == t.role:
            messages[-1] = (t.role, messages[-1][1] + "\n\n" + t.content)
        else:
            messages.append((t.role, t.content))
    system = "\n\n".join(t.content for t in conv.turns if t.role == "system")
    return {"system": system, "messages": messages}


def _conversations(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS), "utf-8")
    return data, list(iter_conversations([data]))


def test_template_renders_each_record_exactly_as_the_training_text(tmp_path, go_template):
    _, convs = _conversations(tmp_path)
    assert len(convs) == len(RECORDS)
    for conv in convs:
        assert go_template(TEMPLATE, **_ollama_values(conv)) == render_conversation(conv)


def test_template_reproduces_the_whole_prepared_file(tmp_path, go_template):
    data, convs = _conversations(tmp_path)
    out = tmp_path / "train.txt"
    prepare_training_data([data], out)
    rendered = "\n".join(go_template(TEMPLATE, **_ollama_values(c)) for c in convs)
    assert out.read_text("utf-8").rstrip("\n") == rendered.rstrip("\n")
    assert rendered in out.read_text("utf-8")


def test_a_new_question_ends_where_the_model_learned_to_answer(tmp_path, go_template):
    _, convs = _conversations(tmp_path)
    conv = convs[2]  # system + two exchanges
    history = conv.turns[:-1]  # the last answer is what the model must produce
    assert history[0].role == "system"  # Ollama always passes SYSTEM as the first message
    prompt = go_template(TEMPLATE, [(t.role, t.content) for t in history],
                         system="Be brief.\nAlways.")
    full = render_conversation(conv)
    assert prompt.endswith("### Response:\n")
    assert full == prompt + conv.turns[-1].content + "\n"


def test_stop_markers_are_what_follows_a_response_in_the_training_text(tmp_path):
    data, convs = _conversations(tmp_path)
    out = tmp_path / "train.txt"
    prepare_training_data([data], out)
    text, pos, followers = out.read_text("utf-8"), 0, []
    for conv in convs:
        for answer in (t.content for t in conv.turns if t.role == "assistant"):
            end = text.index(f"### Response:\n{answer}\n", pos) + len(f"### Response:\n{answer}\n")
            followers.append(text[end:end + 40].lstrip("\n"))
            pos = end
    assert followers[-1] == ""  # the end of the file
    assert all(f.startswith(STOP_MARKERS) for f in followers[:-1])
    assert any(f.startswith("### System:") for f in followers)
    assert set(STOP_MARKERS) == {"### Instruction:", "### System:"}


def test_alpaca_input_is_the_one_field_chat_cannot_carry(tmp_path, go_template):
    """Documented: Ollama's chat has no `input`; the template always says '(none)'."""
    data = tmp_path / "alpaca.jsonl"
    data.write_text(json.dumps({"instruction": "Translate.", "input": "Hallo", "output": "Hello"})
                    + "\n", "utf-8")
    (conv,) = iter_conversations([data])
    rendered = go_template(TEMPLATE, **_ollama_values(conv))
    assert "### Input:\nHallo\n" in render_conversation(conv)
    assert rendered == render_conversation(conv).replace("### Input:\nHallo\n", "### Input:\n(none)\n")
