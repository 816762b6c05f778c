"""Registration steps end to end through the Ollama test double (no llama.cpp tools needed)."""

from __future__ import annotations

import hashlib
import json

import pytest
from fixtures_ollama import add_to_store, write_small_gguf

from forge_gui.cli import main
from forge_gui.core.base.steps import StepFailed
from forge_gui.core.formats.chat_format import PLAIN
from forge_gui.core.ollama import hashing
from forge_gui.core.ollama import params as P
from forge_gui.core.ollama.client import OllamaNotReachable
from forge_gui.core.ollama.modelfile import parse_modelfile
from forge_gui.core.pipeline.walk import run_pipeline
from forge_gui.core.registration.register import InvalidModelName, ModelExists, finish_command, register_specs
from forge_gui.core.runs.run import RunSettings, RunState

TEMPLATE = PLAIN.go_template

SYSTEM = 'You answer in "one" line.\n  Even \\ this.'


def _sha(path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _run(tmp_path, gguf, name="me/tuned:v1", folder="run", **settings):
    s = RunSettings(data=[], name=name, system=SYSTEM, **settings)
    state = RunState.create(s, tmp_path / folder)
    state.artifacts.output_gguf = gguf
    state.save()
    return state, register_specs(s)


def _modelfile_as_request(state) -> dict:
    """The Modelfile, read the way `ollama create -f` reads it, as /api/create fields."""
    commands = parse_modelfile((state.run_dir / "Modelfile").read_text("utf-8"))
    params = [(k, v) for k, v in commands if k in P.TYPES]
    other = {k: v for k, v in commands if k not in P.TYPES}
    return {"from": other["model"], "template": other.get("template"),
            "system": other.get("system"), "parameters": P.to_request(params)}


def test_whole_gguf_is_registered_as_promised(ollama, tmp_path):
    gguf = write_small_gguf(tmp_path / "fine tuned.gguf")
    state, specs = _run(tmp_path, gguf, parameters={"temperature": "0.3", "num_ctx": "1024"})
    assert [s.key for s in specs] == ["modelfile", "register", "smoke"]
    run_pipeline(specs, state)

    model = ollama.models["me/tuned:v1"]
    assert model["files"] == {"fine tuned.gguf": _sha(gguf)}
    assert ollama.blob_path(_sha(gguf)).read_bytes() == gguf.read_bytes()
    assert model["template"] == TEMPLATE and model["system"] == SYSTEM
    assert model["parameters"] == {"stop": ["### Instruction:", "### System:"],
                                   "temperature": 0.3, "num_ctx": 1024}
    # The Modelfile in the run folder asks for exactly the same model.
    assert _modelfile_as_request(state) == {"from": str(gguf.resolve()), "template": TEMPLATE,
                                            "system": SYSTEM, "parameters": model["parameters"]}
    a = RunState.load(state.run_dir).artifacts
    assert a.model == "me/tuned:v1" and a.finish_command is None
    assert a.smoke_answer.startswith("Hello from me/tuned:v1")
    # The smoke prompt reached the model in the training format, ready for its answer.
    (name, prompt), = ollama.generated
    assert prompt == (f"### System:\n{SYSTEM}\n\n### Instruction:\nSay hello in one sentence.\n\n"
                      "### Input:\n(none)\n\n### Response:\n")


def test_parameters_not_given_are_inherited_from_the_base(ollama, tmp_path):
    ollama.add_model("base:1b", parameters={"temperature": 0.5, "num_ctx": 8192,
                                            "stop": ["<|eot_id|>"]})
    state, specs = _run(tmp_path, write_small_gguf(tmp_path / "m.gguf"), base="base:1b",
                        parameters={"temperature": "0.9"})
    run_pipeline(specs, state)
    assert ollama.models["me/tuned:v1"]["parameters"] == {
        "stop": ["### Instruction:", "### System:"], "num_ctx": 8192, "temperature": 0.9}


def test_an_existing_model_is_kept_unless_forced(ollama, tmp_path):
    ollama.add_model("me/tuned:v1")
    gguf = write_small_gguf(tmp_path / "m.gguf")
    with pytest.raises(ModelExists) as err:  # refused before any work
        _run(tmp_path, gguf)
    assert "--force" in err.value.hint and ollama.models["me/tuned:v1"]["files"] == {}
    # ... and again right before creating, should the model appear in the meantime
    ollama.models.pop("me/tuned:v1")
    state, specs = _run(tmp_path, gguf, folder="later")
    ollama.add_model("me/tuned:v1")
    with pytest.raises(ModelExists):
        run_pipeline(specs, state)
    assert ollama.models["me/tuned:v1"]["files"] == {}
    state, specs = _run(tmp_path, gguf, folder="again", force=True)
    run_pipeline(specs, state)
    assert ollama.models["me/tuned:v1"]["files"] == {"m.gguf": _sha(gguf)}


def test_ollama_down_leaves_a_ready_model_and_the_command_to_finish(ollama_down, tmp_path,
                                                                     monkeypatch, go_template):
    gguf = write_small_gguf(tmp_path / "m.gguf")
    state, specs = _run(tmp_path, gguf)
    with pytest.raises(OllamaNotReachable) as err:
        run_pipeline(specs, state)
    saved = RunState.load(state.run_dir)
    command = finish_command("me/tuned:v1", state.run_dir / "Modelfile")
    assert saved.artifacts.finish_command == command
    assert command in err.value.hint and "ollama serve" in err.value.hint
    assert [(r.key, r.status) for r in saved.record.steps] == [("modelfile", "done"),
                                                               ("register", "failed")]
    assert (state.run_dir / "Modelfile").is_file() and saved.artifacts.model is None

    # Ollama started later: retrying from the failed step finishes the run.
    from ollama_double import OllamaDouble
    later = OllamaDouble(tmp_path / "store", render=go_template)
    monkeypatch.setenv("OLLAMA_HOST", later.url)
    try:
        run_pipeline(specs, saved, start=1)
        assert "me/tuned:v1" in later.models and saved.artifacts.finish_command is None
    finally:
        later.stop()


def test_a_failed_create_leaves_no_half_model(ollama, tmp_path):
    ollama.failure = "midstream"
    state, specs = _run(tmp_path, write_small_gguf(tmp_path / "m.gguf"))
    with pytest.raises(StepFailed, match="error mid-stream"):
        run_pipeline(specs, state)
    assert "me/tuned:v1" not in ollama.models


def test_a_second_registration_neither_rehashes_nor_reuploads(ollama, tmp_path, monkeypatch):
    gguf = write_small_gguf(tmp_path / "m.gguf")
    hashed = []
    real = hashing.hash_file
    monkeypatch.setattr(hashing, "hash_file", lambda *a, **k: hashed.append(a[0]) or real(*a, **k))
    for i, name in enumerate(["first", "second"]):
        state, specs = _run(tmp_path, gguf, name=name, folder=f"run{i}")
        run_pipeline(specs, state)
    assert len(hashed) == 1 and ollama.uploads == [_sha(gguf)]
    assert ollama.models["second:latest"]["files"] == {"m.gguf": _sha(gguf)}


def test_bad_names_and_parameters_are_refused_before_any_work():
    with pytest.raises(ValueError, match="must start with"):  # the settings refuse it (rules)
        RunSettings(data=[], name="-bad")
    late = RunSettings(data=[], name="ok")
    late.name = "-bad"  # set after the checks: the Ollama steps still refuse it
    with pytest.raises(InvalidModelName, match="must start with"):
        register_specs(late)
    with pytest.raises(StepFailed, match="not an Ollama parameter"):
        register_specs(RunSettings(data=[], name="ok", parameters={"temprature": "1"}))
    with pytest.raises(StepFailed, match="needs a int"):
        register_specs(RunSettings(data=[], name="ok", parameters={"num_ctx": "big"}))
    with pytest.raises(StepFailed, match="U\\+0007"):
        register_specs(RunSettings(data=[], name="ok", system="bell\x07"))
    # Without registration the run still ends with `ollama create NAME`: the name must be valid.
    with pytest.raises(ValueError, match="cannot be an Ollama model name"):
        RunSettings(data=[], name="any name", create=False)
    specs = register_specs(RunSettings(data=[], name="any-name", create=False))
    assert [s.key for s in specs] == ["modelfile"]


@pytest.fixture
def base_in_store(tmp_path, monkeypatch):
    models = tmp_path / "models"
    monkeypatch.setenv("OLLAMA_MODELS", str(models))
    add_to_store(models, "base:1b", write_small_gguf(tmp_path / "base.gguf"))


def test_adapter_route_on_an_older_server(ollama_legacy, base_in_store, tmp_path):
    ollama_legacy.add_model("base:1b")
    lora = write_small_gguf(tmp_path / "lora.gguf", general_type="adapter")
    s = RunSettings(data=[], name="tuned", base="base:1b", adapter=lora, use_adapter=True)
    state = RunState.create(s, tmp_path / "run")
    specs = register_specs(s)
    assert [x.key for x in specs] == ["resolve", "merge", "modelfile", "register", "smoke"]
    run_pipeline(specs, state)
    model = ollama_legacy.models["tuned:latest"]
    assert model["from"] == "base:1b" and model["adapters"] == {"lora.gguf": _sha(lora)}
    assert [(r.key, r.status) for r in state.record.steps][:2] == [("resolve", "done"),
                                                                   ("merge", "skipped")]
    commands = dict(parse_modelfile((state.run_dir / "Modelfile").read_text("utf-8")))
    assert commands["model"] == "base:1b" and commands["adapter"] == str(lora.resolve())


def test_peft_with_unreadable_weights_fails_in_one_sentence(ollama, base_in_store, tmp_path):
    """A PEFT folder is converted to a GGUF LoRA (tests/test_peft_convert.py); weights that
    are not a safetensors file stop the run with a sentence, before Ollama is asked."""
    peft = tmp_path / "peft"
    peft.mkdir()
    (peft / "adapter_config.json").write_text('{"base_model_name_or_path": "x"}')
    (peft / "adapter_model.safetensors").write_bytes(b"\0" * 16)
    s = RunSettings(data=[], name="tuned", base="base:1b", adapter=peft)
    with pytest.raises(StepFailed, match="not a readable safetensors file"):
        run_pipeline(register_specs(s), RunState.create(s, tmp_path / "run"))
    assert "tuned:latest" not in ollama.models


def test_retrain_command_with_a_whole_gguf(ollama, tmp_path, capsys):
    gguf = write_small_gguf(tmp_path / "m.gguf")
    argv = ["retrain", "--adapter", str(gguf), "--name", "cli-model", "--system", "Be kind.",
            "--param", "temperature=0.2", "--workdir", str(tmp_path / "run")]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Created model 'cli-model'. Run: ollama run cli-model"
    assert out[1].startswith("First answer: Hello from cli-model")
    assert ollama.models["cli-model:latest"]["parameters"]["temperature"] == 0.2
    # A second time the name is taken: refused before any work (exit 2) with what to do;
    # --force replaces it.
    assert main(argv[:-2] + ["--workdir", str(tmp_path / "run2")]) == 2
    assert "--force" in capsys.readouterr().err and not (tmp_path / "run2").exists()
    assert main(argv[:-2] + ["--workdir", str(tmp_path / "run3"), "--force", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"] == "cli-model" and summary["route"] == "from-file"


def test_retrain_command_when_ollama_is_down(ollama_down, tmp_path, capsys):
    gguf = write_small_gguf(tmp_path / "m.gguf")
    code = main(["retrain", "--adapter", str(gguf), "--name", "later", "--workdir",
                 str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 1 and "not reachable" in err
    assert f"To register later: ollama create later -f {tmp_path / 'run' / 'Modelfile'}" in err


@pytest.mark.parametrize("argv, words", [
    (["--name", "bad name"], "--name"),
    (["--name", "ok", "--param", "temperature"], "NAME=VALUE"),
    (["--name", "ok", "--param", "nope=1"], "not an Ollama parameter"),
])
def test_retrain_usage_errors_exit_2(tmp_path, capsys, argv, words):
    gguf = write_small_gguf(tmp_path / "m.gguf")
    assert main(["retrain", "--adapter", str(gguf), *argv]) == 2
    assert words in capsys.readouterr().err


def test_peft_adapter_without_lora_weights_is_not_sent_to_an_older_server(
        ollama_legacy, base_in_store, tmp_path):
    """Forge no longer hands a PEFT folder to Ollama (older servers ran it in an engine that
    could not load adapters): it converts it, and an empty one is refused in one sentence."""
    ollama_legacy.add_model("base:1b")
    peft = tmp_path / "peft"
    peft.mkdir()
    (peft / "adapter_config.json").write_text('{"base_model_name_or_path": "meta-llama/x"}')
    (peft / "adapter_model.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")
    s = RunSettings(data=[], name="peft-tuned", base="base:1b", adapter=peft)
    with pytest.raises(StepFailed, match="holds no LoRA weights"):
        run_pipeline(register_specs(s), RunState.create(s, tmp_path / "run"))
    assert "peft-tuned:latest" not in ollama_legacy.models and ollama_legacy.uploads == []


def test_a_server_too_old_for_the_create_api_gets_the_manual_command(ollama, tmp_path):
    ollama.version_override = "0.5.4"
    state, specs = _run(tmp_path, write_small_gguf(tmp_path / "m.gguf"))
    with pytest.raises(StepFailed, match="0.5.5 or newer") as err:
        run_pipeline(specs, state)
    assert f"ollama create me/tuned:v1 -f {state.run_dir / 'Modelfile'}" in err.value.hint
    assert ollama.uploads == [] and "me/tuned:v1" not in ollama.models


def test_register_alone_writes_the_missing_modelfile_first(ollama_down, tmp_path):
    state, specs = _run(tmp_path, write_small_gguf(tmp_path / "m.gguf"))
    register = next(s for s in specs if s.key == "register")
    with pytest.raises(OllamaNotReachable) as err:
        run_pipeline([register], state)
    assert (state.run_dir / "Modelfile").is_file()
    assert f"ollama create me/tuned:v1 -f {state.run_dir / 'Modelfile'}" in err.value.hint
