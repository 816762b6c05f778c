"""The Modelfile writer follows Ollama's parsing rules and refuses what it cannot write.

parse_modelfile is a port of Ollama's parser/parser.go; the first tests pin it to Ollama's
documented behaviour so the round-trip tests below mean something.
"""

from __future__ import annotations

import pytest

from forge_gui.core.formats.chat_format import PLAIN
from forge_gui.core.ollama.modelfile import (
    Modelfile,
    ModelfileError,
    format_command,
    parse_modelfile,
    write_modelfile,
)

TEMPLATE, stop_parameters = PLAIN.go_template, PLAIN.stop_parameters


def test_parser_reads_ollama_style_modelfiles():
    text = ('# comment\nFROM ./model.gguf\nPARAMETER temperature 0.7\n'
            'PARAMETER stop "### Instruction:"\n'
            'TEMPLATE """{{ .System }}\n{{ .Prompt }}"""\n'
            'SYSTEM You are "quoted" and \\n literal\n'
            'MESSAGE user Hello there\n'
            'from other\n')
    assert parse_modelfile(text) == [
        ("model", "./model.gguf"), ("temperature", "0.7"), ("stop", "### Instruction:"),
        ("template", "{{ .System }}\n{{ .Prompt }}"), ("system", 'You are "quoted" and \\n literal'),
        ("message", "user: Hello there"), ("model", "other")]


def test_parser_drops_non_printables_and_rejects_bad_input():
    assert parse_modelfile("FROM a\x01b\n") == [("model", "ab")]
    with pytest.raises(ModelfileError, match="no FROM"):
        parse_modelfile("SYSTEM hi\n")
    with pytest.raises(ModelfileError, match="end of file"):
        parse_modelfile('FROM x\nSYSTEM """never closed\n')
    with pytest.raises(ModelfileError, match="command must be one of"):
        parse_modelfile("FROM x\nBOGUS y\n")
    with pytest.raises(ModelfileError, match="role"):
        parse_modelfile("FROM x\nMESSAGE robot hi\n")


HOSTILE = [
    'say "hi"', '"""', 'a """ b', "line one\nline two", "  leading", "trailing  ", "  both  ",
    "back\\slash \\n \\\"", "tab\there\t", "héllo wörld ✓ 日本語 🙂", "/path with spaces/my model.gguf",
    '"starts with a quote', 'ends with a quote"', '"both"', "", " ", "\n", "\n\nblank lines\n\n",
    '"a"\n"b"', 'multi\nline "quoted" end"', "{{ .Prompt }}\n\n### Response:\n", "C:\\Users\\me\\m.gguf",
    "crlf\r\nline",
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("kind", ["system", "template", "model", "adapter", "temperature", "license"])
def test_hostile_values_round_trip(kind, value):
    line = format_command(kind, value)
    assert parse_modelfile(f"FROM x\n{line}\n")[1:] == [(kind, value)]


def test_a_whole_modelfile_round_trips_with_hostile_values(tmp_path):
    mf = Modelfile(from_=str(tmp_path / "dir with space" / "m.gguf"),
                   adapter="/tmp/a b/lora.gguf", template=TEMPLATE,
                   system='Be "brief".\n  Indented \\ line\t', parameters=stop_parameters()
                   + [("temperature", "0.2"), ("num_ctx", "4096")],
                   messages=[("user", "hi\nthere"), ("assistant", '"ok"')], license="MIT\n(c) me")
    path = write_modelfile(tmp_path / "Modelfile", mf)
    assert parse_modelfile(path.read_text("utf-8")) == mf.commands()


@pytest.mark.parametrize("value, words", [
    ('a"""\nb', "cannot be written"),
    ('"""x"""\ny', "cannot be written"),
    ("bell\x07", "U+0007"),
    ("nbsp\u00a0inside", "U+00A0"),
    ("zero\u200bwidth", "U+200B"),
])
def test_values_that_cannot_be_written_faithfully_are_refused(value, words):
    with pytest.raises(ModelfileError, match=words.replace("+", r"\+")):
        format_command("system", value)


def test_bad_parameter_name_is_refused():
    with pytest.raises(ModelfileError, match="PARAMETER name"):
        format_command("temp-erature", "1")
