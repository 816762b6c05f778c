"""What Forge knows about llama-finetune-lora's output: adapters, checkpoints, memory.

The tool exits 0 when it wrote nothing useful (too little data runs 0 steps and saves an
all-zero adapter; a failed save only prints "Failed to save LoRA adapter"), and it writes
checkpoints in place, so a killed run can leave a truncated one. Everything it writes is
checked here before Forge uses it (docs/training.md, "LoRA").
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import gguf
import numpy as np

from forge_gui.core.base.lora_modules import MODULE_TENSORS
from forge_gui.core.base.steps import StepFailed
from forge_gui.core.llamacpp.gguf_info import GGUFInfo, TruncatedGGUF, check_output, is_whole

log = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "checkpoint_step_"
KEEP_CHECKPOINTS = 2  # the newest complete one, and one before it in case it is bad
_SAVED = re.compile(r"Checkpoint saved successfully to (?P<dir>.+?)\s*$")


# ------------------------------------------------------------------------------- adapter

def check_adapter(base: GGUFInfo, path: Path, hint: str | None = None) -> GGUFInfo:
    """The trained adapter exists, is a whole GGUF LoRA for this base, and is not all zeros
    (a part written to a full disk is removed: gguf_info.check_output)."""
    if not path.is_file():
        raise StepFailed(f"llama-finetune-lora ended without writing the adapter ({path.name}).",
                         hint)
    try:
        info = check_output(path, "llama-finetune-lora", 0, hint)
    except TruncatedGGUF:
        raise
    except StepFailed as exc:
        raise StepFailed(f"The trained adapter is not a readable GGUF file: {exc.message}",
                         hint) from exc
    if info.general_type != "adapter":
        raise StepFailed(f"{path.name} is a GGUF {info.general_type}, not a LoRA adapter.", hint)
    if info.architecture != base.architecture:
        raise StepFailed(f"The adapter is for a {info.architecture} model, the base is "
                         f"{base.architecture}.", hint)
    targets = {name.rsplit(".lora_", 1)[0] for name in info.tensor_names if ".lora_" in name}
    strangers = sorted(targets - set(base.tensor_names))
    if not targets or strangers:
        raise StepFailed("The adapter's tensors do not belong to the base"
                         + (f" (e.g. {strangers[0]})." if strangers else "."), hint)
    if adapter_is_zero(path):
        raise StepFailed("The trained adapter is all zeros: training ran no step, so the model "
                         "would not change.",
                         "Add more training data, or use a shorter context so that the data "
                         "makes more training windows.")
    return info


def adapter_is_zero(path: Path) -> bool:
    """True when every lora_b tensor is zero (B starts at zero: an untrained adapter)."""
    reader = gguf.GGUFReader(path)
    for tensor in reader.tensors:
        if tensor.name.endswith(".lora_b") and np.any(np.asarray(tensor.data) != 0):
            return False
    return True


# ------------------------------------------------------------------------------- checkpoints

def checkpoint_step(folder: Path) -> int | None:
    name = folder.name
    if not name.startswith(CHECKPOINT_PREFIX):
        return None
    try:
        return int(name[len(CHECKPOINT_PREFIX):])
    except ValueError:
        return None


def checkpoint_is_complete(folder: Path) -> bool:
    """model.gguf and optimizer.gguf whole (every tensor's data inside the file) and
    metadata.txt with its four keys: the tool writes them in place, a kill leaves a part."""
    meta = folder / "metadata.txt"
    try:
        keys = {line.split("=", 1)[0] for line in meta.read_text("utf-8").splitlines()
                if "=" in line}
    except OSError:
        return False
    if not {"epoch", "lora_rank", "lora_alpha", "target_modules"} <= keys:
        return False
    return all(is_whole(folder / part) for part in ("model.gguf", "optimizer.gguf"))


def checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every checkpoint folder, oldest first."""
    if not folder.is_dir():
        return []
    found = [(checkpoint_step(p), p) for p in folder.iterdir() if p.is_dir()]
    return sorted((step, p) for step, p in found if step is not None)


def latest_complete_checkpoint(folder: Path) -> Path | None:
    for _step, path in reversed(checkpoints(folder)):
        if checkpoint_is_complete(path):
            return path
        log.warning("skipping checkpoint %s: it is incomplete (the run was stopped while it "
                    "was being written)", path)
    return None


def prune_checkpoints(folder: Path, keep: int = KEEP_CHECKPOINTS) -> None:
    """Keep the newest `keep` complete checkpoints; drop older ones and broken ones older
    than the newest complete one (a broken newest one may still be being written)."""
    found = checkpoints(folder)
    complete = [p for _, p in found if checkpoint_is_complete(p)]
    keep_set = set(complete[-keep:])
    newest_complete = checkpoint_step(complete[-1]) if complete else None
    for step, path in found:
        if path in keep_set or newest_complete is None or step > newest_complete:
            continue
        shutil.rmtree(path, ignore_errors=True)


def saved_checkpoint(line: str) -> Path | None:
    """The folder of a "Checkpoint saved successfully to DIR" log line."""
    m = _SAVED.search(line)
    return Path(m.group("dir")) if m else None


# ------------------------------------------------------------------------------- memory

def adapter_parameters(base: GGUFInfo, modules: list[str], rank: int) -> int:
    """rank × (in + out) for every base weight the modules adapt."""
    parts = set(MODULE_TENSORS.values()) if "all" in modules else {
        MODULE_TENSORS[m] for m in modules}
    total = 0
    for name, shape in base.tensor_shapes.items():
        stem = name.removesuffix(".weight")
        part = stem.split(".")[-1]
        if len(shape) == 2 and name.endswith(".weight") and part in parts:
            total += rank * (shape[0] + shape[1])
    return total


def training_memory_bytes(base: GGUFInfo, ctx: int, modules: list[str], rank: int) -> int:
    """Rough peak RAM of llama-finetune-lora: the base as stored (it is not converted), the
    adapter with its gradients and two AdamW moments (4 × F32), and activations, which grow
    with the context and the vocabulary as in full fine-tuning."""
    activations = ctx * ((base.vocab_size or 32000) * 3 + 64 * 1024) * 4
    return (base.size_bytes + adapter_parameters(base, modules, rank) * 16 + activations
            + 192 * 1024 * 1024)


# What one physical core does on the training kernels of Forge's patched tools: measured
# ~54 GFLOP/s a core on SmolLM2-135M (AVX2 build, 2.6 GHz Xeon; docs/performance.md), kept
# lower here because laptops clock lower and a run also loads, evaluates and saves.
TRAIN_FLOPS_PER_CORE = 30e9


def training_seconds(parameters: int, tokens: int, epochs: int, method: str,
                     cores: int) -> float:
    """Rough CPU time of a training run. LoRA on a frozen base: forward and the backward
    through the activations, 4 x parameters a position, conversations packed (~1.06 positions
    a token). Full fine-tune (upstream llama-finetune): also the weight gradients, 6 x
    parameters, and its windows overlap by half, so each token is computed twice an epoch."""
    if method == "lora":
        flops = 4 * parameters * tokens * 1.06 * epochs
    else:
        flops = 6 * parameters * tokens * 2 * epochs
    return flops / (TRAIN_FLOPS_PER_CORE * max(1, cores))
