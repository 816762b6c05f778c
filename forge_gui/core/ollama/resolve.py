"""What the trainer (or the user) produced, and how it can become an Ollama model.

Accepted: a whole-model GGUF; a GGUF LoRA (general.type = adapter); a PEFT folder
(adapter_config.json + adapter_model.safetensors|.bin); a folder holding exactly one
.gguf/.bin adapter; a single adapter file. Legacy GGLA files are recognised by their magic and
refused with an explanation. Routes (docs/ollama.md):
  whole GGUF -> FROM the file
  GGUF LoRA  -> merge into the base with llama-export-lora, FROM the merged file (works on every
                Ollama); ADAPTER only if the server is older than 0.34.1 and the user asks
  PEFT       -> converted to a GGUF LoRA for the base without torch (core/peft/convert.py,
                core/registration/route.convert_peft), then as a GGUF LoRA; the model keeps
                the base's template
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from forge_gui.core.base.steps import StepFailed
from forge_gui.core.llamacpp.gguf_info import GGLA_MAGIC, GGUF_MAGIC, describe_start, inspect_gguf

Kind = Literal["whole", "gguf-lora", "peft"]
Route = Literal["from-file", "merge", "adapter"]
PEFT_ARCHITECTURES = ("llama", "gemma2")

FOLDER_HINT = ("If this is a llama.cpp LoRA, pass the .bin or .gguf file, or the folder that "
               "holds it. If it is a Hugging Face PEFT adapter, pass the folder with "
               "adapter_config.json.")


class ResolveError(StepFailed):
    pass


class Resolved(BaseModel):
    kind: Kind
    path: Path  # the GGUF file, or the PEFT folder
    architecture: str | None = None
    base_model_hint: str | None = None  # PEFT's base_model_name_or_path
    note: str | None = None  # what was picked and why, for the log

    @property
    def is_adapter(self) -> bool:
        return self.kind != "whole"


def _magic(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(4)


def _ggla_error(path: Path) -> ResolveError:
    return ResolveError(
        f"{path} is a legacy GGLA LoRA adapter (made by the old llama.cpp 'finetune').",
        "Neither current llama.cpp nor Ollama can read GGLA (support was dropped in 2024). "
        "Train the adapter again with current tools, or fine-tune with Forge, which writes a "
        "whole GGUF model.")


def _resolve_file(path: Path) -> Resolved:
    magic = _magic(path)
    if magic == GGLA_MAGIC:
        raise _ggla_error(path)
    if magic != GGUF_MAGIC:
        raise ResolveError(f"{path} is neither a GGUF file nor a GGUF LoRA adapter "
                           f"({describe_start(magic)}).", FOLDER_HINT)
    info = inspect_gguf(path)
    kind: Kind = "gguf-lora" if info.general_type == "adapter" else "whole"
    return Resolved(kind=kind, path=path, architecture=info.architecture)


def _resolve_peft(folder: Path) -> Resolved:
    weights = [p for p in (folder / "adapter_model.safetensors", folder / "adapter_model.bin")
               if p.is_file()]
    if not weights:
        raise ResolveError(f"{folder} has adapter_config.json but no adapter_model.safetensors "
                           "or adapter_model.bin.", "Copy the adapter weights next to it.")
    try:
        config = json.loads((folder / "adapter_config.json").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ResolveError(f"{folder / 'adapter_config.json'} cannot be read: {exc}") from exc
    hint = config.get("base_model_name_or_path")
    return Resolved(kind="peft", path=folder, base_model_hint=str(hint) if hint else None,
                    note=f"PEFT adapter for {hint}" if hint else "PEFT adapter")


def resolve_output(path: Path) -> Resolved:
    """Say what `path` is; raises ResolveError (what was found, what to do)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ResolveError(f"{path} does not exist.")
    if path.is_file():
        return _resolve_file(path)
    if (path / "adapter_config.json").is_file():
        return _resolve_peft(path)
    candidates = sorted(p for p in path.iterdir()
                        if p.is_file() and p.suffix.lower() in (".gguf", ".bin"))
    if len(candidates) == 1:
        found = _resolve_file(candidates[0])
        found.note = f"using {candidates[0].name}, the only .gguf/.bin file in {path}"
        return found
    if not candidates:
        raise ResolveError(f"{path} is a folder with no .gguf or .bin file and no "
                           "adapter_config.json.", FOLDER_HINT)
    names = ", ".join(p.name for p in candidates[:6])
    raise ResolveError(f"{path} holds several candidate files ({names}); which one is the "
                       "adapter?", "Pass the file itself instead of the folder.")


