"""The GUI's one doorway into core: every call the pages make to the data, llama.cpp and
Ollama cores goes through here. Imports are lazy, inside each function, so start-up stays
light: gguf, numpy and httpx load when first needed.

Everything here may block: pages call it through gui/tasks.BackgroundTask, never on the UI
thread (except the cheap name check).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any


# -- data ----------------------------------------------------------------------------------

def validate(paths: list[Path], field_map: dict[str, str], progress=None, cancel=None):
    from forge_gui.core import data
    options = data.ValidationOptions(field_map=field_map)
    return data.validate_paths(list(paths), options, progress=progress, cancel=cancel)


def preview(paths: list[Path], field_map: dict[str, str], limit: int = 3) -> list[str]:
    """The first valid records, rendered exactly as the trainer will see them."""
    from forge_gui.core import data
    options = data.ValidationOptions(field_map=field_map)
    convs = itertools.islice(data.iter_conversations(list(paths), options), limit)
    return [data.render_conversation(conv) for conv in convs]


def read_source_line(file: str | Path, line: int, limit: int = 20_000) -> str:
    """The raw text of one line of an input file (for the error table's double-click)."""
    with open(file, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number == line:
                text = raw[:limit].decode("utf-8", errors="replace").rstrip("\r\n")
                return text + (" …(cut)" if len(raw) > limit else "")
    return ""


# -- base model ----------------------------------------------------------------------------

def ollama_host(configured: str | None) -> str:
    return configured or os.environ.get("OLLAMA_HOST") or "127.0.0.1:11434"


def list_ollama_models(host: str) -> list[str]:
    from forge_gui.core.ollama.client import OllamaClient
    models = OllamaClient(host).list_models()
    names = (model.get("name") or model.get("model") for model in models)
    return sorted(n for n in names if n)


def resolve_base(name: str) -> Path:
    from forge_gui.core.ollama import store
    return Path(store.resolve_base_gguf(name))


def inspect_gguf(path: Path):
    from forge_gui.core.llamacpp import gguf_info
    return gguf_info.inspect_gguf(Path(path))


def human_size(n: float) -> str:
    from forge_gui.core.llamacpp import gguf_info
    return gguf_info.human_size(n)


# -- trainer -------------------------------------------------------------------------------

def find_tools(configured: Path | None) -> Any:
    from forge_gui.core.llamacpp import discover
    return discover.find_tools(configured)


def ensure_tools(progress=None, cancel=None) -> Path:
    from forge_gui.core.llamacpp import build
    return build.ensure_tools(progress=progress, cancel=cancel)


def detect_gpus() -> list:
    from forge_gui.core.llamacpp import gpu
    return gpu.detect_gpus()


def ensure_gpu_tools(gpu_backend: str, progress=None, cancel=None) -> Path:
    """Build (once) the tools for a GPU backend: "cuda" or "vulkan" (docs/gpu.md)."""
    from forge_gui.core.llamacpp import build
    return build.ensure_tools(cuda=gpu_backend == "cuda", vulkan=gpu_backend == "vulkan",
                              progress=progress, cancel=cancel)


# -- name and run --------------------------------------------------------------------------

def validate_model_name(name: str) -> str | None:
    from forge_gui.core.ollama import names
    return names.validate_model_name(name)


def same_model(a: str, b: str) -> bool:
    """Ollama's view: 'x' and 'x:latest' are one model."""
    def full(n: str) -> str:
        return n if ":" in n.rsplit("/", 1)[-1] else f"{n}:latest"
    return full(a) == full(b)


def pipeline_specs(settings) -> list:
    from forge_gui.core import train_pipeline
    return train_pipeline.train_specs(settings)


def write_script(settings, path: Path) -> None:
    from forge_gui.core import train_pipeline
    train_pipeline.write_script(settings, Path(path))


def generate(host: str, model: str, prompt: str) -> str:
    from forge_gui.core.ollama import client
    return client.OllamaClient(host).generate(model, prompt)


def preflight(paths: list[Path], field_map: dict[str, str], toolset, base_gguf: Path, ctx: int,
              val_split: float, progress=None, cancel=None) -> tuple[int, int]:
    """Token-exact check: prepare the training text, count it with the base's own tokenizer
    and return (tokens, windows). Raises StepFailed (with a suggested context) when the text
    gives llama-finetune nothing to train on."""
    import tempfile

    from forge_gui.core import data
    from forge_gui.core.llamacpp import tool_steps
    with tempfile.TemporaryDirectory(prefix="forge-preflight-") as tmp:
        out = Path(tmp) / "train.txt"
        data.prepare_training_data(list(paths), out,
                                   options=data.ValidationOptions(field_map=field_map),
                                   progress=progress, cancel=cancel)
        tokens = tool_steps.count_tokens(toolset, Path(base_gguf), out, cancel)
    return tokens, tool_steps.check_windows(tokens, ctx, val_split)
