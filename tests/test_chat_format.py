"""The training text equals what the Ollama TEMPLATE renders, with real Go text/template.

For each format Forge trains in, and for single-turn, multi-turn and system-prompt records:
Ollama renders the conversation up to a user turn and the model continues from there, so
every assistant answer in the training text must start exactly where the TEMPLATE's rendering
of the messages before it ends, and the training text must go on with the answer followed by
the format's stop marker.
"""

from __future__ import annotations

import pytest

from forge_gui.core.formats.chat_format import CHATML, CHATML_JINJA, FORMATS, PLAIN
from forge_gui.core.formats.detect import detect

RECORDS = {
    "single-turn": [("user", "What colour is the sky?"), ("assistant", "Blue.")],
    "multi-turn": [("user", "2+2?"), ("assistant", "4"), ("user", "And 3+3?"),
                   ("assistant", "6, since 3+3 = 6.")],
    "system": [("system", "Be brief."), ("user", "Hi there"), ("assistant", "Hello!")],
    "system multi-turn": [("system", "Answer in French."), ("user", "Good morning"),
                          ("assistant", "Bonjour"), ("user", "Thank you"),
                          ("assistant", "Merci\nbeaucoup")],
}


@pytest.mark.parametrize("fmt", [PLAIN, CHATML], ids=lambda f: f.key)
@pytest.mark.parametrize("record", list(RECORDS), ids=str)
def test_training_text_is_what_ollama_renders(go_template, fmt, record):
    messages = RECORDS[record]
    training = fmt.render(messages)
    for i, (role, answer) in enumerate(messages):
        if role != "assistant":
            continue
        prompt = go_template(fmt.go_template, messages[:i])
        assert prompt == fmt.prompt(messages[:i])
        assert training.startswith(prompt + answer), (prompt, training)
        after = training[len(prompt + answer):]
        stops = [value for _, value in fmt.stop_parameters()]
        if i < len(messages) - 1:  # the next turn starts with a stop marker
            assert any(after.lstrip("\n").startswith(s) for s in stops) or \
                any(after.startswith(s) for s in stops), after
        else:
            assert after in ("", "\n") or any(after.startswith(s) for s in stops), after


def test_the_chatml_jinja_renders_the_training_text():
    """llama-finetune-lora renders each conversation with CHATML_JINJA (Jinja, via minja)."""
    jinja2 = pytest.importorskip("jinja2", reason="jinja2 is a test dependency (pyproject)")
    messages = RECORDS["system multi-turn"]
    text = jinja2.Template(CHATML_JINJA).render(
        messages=[{"role": r, "content": c} for r, c in messages], add_generation_prompt=False)
    # the tool keeps the text up to the last <|im_end|>
    assert text[:text.rfind("<|im_end|>") + len("<|im_end|>")] == CHATML.render(messages)


def test_format_detection_from_the_base_chat_template():
    qwen = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
            "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}")
    broken = "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>' }}"
    fmt, why = detect(qwen)
    assert fmt.key == "template" and "own chat format" in why
    fmt, why = detect(broken)  # a template that cannot render a conversation: plain, and why
    assert fmt.key == "plain" and "cannot train in the base's chat format" in why
    fmt, why = detect(None, eos="</s>")
    assert fmt.key == "plain" and fmt.eos_text == "</s>" and "no chat template" in why
    assert set(FORMATS) == {"plain", "chatml"}


# Files that may spell a marker out besides core/formats/chat_format.py: none.
PENDING: set[str] = set()


def test_only_chat_format_spells_the_markers_out():
    import os
    from pathlib import Path

    import forge_gui

    root = Path(forge_gui.__file__).parent
    # plain's markers share their "###"; ChatML's are whole tokens
    needles = [os.path.commonprefix(list(PLAIN.markers)).strip(), *CHATML.markers]
    assert needles[0] == "###"
    holders = {str(p.relative_to(root)).replace(os.sep, "/")
               for p in root.rglob("*.py")
               if any(n in p.read_text("utf-8") for n in needles)}
    # formats/detect.py names plain's heads in the sentence that says why a base trains in it
    assert holders - PENDING == {"core/formats/chat_format.py", "core/formats/detect.py"}
    assert holders >= PENDING, f"no marker left in {PENDING - holders}: drop them from PENDING"


def test_the_plain_exchange_pattern_finds_every_exchange_of_a_prepared_text():
    """core/evaluation/evaluate.py reads held-out prompts from the prepared text with PLAIN_EXCHANGE."""
    from forge_gui.core.formats.chat_format import NO_INPUT, PLAIN_EXCHANGE

    records = [(("system", "Be brief.\n\nReally.", None), ("user", "Q1", None),
                ("assistant", "A1", None), ("user", "Q2", "some input"),
                ("assistant", "A2\n\nsecond paragraph", None)),
               (("user", "Q3", None), ("assistant", "A3", None))]
    text = "\n".join(PLAIN.render_turns(r) for r in records)
    found = [(m["question"], m["input"], m["answer"]) for m in PLAIN_EXCHANGE.finditer(text)]
    assert found == [("Q1", NO_INPUT, "A1"), ("Q2", "some input", "A2\n\nsecond paragraph"),
                     ("Q3", NO_INPUT, "A3")]
    first = next(PLAIN_EXCHANGE.finditer(text))
    assert first["prompt"] == PLAIN.prompt([("system", "Be brief.\n\nReally."), ("user", "Q1")])
