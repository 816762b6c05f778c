"""Ollama model-name rules (docs/ollama.md) are checked before any work starts."""

from __future__ import annotations

import pytest

from forge_gui.core.ollama.names import parse_model_name, validate_model_name


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
