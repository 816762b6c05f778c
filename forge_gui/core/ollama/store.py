"""Ollama's local model store: from a model name to the GGUF blob on disk (docs/ollama.md).

<models>/manifests/<host>/<namespace>/<model>/<tag> is JSON whose layer with mediaType
application/vnd.ollama.image.model names the blob <models>/blobs/sha256-<hex>: the GGUF.
<models> is $OLLAMA_MODELS, else ~/.ollama/models, else (Linux service install)
/usr/share/ollama/.ollama/models.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

from pydantic import BaseModel

from forge_gui.core.base.model_names import parse_model_name
from forge_gui.core.base.steps import StepFailed
from forge_gui.core.llamacpp.gguf_info import GGUFInfo, human_size, inspect_gguf

MODEL_MEDIA_TYPE = "application/vnd.ollama.image.model"
ADAPTER_MEDIA_TYPE = "application/vnd.ollama.image.adapter"


class BaseModelMissing(StepFailed):
    """The base model (manifest or blob) is not in any local Ollama store."""


def store_dirs() -> list[Path]:
    """Where Ollama may keep models here, in the order Forge looks."""
    found: list[Path] = []
    env = os.environ.get("OLLAMA_MODELS")
    if env:
        found.append(Path(env).expanduser())
    found.append(Path.home() / ".ollama" / "models")
    if sys.platform.startswith("linux"):
        found.append(Path("/usr/share/ollama/.ollama/models"))  # the systemd service's user
        found.append(Path("/var/lib/ollama/.ollama/models"))  # some distribution packages
    unique: list[Path] = []
    for folder in found:
        if folder not in unique:
            unique.append(folder)
    return unique


def default_store() -> Path | None:
    """The first store that exists (None when Ollama has stored nothing here yet)."""
    return next((d for d in store_dirs() if (d / "manifests").is_dir()), None)


def manifest_path(models_dir: Path, name: str) -> Path:
    n = parse_model_name(name)
    return Path(models_dir) / "manifests" / n.host / n.namespace / n.model / n.tag


def _blob_for(manifest: Path, media_type: str) -> Path | None:
    try:
        data = json.loads(manifest.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise StepFailed(f"The Ollama manifest {manifest} cannot be read: {exc}",
                         "Pull the model again with 'ollama pull'.") from exc
    for layer in data.get("layers") or []:
        if layer.get("mediaType") == media_type:
            digest = str(layer.get("digest", ""))
            return manifest.parents[4] / "blobs" / digest.replace(":", "-")
    return None


def resolve_base_gguf(name: str, models_dir: Path | None = None) -> Path:
    """The GGUF blob of an Ollama model. Raises BaseModelMissing saying what to do."""
    try:
        parse_model_name(name)
    except ValueError as exc:
        raise BaseModelMissing(f"'{name}' is not a valid Ollama model name: {exc}") from exc
    dirs = [Path(models_dir)] if models_dir else store_dirs()
    for folder in dirs:
        manifest = manifest_path(folder, name)
        if not manifest.is_file():
            continue
        blob = _blob_for(manifest, MODEL_MEDIA_TYPE)
        if blob is None:
            raise BaseModelMissing(f"The Ollama model '{name}' has no GGUF weights layer "
                                   f"({manifest}).",
                                   "It may be a cloud or safetensors-only model; choose a "
                                   "local GGUF model instead.")
        if not blob.is_file():
            raise BaseModelMissing(f"The manifest of '{name}' names {blob.name}, but that blob "
                                   f"is missing from {blob.parent}.",
                                   f"Pull it again: ollama pull {name}")
        return blob
    where = ", ".join(str(d) for d in dirs)
    raise BaseModelMissing(f"The model '{name}' is not in the local Ollama store ({where}).",
                           f"Download it first: ollama pull {name} (or set OLLAMA_MODELS to "
                           "where your models are, or choose a GGUF file directly).")


class BaseReport(BaseModel):
    """What `forge-cli train-resolve-base` prints."""

    name: str
    gguf: Path
    architecture: str
    file_type: str | None
    size_bytes: int
    parameters: int
    trainability: str  # ready / convert / quantized / not-a-model
    advice: str
    unquantized_hint: str | None = None

    def lines(self) -> list[str]:
        out = [f"Model:        {self.name}",
               f"GGUF:         {self.gguf}",
               f"Architecture: {self.architecture}",
               f"Weights:      {self.file_type or 'unknown'} ({human_size(self.size_bytes)}, "
               f"{self.parameters:,} parameters)",
               f"Trainable:    {self.advice}"]
        if self.unquantized_hint:
            out.append(f"Suggestion:   {self.unquantized_hint}")
        return out


def inspect_base(name: str, models_dir: Path | None = None) -> BaseReport:
    blob = resolve_base_gguf(name, models_dir)
    info: GGUFInfo = inspect_gguf(blob)
    hint = None
    if info.trainability == "quantized":
        n = parse_model_name(name)
        tag = n.tag if n.tag != "latest" else ""
        stem = re.sub(r"(^|-)(q\d|iq\d).*$", "", tag, flags=re.I)  # drop the quant suffix
        suggested = f"{n.model}:{stem + '-' if stem else ''}fp16"
        hint = (f"Get an unquantized copy, e.g. 'ollama pull {suggested}' (check the model's "
                "tags on ollama.com for one ending in -fp16), then use that as the base.")
    return BaseReport(name=name, gguf=blob, architecture=info.architecture,
                      file_type=info.file_type, size_bytes=info.size_bytes,
                      parameters=info.parameters, trainability=info.trainability,
                      advice=info.explain_trainability(), unquantized_hint=hint)
