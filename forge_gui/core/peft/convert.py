"""A PEFT LoRA folder -> a GGUF LoRA for the base's architecture, without torch.

What llama.cpp's convert_lora_to_gguf.py does for the families Forge supports, with
`safetensors` (numpy) and the `gguf` package's tensor-name map instead of torch:

- PEFT writes `base_model.model.<module>.lora_A.weight` (r x in) and `...lora_B.weight`
  (out x r) per adapted Linear; `<module>` (e.g. `model.layers.3.self_attn.q_proj`) is mapped
  to the base's GGUF name (`blk.3.attn_q`) by gguf's TensorNameMap for the base's
  architecture, and written as `blk.3.attn_q.weight.lora_a` / `.lora_b`.
- Scale: PEFT applies (alpha/r)·B·A per module (alpha/sqrt(r) with use_rslora; r and alpha
  from rank_pattern/alpha_pattern where a pattern matches). A GGUF LoRA holds one alpha and
  llama.cpp scales each tensor by alpha/r(tensor), so any per-module difference is folded
  into B: B' = B·s·r/alpha. Plain adapters keep B as it is.
- Llama-family q_proj/k_proj (Llama, Mistral: GGUF arch "llama"): convert_hf_to_gguf.py
  permutes the rows of the base's Wq/Wk (`permute`, for its rotary layout), so the rows of B
  are permuted the same way (B·A's rows are W's rows).
- Phi-3 keeps its fused projections in GGUF (qkv_proj -> attn_qkv, gate_up_proj -> ffn_up,
  the same row order), so a LoRA on them maps one to one; nothing is split.
- fan_in_fan_out (GPT-2 style Conv1D layers) stores the delta transposed: A and B are swapped
  and transposed so that the GGUF holds the Linear-layout delta.

Refused, each in one sentence: other architectures, DoRA, non-LoRA PEFT types,
modules_to_save / embedding adapters, a .bin (pickle) adapter, shapes that do not fit the base.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forge_gui.core.base.steps import StepFailed

log = logging.getLogger(__name__)

# GGUF architecture -> does convert_hf_to_gguf permute q/k rows for it
SUPPORTED: dict[str, bool] = {"llama": True, "qwen2": False, "qwen3": False, "gemma": False,
                              "gemma2": False, "gemma3": False, "phi3": False}
FAMILIES = "Llama, Mistral, Qwen2/Qwen3, Gemma 1-3 and Phi-3"
_TENSOR = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.[^.]+)?\.weight$")


class PeftError(StepFailed):
    pass


@dataclass
class PeftConfig:
    r: int
    alpha: float
    fan_in_fan_out: bool = False
    use_rslora: bool = False
    rank_pattern: dict | None = None
    alpha_pattern: dict | None = None
    target_modules: list[str] | str | None = None
    base_model: str | None = None

    def _pattern(self, patterns: dict | None, module: str):
        # PEFT's get_pattern_key: the first key that matches the end of the module name
        for key, value in (patterns or {}).items():
            if re.match(rf"(.*\.)?({key})$", module):
                return value
        return None

    def scale(self, module: str, rank: int) -> float:
        """PEFT's scaling for this module: alpha/r, or alpha/sqrt(r) with rsLoRA."""
        alpha = self._pattern(self.alpha_pattern, module)
        alpha = float(self.alpha if alpha is None else alpha)
        return alpha / math.sqrt(rank) if self.use_rslora else alpha / rank


