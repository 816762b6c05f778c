"""A base pulled in Ollama keeps its own TEMPLATE, SYSTEM and stops when they render, for the
run's own records, the prompt the model was trained on; otherwise the model gets the TEMPLATE
derived from the training format, and the run says what differs (issue 20, docs/ollama.md
"The template"). Real family templates: the base's Jinja from the pinned llama.cpp tree,
Ollama's Go TEMPLATE as `ollama pull` gives it (tests/ollama_family_templates.py).
"""

from __future__ import annotations

import json

import pytest
from ollama_family_templates import OLLAMA
from test_template_formats import RECORDS, _write_family, models_dir  # noqa: F401

from forge_gui.core.base.steps import CancelToken
from forge_gui.core.formats.chat_format import messages_of
from forge_gui.core.formats.template_check import collate, render_go
from forge_gui.core.llamacpp.gguf_info import inspect_gguf
from forge_gui.core.ollama.modelfile import parse_modelfile
from forge_gui.core.registration.create import build_modelfile
from forge_gui.core.runs.run import RunSettings, RunState


@pytest.fixture(scope="module")
def family_base(models_dir, tmp_path_factory):  # noqa: F811
    folder, made = tmp_path_factory.mktemp("bases"), {}

    def get(family: str):
        if family not in made:
            made[family] = _write_family(models_dir, family, folder / f"{family}.gguf")
        return made[family]
    return get


def _data(path, records):
    lines = [json.dumps({"messages": [{"role": r, "content": c} for r, c, _ in turns]})
             for turns in records]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def _modelfile_for(tmp_path, ollama, family_base, family, records, system="", **settings):
    """Run the modelfile step of a run whose base is the Ollama model `family`, trained in its
    own chat format on `records`: (Modelfile commands, the step's messages, the run)."""
    template, base_system, stops = OLLAMA[family]
    tmp_path.mkdir(parents=True, exist_ok=True)
    ollama.add_model(f"{family}:tiny", template=template, system=system or base_system,
                     parameters={"stop": stops, "temperature": 0.6})
    s = RunSettings(data=[_data(tmp_path / "data.jsonl", records)], name="tuned",
                    base=f"{family}:tiny", **settings)
    state = RunState.create(s, tmp_path / "run")
    base = family_base(family)
    a = state.artifacts
    a.chat_format, a.base_gguf, a.output_gguf = "template", base, base
    messages: list[str] = []
    build_modelfile(state).run(lambda e: messages.append(e.message or ""), CancelToken())
    commands = parse_modelfile((state.run_dir / "Modelfile").read_text("utf-8"))
    return commands, messages, state


def _get(commands, name):
    return [v for k, v in commands if k == name]


# Ollama's own TEMPLATEs: the evaluator Forge checks them with agrees with Go itself
@pytest.mark.parametrize("family", OLLAMA)
def test_the_evaluator_renders_ollamas_family_templates_as_go_does(family, go_template):
    template, system, _ = OLLAMA[family]
    for turns in RECORDS.values():
        messages = messages_of(turns)
        for k in range(1, len(messages) + 1):
            sent = ([("system", system)] if system and messages[0][0] != "system" else []) \
                + messages[:k]
            joined, collated = collate(sent)
            assert render_go(template, sent) == go_template(template, collated, joined)


def test_qwen_keeps_its_own_template_system_and_stops(tmp_path, ollama, family_base):
    """Qwen 2.5's Jinja adds the default system prompt Ollama's SYSTEM gives: they agree."""
    commands, messages, state = _modelfile_for(tmp_path, ollama, family_base, "qwen-2.5",
                                               list(RECORDS.values()))
    template, system, stops = OLLAMA["qwen-2.5"]
    assert _get(commands, "template") == [template]
    assert _get(commands, "system") == [system]
    assert _get(commands, "stop") == stops
    assert _get(commands, "temperature") == ["0.6"]  # the base's other parameters
    note = "The model keeps qwen-2.5:tiny's own TEMPLATE, SYSTEM and stops"
    assert any(m.startswith(note) for m in messages)
    assert any(n.startswith(note) for n in state.record.notes)


