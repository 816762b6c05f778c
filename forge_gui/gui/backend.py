"""The GUI's one doorway into core: every call the pages make to the data, llama.cpp and
Ollama cores goes through here. Imports are lazy (start-up stays light: gguf, numpy and httpx
load when first needed) and a core part that is missing says so in a sentence.

Everything here may block: pages call it through gui/tasks.BackgroundTask, never on the UI
thread (except the cheap name check).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any


class Unavailable(Exception):
    """A part of core this build does not have."""


def _need(module: str):
    import importlib
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise Unavailable(f"This build of Forge has no {module} yet.") from exc
        raise


# -- data ----------------------------------------------------------------------------------

def validate(paths: list[Path], field_map: dict[str, str], progress=None, cancel=None):
    data = _need("forge_gui.core.data")
    options = data.ValidationOptions(field_map=field_map)
    return data.validate_paths(list(paths), options, progress=progress, cancel=cancel)


def preview(paths: list[Path], field_map: dict[str, str], limit: int = 3) -> list[str]:
    """The first valid records, rendered exactly as the trainer will see them."""
    data = _need("forge_gui.core.data")
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
    client = _need("forge_gui.core.ollama.client").OllamaClient(host)
    names = []
    for model in client.list_models():
        if isinstance(model, str):
            names.append(model)
        elif isinstance(model, dict):
            names.append(model.get("name") or model.get("model"))
        else:
            names.append(getattr(model, "name", None) or getattr(model, "model", None))
    return sorted(n for n in names if n)


def resolve_base(name: str) -> Path:
    return Path(_need("forge_gui.core.ollama.store").resolve_base_gguf(name))


def inspect_gguf(path: Path):
    return _need("forge_gui.core.llamacpp.gguf_info").inspect_gguf(Path(path))


def human_size(n: float) -> str:
    return _need("forge_gui.core.llamacpp.gguf_info").human_size(n)


# -- trainer -------------------------------------------------------------------------------

def find_tools(configured: Path | None) -> Any:
    return _need("forge_gui.core.llamacpp.discover").find_tools(configured)


def ensure_tools(progress=None, cancel=None) -> Path:
    return _need("forge_gui.core.llamacpp.build").ensure_tools(progress=progress, cancel=cancel)


# -- name and run --------------------------------------------------------------------------

def validate_model_name(name: str) -> str | None:
    return _need("forge_gui.core.ollama.names").validate_model_name(name)


def same_model(a: str, b: str) -> bool:
    """Ollama's view: 'x' and 'x:latest' are one model."""
    def full(n: str) -> str:
        return n if ":" in n.rsplit("/", 1)[-1] else f"{n}:latest"
    return full(a) == full(b)


def pipeline_specs(settings) -> list:
    return _need("forge_gui.core.train_pipeline").train_specs(settings)


def write_script(settings, path: Path) -> None:
    module = _need("forge_gui.core.train_pipeline")
    writer = getattr(module, "write_script", None)
    if writer is None:
        raise Unavailable("This build of Forge cannot write a training script yet.")
    writer(settings, Path(path))


def generate(host: str, model: str, prompt: str) -> str:
    client = _need("forge_gui.core.ollama.client").OllamaClient(host)
    answer = client.generate(model, prompt)
    if isinstance(answer, str):
        return answer
    if isinstance(answer, dict):
        return str(answer.get("response", answer))
    return str(getattr(answer, "response", answer))


def preflight(paths: list[Path], field_map: dict[str, str], toolset, base_gguf: Path, ctx: int,
              val_split: float, progress=None, cancel=None) -> tuple[int, int]:
    """Token-exact check: prepare the training text, count it with the base's own tokenizer
    and return (tokens, windows). Raises StepFailed (with a suggested context) when the text
    gives llama-finetune nothing to train on."""
    import tempfile

    data = _need("forge_gui.core.data")
    tool_steps = _need("forge_gui.core.llamacpp.tool_steps")
    with tempfile.TemporaryDirectory(prefix="forge-preflight-") as tmp:
        out = Path(tmp) / "train.txt"
        data.prepare_training_data(list(paths), out,
                                   options=data.ValidationOptions(field_map=field_map),
                                   progress=progress, cancel=cancel)
        tokens = tool_steps.count_tokens(toolset, Path(base_gguf), out, cancel)
    return tokens, tool_steps.check_windows(tokens, ctx, val_split)
