"""Write a training job folder that runs as it is on a Linux GPU host (docs/cluster.md):

    data/train.jsonl (data/val.jsonl)  the validated, normalised records as {"messages": […]}
    axolotl.yaml                       the run's settings for Axolotl (axolotl.py builds, checks)
    deepspeed_zero2.json               DeepSpeed ZeRO-2, for several GPUs
    README.md                          the commands: one GPU, N GPUs, and bringing the adapter home
    forge-job.json                     what Forge exported, for the record

The folder is assembled under a temporary name beside OUT_DIR and renamed into place at the
end, so OUT_DIR either does not exist or holds the whole job; an OUT_DIR that exists and is not
empty is refused (Forge never writes over a user's files).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from forge_gui import __version__
from forge_gui.core.base.atomic import atomic_write_text
from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.steps import CancelToken, ProgressCallback, StepFailed
from forge_gui.core.export import axolotl as ax

log = logging.getLogger(__name__)

FILES = ("axolotl.yaml", "deepspeed_zero2.json", "README.md", "forge-job.json", "data")


class ExportError(StepFailed):
    pass


@dataclass
class ExportSettings:
    data: list[Path]
    hf_base: str
    name: str  # the Ollama model the README's retrain command creates
    base: str | None = None  # the Ollama base (for the check and the way home)
    base_gguf: Path | None = None
    field_map: dict[str, str] = field(default_factory=dict)
    lora_rank: int = 16
    lora_alpha: float = 32.0
    lora_modules: str = ",".join(ax.ALL_LAYERS)
    learning_rate: float = 1e-4
    epochs: int = 2
    ctx: int = 2048
    val_fraction: float = 0.0
    seed: int = 42


@dataclass
class ExportResult:
    out_dir: Path
    samples: int
    held_out: int
    warnings: list[str]
    config: dict


def check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() or out_dir.is_symlink():
        if not out_dir.is_dir():
            raise ExportError(f"{out_dir} exists and is not a folder; choose a new folder.")
        if any(out_dir.iterdir()):
            raise ExportError(f"{out_dir} is not empty; choose a new or empty folder (Forge "
                              "never writes over your files).")


def _base_file(s: ExportSettings) -> Path | None:
    if s.base_gguf:
        return s.base_gguf
    if s.base:
        from forge_gui.core.ollama.store import resolve_base_gguf
        try:
            return resolve_base_gguf(s.base)
        except StepFailed as exc:
            log.info("The Ollama base %s is not checked against %s: %s", s.base, s.hf_base, exc)
    return None


def inspect_base(s: ExportSettings) -> tuple[str | None, list[str]]:
    """(the GGUF base's architecture, warnings) — what Forge can see of the named HF model."""
    path = _base_file(s)
    if path is None:
        return None, []
    from forge_gui.core.llamacpp.gguf_info import inspect_gguf

    info = inspect_gguf(path)
    problem = ax.base_mismatch(s.hf_base, info.architecture, info.chat_template)
    return info.architecture, [problem] if problem else []


def home_command(s: ExportSettings) -> str:
    """The command that brings the trained adapter home (run in the job folder)."""
    base = (["--base-gguf", str(s.base_gguf)] if s.base_gguf else
            ["--base", s.base] if s.base else ["--base", "OLLAMA_BASE_MODEL"])
    return shlex.join(["forge-cli", "retrain", "--adapter", "outputs/lora", *base,
                       "--name", s.name])


def readme(s: ExportSettings, result: ExportResult) -> str:
    c = result.config
    warn = "".join(f"\n> **Check:** {w}\n" for w in result.warnings)
    held = f", {result.held_out:,} held out in data/val.jsonl" if result.held_out else ""
    return f"""# Training job for {s.hf_base}

Written by Forge {__version__} (`forge-cli export-job`) on {datetime.now(UTC):%Y-%m-%d}.
{result.samples:,} conversations in data/train.jsonl{held}, as `{{"messages": [...]}}` lines.
LoRA rank {c['lora_r']}, alpha {c['lora_alpha']}, on {', '.join(c['lora_target_modules'])};
learning rate {c['learning_rate']:g}, {c['num_epochs']} epoch(s), sequences of {c['sequence_len']}
tokens, packed. The model is trained in its own chat template (`chat_template:
tokenizer_default`), with the loss on the assistant's answers only.
{warn}
## 1. Set up the GPU host (Linux, NVIDIA GPUs, Python 3.11+)

    python3 -m venv .venv && . .venv/bin/activate
    pip install --upgrade pip
    pip install "axolotl[flash-attn,deepspeed]=={ax.AXOLOTL_VERSION}"

Gated models (Llama, Gemma) need `huggingface-cli login` first.
Or use Axolotl's image: `docker run --gpus all -it -v "$PWD":/job -w /job
axolotlai/axolotl:main-latest` and run the commands below inside it.

## 2. Train

One GPU:

    axolotl train axolotl.yaml

N GPUs on this host (DeepSpeed ZeRO-2; set N to the number of GPUs):

    axolotl train axolotl.yaml --deepspeed deepspeed_zero2.json --launcher torchrun -- --nproc_per_node=N

Several hosts: run the same command on each with torchrun's `--nnodes`, `--node_rank` and
`--rdzv_endpoint` after `--`, or see Axolotl's multi-node guide. Out of memory? Lower
`micro_batch_size` or `sequence_len` in axolotl.yaml, or add `load_in_4bit: true` and set
`adapter: qlora`.

The adapter ends in outputs/lora (adapter_config.json + adapter_model.safetensors).

## 3. Bring it home

Copy outputs/lora back into this folder on the machine that runs Ollama, then, in this folder:

    {home_command(s)}

Forge converts the PEFT adapter to a GGUF LoRA for the base (no torch needed), merges it with
llama-export-lora and creates the Ollama model with the base's own chat template. The base
must be the GGUF of the same model as `{s.hf_base}`.
"""


def _dumper():
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data) -> bool:  # plain YAML: no &id001 / *id001 anchors
            return True

    return Dumper


