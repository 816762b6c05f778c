"""Ollama model-name rules (docs/ollama.md) are checked before any work starts."""

from __future__ import annotations

import pytest

from forge_gui.core.base.model_names import parse_model_name, validate_model_name


@pytest.mark.parametrize("name", [
    "my-model", "my_model.v2", "me/assistant:v1", "_x", "0day:latest", "a" * 80,
    "registry.example.com:5000/team/model:tag-1.0", "llama3.2:1b-instruct-fp16", "m:" + "t" * 80,
])
def test_valid_names_pass(name):
    assert validate_model_name(name) is None


@pytest.mark.parametrize("name, words", [
    ("", "Enter a model name"),
    (" padded", "space"),
    ("-dash-first", "must start with"),
    (".dot-first", "must start with"),
    ("my model", "contains ' '"),
    ("my.team/model", "namespace 'my.team' contains '.'"),
    ("model:" + "t" * 81, "81 characters"),
    ("a" * 81, "81 characters"),
    ("héllo", "contains 'é'"),
    ("model:", "tag part"),
    ("model:a:b", "contains ':'"),
    ("a/b/c/d", "at most three parts"),
])
def test_invalid_names_say_what_is_wrong(name, words):
    problem = validate_model_name(name)
    assert problem is not None and words in problem


def test_defaults_are_filled_in_like_ollama():
    n = parse_model_name("me/assistant")
    assert (n.host, n.namespace, n.model, n.tag) == ("registry.ollama.ai", "me", "assistant", "latest")
    assert parse_model_name("llama3.2").short == "llama3.2:latest"
    with pytest.raises(ValueError):
        parse_model_name("bad name")


# --- Forge's rules against Ollama's own (tests/ollama_names_rules.py, from Ollama's source) ---

def test_the_doubles_name_rules_do_not_come_from_forge():
    """The Ollama double judges names by Ollama's rules: a bug in Forge's cannot hide there."""
    import ast
    from pathlib import Path

    for module in ("ollama_double.py", "ollama_double_create.py", "ollama_names_rules.py"):
        tree = ast.parse((Path(__file__).parent / module).read_text("utf-8"))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for a in node.names}
        assert not any(m and m.startswith("forge_gui.core.ollama") for m in imported), module


def test_the_doubles_name_rules_pass_ollamas_own_name_tests():
    """Cases from ollama/ollama types/model/name_test.go (commit 000ce02)."""
    import ollama_names_rules as ollama

    part80, part350 = "8" * 80, "3" * 350
    parts = {
        "registry.ollama.ai/library/dolphin-mistral:7b-v2.6-dpo-laser-q6_K":
            ("registry.ollama.ai", "library", "dolphin-mistral", "7b-v2.6-dpo-laser-q6_K"),
        "scheme://host:port/namespace/model:tag": ("host:port", "namespace", "model", "tag"),
        "host:port/namespace/model": ("host:port", "namespace", "model", ""),
        "namespace/model": ("", "namespace", "model", ""),
        "model": ("", "", "model", ""),
        "h/nn/mm:t": ("h", "nn", "mm", "t"),
        f"{part350}/{part80}/{part80}:{part80}": (part350, part80, part80, part80),
    }
    for name, want in parts.items():
        n = ollama.parse_bare(name)
        assert (n.host, n.namespace, n.model, n.tag) == want, name
    valid = {"": False, "_why/_the/_lucky:_stiff": True, "host/namespace/model:tag": True,
             "host/namespace/model": False, "namespace/model": False, "model": False,
             f"{part80}/{part80}/{part80}:{part80}": True,
             f"{part350}/{part80}/{part80}:{part80}": True, "n/m:": False, "^": False,
             "mm:": False, "/nn/mm": False, "//": False, "//mm": False, "hh//": False,
             "-hh/nn/mm:tt": False, "hh/-nn/mm:tt": False, "hh/nn/-mm:tt": False,
             "hh/nn/mm:-tt": False, "host:https/namespace/model:tag": True,
             "host/name:space/model:tag": False,
             "h/nn/mm:t@sha256:" + "1" * 64: True}
    for name, want in valid.items():
        assert ollama.is_valid_bare(name) is want, name
    shortest = {"registry.ollama.ai/library/model:latest": "model:latest",
                "registry.ollama.ai/library/model:tag": "model:tag",
                "registry.ollama.ai/namespace/model:tag": "namespace/model:tag",
                "host/namespace/model:tag": "host/namespace/model:tag",
                "host/library/model:tag": "host/library/model:tag"}
    for name, want in shortest.items():
        assert ollama.display_shortest(name) == want, name
    assert ollama.valid_part("host", "a:123") and not ollama.valid_part("namespace", "a.")


NAMES = ["my-model", "my_model.v2", "me/assistant:v1", "_x", "0day:latest", "a" * 80,
         "registry.example.com:5000/team/model:tag-1.0", "llama3.2:1b-instruct-fp16",
         "m:" + "t" * 80, "", " padded", "-dash-first", ".dot-first", "my model",
         "my.team/model", "model:" + "t" * 81, "a" * 81, "héllo", "model:", "model:a:b",
         "a/b/c/d", "me/agent/foo", "/model", "me/", "Me/Assistant:V1", "x..y",
         "registry.ollama.ai/library/x:latest", "h" * 351 + "/n/m", "model:-tag", "model:.tag",
         "ns/.m", "host:https/namespace/model:tag", "LIBRARY/Llama3:Latest"]


@pytest.mark.parametrize("name", NAMES)
def test_forge_accepts_no_name_that_ollama_refuses(name):
    import ollama_names_rules as ollama

    if validate_model_name(name) is None:
        assert ollama.is_valid(name), name


def test_forge_takes_two_names_for_one_model_exactly_when_ollama_does():
    import ollama_names_rules as ollama

    from forge_gui.core.base.model_names import model_key

    valid = [n for n in NAMES if validate_model_name(n) is None]
    valid += ["MY-MODEL:Latest", "library/my-model", "registry.ollama.ai/me/assistant:V1",
              "me/Assistant:v1", "llama3.2:1B-instruct-fp16"]
    for a in valid:
        for b in valid:
            assert (model_key(a) == model_key(b)) == ollama.equal_fold(a, b), (a, b)


def test_forge_spells_a_name_as_ollama_lists_it():
    import ollama_names_rules as ollama

    for name in (n for n in NAMES if validate_model_name(n) is None):
        assert parse_model_name(name).short == ollama.display_shortest(name), name