def read_config(folder: Path) -> PeftConfig:
    path = Path(folder) / "adapter_config.json"
    try:
        raw = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise PeftError(f"{path} cannot be read: {exc}") from exc
    if not isinstance(raw, dict):
        raise PeftError(f"{path} is not a PEFT adapter config (it holds no JSON object).")
    kind = str(raw.get("peft_type") or "LORA").upper()
    if kind != "LORA":
        raise PeftError(f"{folder} is a PEFT {kind} adapter; Forge converts LoRA adapters only.")
    if raw.get("use_dora"):
        raise PeftError(f"{folder} is a DoRA adapter, which a GGUF LoRA cannot express; "
                        "merge it with PEFT (merge_and_unload) and give Forge the merged model.")
    if raw.get("modules_to_save"):
        raise PeftError(f"{folder} also saves whole modules ({', '.join(raw['modules_to_save'])}), "
                        "which a GGUF LoRA cannot carry; merge it with PEFT instead.")
    try:
        r, alpha = int(raw.get("r", 8)), float(raw.get("lora_alpha", 8))
    except (TypeError, ValueError):
        raise PeftError(f"{path}: r and lora_alpha must be numbers.") from None
    if r < 1:
        raise PeftError(f"{path}: r must be at least 1, not {r}.")
    return PeftConfig(r=r, alpha=alpha, fan_in_fan_out=bool(raw.get("fan_in_fan_out")),
                      use_rslora=bool(raw.get("use_rslora")), rank_pattern=raw.get("rank_pattern"),
                      alpha_pattern=raw.get("alpha_pattern"),
                      target_modules=raw.get("target_modules"),
                      base_model=raw.get("base_model_name_or_path"))


def _bf16_tensors(path: Path) -> dict[str, np.ndarray]:
    """Read a safetensors file with BF16 tensors (numpy has no bfloat16): the format is an
    8-byte header length, a JSON header, then the raw data; BF16 is the top half of an F32."""
    dtypes = {"F32": np.float32, "F16": np.float16, "F64": np.float64}
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(n))
        data = fh.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = data[start:end]
        if info["dtype"] == "BF16":
            array = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] in dtypes:
            array = np.frombuffer(raw, np.dtype(dtypes[info["dtype"]]).newbyteorder("<"))
        else:
            raise PeftError(f"{path}: tensor {name} has type {info['dtype']}, which Forge cannot read.")
        out[name] = array.reshape(info["shape"]).astype(np.float32)
    return out


def read_tensors(folder: Path) -> dict[str, np.ndarray]:
    path = Path(folder) / "adapter_model.safetensors"
    if not path.is_file():
        if (Path(folder) / "adapter_model.bin").is_file():
            raise PeftError(f"{folder} holds adapter_model.bin (a PyTorch pickle), which Forge "
                            "does not load; save the adapter with safe_serialization=True.")
        raise PeftError(f"{folder} has no adapter_model.safetensors.")
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return {k: v.astype(np.float32) for k, v in load_file(str(path)).items()}
    except (TypeError, ValueError) as exc:  # numpy has no bfloat16
        log.info("%s: reading it by hand (%s)", path, exc)
        try:
            return _bf16_tensors(path)
        except (OSError, ValueError, KeyError) as inner:
            raise PeftError(f"{path} is not a readable safetensors file: {inner}") from inner
    except (SafetensorError, OSError) as exc:
        raise PeftError(f"{path} is not a readable safetensors file: {exc}") from exc


@dataclass
class Base:
    architecture: str
    blocks: int
    heads: int
    heads_kv: int
    shapes: dict[str, list[int]]  # GGUF name -> ne ([in, out])


def read_base(base_gguf: Path) -> Base:
    from forge_gui.core.llamacpp.gguf_header import read_header
    from forge_gui.core.llamacpp.gguf_info import inspect_gguf

    info = inspect_gguf(base_gguf)
    fields = read_header(Path(base_gguf)).fields
    arch = info.architecture

    def number(key: str, default: int = 0) -> int:
        value = fields.get(f"{arch}.{key}", default)
        return int(value) if isinstance(value, int) else default

    heads = number("attention.head_count")
    return Base(arch, number("block_count"), heads, number("attention.head_count_kv", heads),
                info.tensor_shapes)