def test_qwen_without_its_default_system_gets_the_training_template(tmp_path, ollama,
                                                                    family_base):
    """A Qwen base whose SYSTEM is gone: Ollama would render no system block where the
    training text has the template's default one."""
    commands, messages, state = _modelfile_for(tmp_path, ollama, family_base, "qwen-2.5",
                                               [RECORDS["single-turn"]], system=" ")
    fmt_template = _derived(state)
    assert _get(commands, "template") == [fmt_template]
    assert _get(commands, "template") != [OLLAMA["qwen-2.5"][0]]
    note = next(n for n in state.record.notes if "not qwen-2.5:tiny's own" in n)
    assert "You are Qwen" in note and "record 1, answer 1" in note
    assert note in messages


def test_a_date_line_makes_llama_32_use_the_training_template(tmp_path, ollama, family_base):
    """Llama 3.2's Jinja writes today's date under its knowledge cut-off; Ollama's does not."""
    commands, messages, state = _modelfile_for(tmp_path, ollama, family_base, "llama-3.2",
                                               list(RECORDS.values()))
    assert _get(commands, "template") == [_derived(state)]
    assert _get(commands, "system") == []  # the base's SYSTEM goes with its TEMPLATE
    assert _get(commands, "stop") == ["<|eot_id|>"]
    note = next(n for n in state.record.notes if "not llama-3.2:tiny's own" in n)
    assert "Today Date" in note


def test_gemma_keeps_its_template_until_a_record_has_a_system_prompt(tmp_path, ollama,
                                                                     family_base):
    """Ollama's Gemma TEMPLATE shows a system message as a user turn of its own; Forge trains
    it before the first question, in that turn."""
    plain = [RECORDS["single-turn"], RECORDS["multi-turn"][1:]]
    commands, _, _ = _modelfile_for(tmp_path / "a", ollama, family_base, "gemma-2", plain)
    assert _get(commands, "template") == [OLLAMA["gemma-2"][0]]
    commands, _, state = _modelfile_for(tmp_path / "b", ollama, family_base, "gemma-2",
                                        [*plain, RECORDS["system prompt"]])
    assert _get(commands, "template") == [_derived(state)]
    assert any("record 3, answer 1" in n for n in state.record.notes)


def test_a_base_given_as_a_file_gets_the_training_template(tmp_path, ollama, family_base):
    commands, _, state = _modelfile_for(tmp_path, ollama, family_base, "qwen-2.5",
                                        [RECORDS["single-turn"]],
                                        base_gguf=family_base("qwen-2.5"))
    assert _get(commands, "template") == [_derived(state)]
    assert not any("TEMPLATE" in n for n in state.record.notes)


def _derived(state: RunState) -> str:
    from forge_gui.core.formats.detect import detect

    info = inspect_gguf(state.artifacts.base_gguf)
    return detect(info.chat_template, info.bos_token, info.eos_token)[0].go_template



def test_qwen_25s_default_system_prompt_is_trained_and_rendered_by_ollama(family_base,
                                                                         go_template):
    """Qwen 2.5's Jinja adds its default system prompt to a record that has none: the training
    text has it before every answer, and the prompt Ollama renders with real Go text/template
    is that same text, from the TEMPLATE Forge derives and from Qwen's own TEMPLATE + SYSTEM."""
    from test_template_formats import _format

    fmt = _format(family_base("qwen-2.5"))
    template, system, _ = OLLAMA["qwen-2.5"]
    default = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful " \
              "assistant.<|im_end|>\n"
    assert system in default
    no_system = [RECORDS["single-turn"],
                 (("user", "Name a fruit.", None), ("assistant", "An apple.", None),
                  ("user", "And a vegetable?", None), ("assistant", "A carrot.", None))]
    for turns in no_system:
        text = "".join(t for t, _ in fmt.segments(turns))
        assert text.startswith(default)
        messages = messages_of(turns)
        for k, (role, _) in enumerate(messages):
            if role != "assistant":
                continue
            derived = go_template(fmt.go_template, messages[:k])
            joined, collated = collate([("system", system)] + messages[:k])
            own = go_template(template, collated, joined)
            assert derived == own == fmt.prompt(messages[:k])
            assert derived.startswith(default) and text.startswith(derived)