def write_job(s: ExportSettings, out_dir: Path, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> ExportResult:
    """Write the job folder; raises StepFailed (one sentence) for anything unusable."""
    import yaml

    from forge_gui.core.data import ValidationOptions, prepare_training_data

    report = progress or (lambda event: None)
    out_dir = Path(os.path.abspath(Path(out_dir).expanduser()))
    try:
        ax.check_hf_id(s.hf_base)
    except ax.ConfigError as exc:
        raise ExportError(str(exc)) from None
    check_out_dir(out_dir)
    architecture, warnings = inspect_base(s)
    try:
        modules = ax.hf_modules(s.lora_modules, architecture)
    except ValueError as exc:
        raise ExportError(f"LoRA layers: {exc}.") from None
    tmp = out_dir.with_name(f".{out_dir.name}.forge-export-{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "data").mkdir(parents=True)
        report(ProgressEvent(step="export", message="Checking and writing the training data"))
        prepared = prepare_training_data(
            s.data, tmp / "data" / "train.jsonl", options=ValidationOptions(field_map=s.field_map),
            fmt="chat-jsonl", val_fraction=s.val_fraction, seed=s.seed, progress=progress,
            cancel=cancel)
        if prepared.val_out is not None:
            prepared.val_out.rename(tmp / "data" / "val.jsonl")
        config = ax.build_config(hf_base=s.hf_base, lora_rank=s.lora_rank,
                                 lora_alpha=s.lora_alpha, modules=modules,
                                 learning_rate=s.learning_rate, epochs=s.epochs, ctx=s.ctx,
                                 seed=s.seed, has_val=prepared.held_out > 0)
        text = yaml.dump(config, Dumper=_dumper(), sort_keys=False, allow_unicode=True)
        ax.validate(yaml.safe_load(text))  # what Axolotl will read, not what was meant
        result = ExportResult(out_dir, prepared.samples, prepared.held_out, warnings, config)
        atomic_write_text(tmp / "axolotl.yaml", "# Axolotl config written by Forge "
                          f"{__version__}; see README.md\n" + text)
        atomic_write_text(tmp / "deepspeed_zero2.json", json.dumps(ax.deepspeed_zero2(), indent=2) + "\n")
        atomic_write_text(tmp / "README.md", readme(s, result))
        record = {"forge_version": __version__, "engine": "axolotl", "hf_base": s.hf_base,
                  "base": s.base, "base_gguf": str(s.base_gguf) if s.base_gguf else None,
                  "name": s.name, "samples": prepared.samples, "held_out": prepared.held_out,
                  "warnings": warnings, "home_command": home_command(s)}
        atomic_write_text(tmp / "forge-job.json", json.dumps(record, indent=2) + "\n")
        check_out_dir(out_dir)  # still new or empty after the work
        if out_dir.is_dir():
            out_dir.rmdir()
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report(ProgressEvent(step="export", fraction=1.0, message=f"Wrote {out_dir}"))
    log.info("Exported an Axolotl job for %s to %s (%d samples)", s.hf_base, out_dir,
             prepared.samples)
    return result