def permute(rows: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """convert_hf_to_gguf.py's LlamaModel.permute, on the rows (first axis)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (rows.reshape(n_head, 2, rows.shape[0] // n_head // 2, *rows.shape[1:])
            .swapaxes(1, 2).reshape(rows.shape))


def check_architecture(arch: str) -> None:
    if arch not in SUPPORTED:
        raise PeftError(f"Forge cannot convert a PEFT adapter for a {arch} model; it converts "
                        f"{FAMILIES} adapters.")


def convert(folder: Path, base_gguf: Path, out: Path) -> Path:
    """Write `out`, a GGUF LoRA equivalent to the PEFT adapter in `folder` for `base_gguf`.
    Raises PeftError (a StepFailed) with one sentence for anything it cannot convert."""
    import gguf

    folder, out = Path(folder), Path(out)
    config = read_config(folder)
    base = read_base(base_gguf)
    check_architecture(base.architecture)
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for name, tensor in read_tensors(folder).items():
        match = _TENSOR.match(name)
        if not match:
            raise PeftError(f"{folder}: '{name}' is not a LoRA A/B weight (embedding adapters, "
                            "DoRA and saved modules cannot become a GGUF LoRA).")
        pairs.setdefault(match["module"], {})[match["ab"]] = tensor
    if not pairs:
        raise PeftError(f"{folder}/adapter_model.safetensors holds no LoRA weights.")
    arch_enum = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == base.architecture)
    names = gguf.get_tensor_name_map(arch_enum, base.blocks)
    tensors: list[tuple[str, np.ndarray, np.ndarray]] = []
    for module, ab in sorted(pairs.items()):
        if set(ab) != {"A", "B"}:
            raise PeftError(f"{folder}: {module} has lora_{''.join(ab)} but not its pair.")
        a, b = ab["A"], ab["B"]
        if config.fan_in_fan_out:
            a, b = b.T, a.T
        target = names.get_name(module, try_suffixes=(".weight",))
        if target is None:
            raise PeftError(f"{folder}: {module} has no counterpart in a {base.architecture} GGUF.")
        target = target if target.endswith(".weight") else target + ".weight"
        rank = a.shape[0]
        if a.ndim != 2 or b.ndim != 2 or b.shape[1] != rank:
            raise PeftError(f"{folder}: {module}'s lora_A {a.shape} and lora_B {b.shape} do not "
                            "fit together.")
        want = base.shapes.get(target)
        if want is None or list(want[:2]) != [a.shape[1], b.shape[0]]:
            have = f"{want[1]}×{want[0]}" if want else "missing"
            raise PeftError(f"The adapter does not fit this base: {module} changes a "
                            f"{b.shape[0]}×{a.shape[1]} weight, but the base's {target} is "
                            f"{have}; choose the base the adapter was trained on.")
        if SUPPORTED[base.architecture]:
            if module.endswith("q_proj"):
                b = permute(b, base.heads, base.heads)
            elif module.endswith("k_proj"):
                b = permute(b, base.heads, base.heads_kv)
        scale = config.scale(module, rank)
        fold = scale * rank / config.alpha if config.alpha else scale
        if fold != 1.0:
            b = b * np.float32(fold)
        tensors.append((target, np.ascontiguousarray(a, np.float32),
                        np.ascontiguousarray(b, np.float32)))
    _write(out, base.architecture, config, tensors)
    log.info("Converted %s (%d LoRA pairs, r=%d, alpha=%g) to %s", folder, len(tensors),
             config.r, config.alpha, out)
    return out


def _write(out: Path, arch: str, config: PeftConfig,
           tensors: list[tuple[str, np.ndarray, np.ndarray]]) -> None:
    """The GGUF LoRA as convert_lora_to_gguf.py writes it, into a temp file renamed at the end."""
    import gguf

    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        writer = gguf.GGUFWriter(tmp, arch)
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config.alpha))
        if config.base_model:
            writer.add_string("general.base_model.0.repo_url", str(config.base_model))
        for name, a, b in tensors:
            writer.add_tensor(f"{name}.lora_a", a)
            writer.add_tensor(f"{name}.lora_b", b)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
