"""Write a PEFT LoRA adapter folder exactly as PEFT saves one (save_pretrained, safetensors).

On disk PEFT keeps, per adapted Linear layer `<module>` of the base (e.g.
`model.layers.0.self_attn.q_proj`), the tensors `base_model.model.<module>.lora_A.weight` of
shape (r, in_features) and `base_model.model.<module>.lora_B.weight` of shape
(out_features, r) (the adapter name "default" is dropped when saving), next to an
adapter_config.json with the fields below. The effective update is W + (alpha/r)·B·A
(alpha/sqrt(r) with use_rslora; r/alpha per module from rank_pattern/alpha_pattern).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

# HF module suffix -> (GGUF tensor, index of in, index of out in the GGUF ne)
LLAMA_MODULES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                 "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
                 "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}


def peft_config(r: int, alpha: float, target_modules: list[str], base: str = "org/tiny-llama",
                **extra) -> dict:
    """adapter_config.json as PEFT 0.x writes it (the fields that matter, PEFT's defaults)."""
    config = {
        "alpha_pattern": {}, "auto_mapping": None, "base_model_name_or_path": base,
        "bias": "none", "fan_in_fan_out": False, "inference_mode": True,
        "init_lora_weights": True, "layer_replication": None, "layers_pattern": None,
        "layers_to_transform": None, "loftq_config": {}, "lora_alpha": alpha,
        "lora_dropout": 0.05, "megatron_config": None, "megatron_core": "megatron.core",
        "modules_to_save": None, "peft_type": "LORA", "r": r, "rank_pattern": {},
        "revision": None, "target_modules": target_modules, "task_type": "CAUSAL_LM",
        "use_dora": False, "use_rslora": False,
    }
    config.update(extra)
    return config


def write_peft(folder: Path, shapes: dict[str, list[int]], r: int = 4, alpha: float = 8.0,
               layers: int = 2, modules: tuple[str, ...] = tuple(LLAMA_MODULES), seed: int = 0,
               bf16: bool = False, **config) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write `folder` (adapter_config.json + adapter_model.safetensors) for a base whose GGUF
    tensor shapes (ne: [in, out]) are `shapes`. Returns {"blk.N.attn_q": (A, B)} in HF order.
    Per-module ranks come from config's rank_pattern (matched on the module suffix)."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rank_pattern = config.get("rank_pattern") or {}
    tensors: dict[str, np.ndarray] = {}
    pairs = {}
    for i in range(layers):
        for module in modules:
            n_in, n_out = shapes[f"blk.{i}.{LLAMA_MODULES[module]}.weight"]
            rank = next((v for k, v in rank_pattern.items() if module.endswith(k)), r)
            a = (rng.standard_normal((rank, n_in)) * 0.1).astype(np.float32)
            b = (rng.standard_normal((n_out, rank)) * 0.1).astype(np.float32)
            name = f"base_model.model.model.layers.{i}.{module}"
            tensors[f"{name}.lora_A.weight"], tensors[f"{name}.lora_B.weight"] = a, b
            pairs[f"blk.{i}.{LLAMA_MODULES[module]}"] = (a, b)
    targets = sorted({m.split(".")[-1] for m in modules})
    (folder / "adapter_config.json").write_text(
        json.dumps(peft_config(r, alpha, targets, **config), indent=2), "utf-8")
    if bf16:
        pairs = {k: (_bf16_round(a), _bf16_round(b)) for k, (a, b) in pairs.items()}
        _save_bf16(folder / "adapter_model.safetensors", tensors)
    else:
        save_file(tensors, str(folder / "adapter_model.safetensors"), metadata={"format": "pt"})
    return pairs


def _bf16_round(x: np.ndarray) -> np.ndarray:
    return ((x.astype(np.float32).view(np.uint32) >> 16) << 16).view(np.float32)


def _save_bf16(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """A safetensors file of BF16 tensors, as torch writes one (numpy cannot hold bfloat16)."""
    header: dict = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name, x in tensors.items():
        raw = (x.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        header[name] = {"dtype": "BF16", "shape": list(x.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