def check_adapter_matches(adapter: Resolved, base_gguf: Path) -> None:
    """A GGUF LoRA must be for the base's architecture (names both when they differ)."""
    if adapter.kind != "gguf-lora":
        return
    base = inspect_gguf(base_gguf)
    if base.general_type == "adapter":
        raise ResolveError(f"The base {base_gguf} is itself an adapter, not a model.",
                           "Choose the model the adapter was trained on as the base.")
    if adapter.architecture and adapter.architecture != base.architecture:
        raise ResolveError(f"The adapter is for a {adapter.architecture} model, but the base is "
                           f"a {base.architecture} model.",
                           "Choose the base model the adapter was trained on.")


def choose_route(resolved: Resolved, server_version: str | None, prefer_adapter: bool,
                 base_architecture: str | None = None) -> tuple[Route, str]:
    """(route, a sentence for the user saying why). GGUF LoRA: ADAPTER only when asked and the
    server runs GGUF adapters (0.30+); PEFT: only servers before 0.34.1 import it."""
    from forge_gui.core.ollama.client import accepts_adapters, runs_gguf_adapters

    version = server_version or ""
    server_accepts_adapters = accepts_adapters(version)
    if resolved.kind == "whole":
        return "from-file", "A whole model: Ollama is given the file itself."
    if resolved.kind == "gguf-lora":
        if prefer_adapter and runs_gguf_adapters(version):
            return "adapter", (f"ADAPTER on top of the base (Ollama {version} runs GGUF "
                               "adapters): no second copy of the base.")
        why = ("this Ollama is older than 0.30, which cannot run a GGUF adapter"
               if prefer_adapter and server_version else
               "Ollama was not reached to ask its version" if prefer_adapter else
               "merging works on every Ollama version")
        return "merge", f"The adapter is merged into the base with llama-export-lora ({why})."
    arch = base_architecture or ""
    if server_accepts_adapters and arch in PEFT_ARCHITECTURES:
        return "adapter", "PEFT adapter given to Ollama as ADAPTER (older Ollama, llama/gemma2)."
    reason = ("Ollama 0.34.1 and newer refuse adapters" if not server_accepts_adapters
              else f"Ollama only converted PEFT adapters for llama and gemma2, not '{arch}'")
    raise ResolveError(
        f"This PEFT adapter cannot be registered directly: {reason}.",
        f"Convert it to a GGUF LoRA, then pass the .gguf file (Forge merges it into the base, "
        f"which works on every Ollama version): {peft_conversion_command(resolved.path)}")


def peft_conversion_command(peft_dir: Path) -> str:
    """The exact commands that turn a PEFT folder into a GGUF LoRA with llama.cpp's own
    converter (it needs torch and transformers, which Forge does not ship, and the base
    model's Hugging Face folder, for its config.json)."""
    import shlex

    from forge_gui.core.base.paths import cache_dir
    from forge_gui.core.llamacpp import lora_source

    script = lora_source.source_dir(cache_dir() / "llama.cpp") / "convert_lora_to_gguf.py"
    where = (shlex.quote(str(script)) if script.is_file() else
             f"convert_lora_to_gguf.py (from https://github.com/{lora_source.FORK_REPO}/raw/"
             f"{lora_source.FORK_COMMIT}/convert_lora_to_gguf.py)")
    folder = Path(peft_dir)
    out = folder.with_name(folder.name + ".gguf")
    return ("python3 -m pip install torch transformers safetensors sentencepiece gguf && "
            f"python3 {where} --outtype f16 --outfile {shlex.quote(str(out))} "
            f"--base BASE_MODEL_HF_FOLDER {shlex.quote(str(folder))}")
