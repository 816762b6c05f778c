"""End to end with the real llama.cpp tools and the Ollama test double.

- tiny model -> fine-tune -> quantize -> create: the blob Ollama stored is the file, byte for
  byte, and the model has the promised template and stops;
- the merge route: a GGUF LoRA merged with llama-export-lora, the result loaded by
  llama-completion, registered FROM the merged file on a current (0.34.1) server;
- an older server that refuses the adapter anyway: Forge merges by itself and says so.
"""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from forge_gui.cli import main
from forge_gui.core.formats.chat_format import PLAIN
from forge_gui.core.llamacpp.gguf_info import inspect_gguf
from forge_gui.core.ollama.modelfile import parse_modelfile
from forge_gui.core.pipeline.walk import PipelineObserver, run_pipeline
from forge_gui.core.runs.run import RunSettings, RunState

TEMPLATE = PLAIN.go_template

pytestmark = [pytest.mark.tools, pytest.mark.slow]

STOPS = ["### Instruction:", "### System:"]


def _sha(path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_fine_tune_quantize_and_create(ollama, tiny_gguf, llama_tools, tmp_path):
    from forge_gui.core.pipeline.train_pipeline import train_specs

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"instruction": f"Count to {i}.",
                                        "output": f"Here you are: {i} and done."}) + "\n"
                            for i in range(50)), "utf-8")
    settings = RunSettings(data=[data], name="tiny-tuned", base_gguf=tiny_gguf["f32"], method="full",
                           ctx=256, epochs=1, quantize="Q8_0", system="Be brief.",
                           parameters={"num_ctx": "256"}, tools_dir=llama_tools)
    state = RunState.create(settings, tmp_path / "run")
    run_pipeline(train_specs(settings), state)

    a = state.artifacts
    assert inspect_gguf(a.output_gguf).file_type == "MOSTLY_Q8_0"
    model = ollama.models["tiny-tuned:latest"]
    (digest,) = model["files"].values()
    assert digest == _sha(a.output_gguf)
    assert ollama.blob_path(digest).read_bytes() == a.output_gguf.read_bytes()
    assert model["template"] == TEMPLATE and model["system"] == "Be brief."
    assert model["parameters"] == {"stop": STOPS, "num_ctx": 256}
    assert a.model == "tiny-tuned" and a.smoke_answer.startswith("Hello from tiny-tuned")
    commands = dict(parse_modelfile(a.modelfile.read_text("utf-8")))
    assert commands["model"] == str(a.output_gguf.resolve()) and commands["template"] == TEMPLATE


def test_merge_route_on_a_server_older_than_0_30(ollama, tiny_gguf, llama_tools, tmp_path,
                                                 capsys):
    ollama.version_override = "0.29.0"  # takes ADAPTER at create, but cannot run it
    run = tmp_path / "run"
    code = main(["retrain", "--adapter", str(tiny_gguf["lora"]), "--base",
                 str(tiny_gguf["f32"]), "--name", "merged-model", "--use-adapter",
                 "--tools-dir", str(llama_tools), "--workdir", str(run)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Created model 'merged-model'. Run: ollama run merged-model" in out + err
    assert "older than 0.30, which cannot run a GGUF adapter" in err

    merged = run / "merged.gguf"
    info = inspect_gguf(merged)
    assert info.general_type == "model" and info.architecture == "llama"
    assert merged.read_bytes() != tiny_gguf["f32"].read_bytes()  # the LoRA changed weights
    # llama.cpp loads and runs the merged model.
    result = subprocess.run([str(llama_tools / "llama-completion"), "-m", str(merged),
                             "-p", "### Instruction:\nHi\n\n### Input:\n(none)\n\n### Response:\n",
                             "-n", "4", "-no-cnv", "--temp", "0", "-c", "128"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    model = ollama.models["merged-model:latest"]
    assert model["files"] == {"merged.gguf": _sha(merged)} and "adapters" not in model
    assert dict(parse_modelfile((run / "Modelfile").read_text("utf-8")))["model"] == str(merged)


def test_an_adapter_refused_anyway_is_merged_instead(ollama, tiny_gguf, llama_tools,
                                                     tmp_path):
    ollama.refuse_adapters = True  # says it runs adapters (0.34.1), but refuses this one
    messages = []

    class Listen(PipelineObserver):
        def progress(self, event):
            if event.message:
                messages.append(event.message)

    s = RunSettings(data=[], name="fallback", base_gguf=tiny_gguf["f32"],
                    adapter=tiny_gguf["lora"], use_adapter=True, tools_dir=llama_tools)
    state = RunState.create(s, tmp_path / "run")
    from forge_gui.core.registration.register import register_specs
    run_pipeline(register_specs(s), state, Listen())
    assert state.artifacts.route == "merge"
    assert any("refused the adapter; merging" in m for m in messages)
    model = ollama.models["fallback:latest"]
    assert model["files"] == {"merged.gguf": _sha(tmp_path / "run" / "merged.gguf")}
    commands = dict(parse_modelfile((tmp_path / "run" / "Modelfile").read_text("utf-8")))
    assert "adapter" not in commands and commands["model"].endswith("merged.gguf")
