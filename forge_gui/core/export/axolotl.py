"""The Axolotl configuration of an exported job, and its check.

Axolotl (https://github.com/axolotl-ai-cloud/axolotl) validates its YAML with a pydantic
schema (axolotl/utils/schemas/*.py), but importing it needs torch, accelerate and transformers
(its PyPI requirements pin torch), which Forge does not ship. So the YAML is checked against
the keys Forge writes, as Axolotl 0.19.0's schema documents them (KEYS, DATASET_KEYS below:
each key, its type, and the schema file that defines it); tests/test_export_job.py reads the
YAML back and checks it with the same table.
"""

from __future__ import annotations

import re
from typing import Any

from forge_gui.core.formats.chat_format import IM_START  # the one home of the markers

AXOLOTL_VERSION = "0.19.0"

# key -> (accepted Python types, schema file in axolotl/utils/schemas/) for Axolotl 0.19.0
KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "base_model": ((str,), "model.py"),
    "chat_template": ((str,), "config.py (enums.ChatTemplate)"),
    "datasets": ((list,), "config.py"),
    "test_datasets": ((list,), "config.py"),
    "dataset_prepared_path": ((str,), "config.py"),
    "val_set_size": ((int, float), "config.py"),
    "output_dir": ((str,), "model.py"),
    "adapter": ((str,), "peft.py"),
    "lora_r": ((int,), "peft.py"),
    "lora_alpha": ((int, float), "peft.py"),
    "lora_dropout": ((int, float), "peft.py"),
    "lora_target_modules": ((list,), "peft.py"),
    "sequence_len": ((int,), "config.py"),
    "sample_packing": ((bool,), "config.py"),
    "eval_sample_packing": ((bool,), "config.py"),
    "pad_to_sequence_len": ((bool,), "config.py"),
    "micro_batch_size": ((int,), "training.py"),
    "gradient_accumulation_steps": ((int,), "training.py"),
    "num_epochs": ((int, float), "training.py"),
    "learning_rate": ((int, float), "training.py"),
    "optimizer": ((str,), "training.py"),
    "lr_scheduler": ((str,), "training.py"),
    "warmup_ratio": ((int, float), "config.py"),
    "bf16": ((bool, str), "config.py ('auto' or a bool)"),
    "tf32": ((bool,), "config.py"),
    "gradient_checkpointing": ((bool,), "config.py"),
    "flash_attention": ((bool,), "config.py"),
    "logging_steps": ((int,), "config.py"),
    "saves_per_epoch": ((int,), "config.py"),
    "evals_per_epoch": ((int,), "config.py"),
    "save_safetensors": ((bool,), "model.py"),
    "seed": ((int,), "config.py"),
    "deepspeed": ((str,), "config.py"),
}
DATASET_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "path": ((str,), "datasets.py"),
    "ds_type": ((str,), "datasets.py"),
    "type": ((str,), "datasets.py"),
    "split": ((str,), "datasets.py"),
    "field_messages": ((str,), "datasets.py"),
    "message_property_mappings": ((dict,), "datasets.py"),
    "roles_to_train": ((list,), "datasets.py"),
    "train_on_eos": ((str,), "datasets.py ('all', 'turn', 'last' or 'none')"),
}
CHAT_TEMPLATES = ("tokenizer_default", "chatml", "llama3", "gemma", "mistral_v1", "phi_3")
TRAIN_ON_EOS = ("all", "turn", "last", "none")

# Forge's llama.cpp layer names (--lora-modules) -> the Hugging Face Linear modules
HF_MODULES = {"attn_q": "q_proj", "attn_k": "k_proj", "attn_v": "v_proj", "attn_o": "o_proj",
              "ffn_gate": "gate_proj", "ffn_up": "up_proj", "ffn_down": "down_proj",
              "output": "lm_head"}
# Phi-3 fuses q/k/v and gate/up in one Linear each (qkv_proj, gate_up_proj)
PHI3_MODULES = {**HF_MODULES, "attn_q": "qkv_proj", "attn_k": "qkv_proj", "attn_v": "qkv_proj",
                "ffn_gate": "gate_up_proj", "ffn_up": "gate_up_proj"}
ALL_LAYERS = ("attn_q", "attn_k", "attn_v", "attn_o", "ffn_gate", "ffn_up", "ffn_down")

_HF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?$")


class ConfigError(ValueError):
    """The YAML would not be what Axolotl accepts; str() is one sentence."""


def check_hf_id(name: str) -> None:
    """A Hugging Face model id (ORG/NAME or NAME), as the Hub allows them."""
    if not _HF_ID.match(name) or ".." in name or "--" in name or name.endswith((".", "-")):
        shown = name if name.isprintable() and len(name) < 120 else repr(name[:120])
        raise ConfigError(f"'{shown}' is not a Hugging Face model id: it is ORG/NAME (letters, "
                          "digits, '-', '_' and '.'), e.g. Qwen/Qwen2.5-7B-Instruct.")


def hf_modules(forge_modules: str, architecture: str | None = None) -> list[str]:
    """--lora-modules (attn_q,…,ffn_down or all) -> Axolotl's lora_target_modules."""
    from forge_gui.core.base.lora_modules import parse_modules

    names = parse_modules(forge_modules)
    if "all" in names:
        names = list(ALL_LAYERS)
    table = PHI3_MODULES if architecture == "phi3" else HF_MODULES
    return list(dict.fromkeys(table[n] for n in names))


def build_config(*, hf_base: str, lora_rank: int, lora_alpha: float, modules: list[str],
                 learning_rate: float, epochs: int, ctx: int, seed: int, has_val: bool) -> dict:
    """The Axolotl YAML as a dict: LoRA on the model's own chat template, loss on the answers
    only, sample packing, bf16 where the GPU has it (bf16: auto)."""
    dataset = {"path": "data/train.jsonl", "ds_type": "json", "type": "chat_template",
               "split": "train", "field_messages": "messages",
               "message_property_mappings": {"role": "role", "content": "content"},
               "roles_to_train": ["assistant"], "train_on_eos": "turn"}
    config: dict[str, Any] = {
        "base_model": hf_base,
        "chat_template": "tokenizer_default",  # the model's own (its tokenizer_config.json)
        "datasets": [dataset],
        "dataset_prepared_path": "prepared",
        "val_set_size": 0.0,
        "output_dir": "outputs/lora",
        "adapter": "lora",
        "lora_r": lora_rank,
        "lora_alpha": int(lora_alpha) if float(lora_alpha).is_integer() else lora_alpha,
        "lora_dropout": 0.05,
        "lora_target_modules": modules,
        "sequence_len": ctx,
        "sample_packing": True,
        "eval_sample_packing": False,
        "pad_to_sequence_len": True,
        "micro_batch_size": 2,
        "gradient_accumulation_steps": 4,
        "num_epochs": epochs,
        "learning_rate": learning_rate,
        "optimizer": "adamw_torch_fused",
        "lr_scheduler": "cosine",
        "warmup_ratio": 0.05,
        "bf16": "auto",
        "tf32": False,
        "gradient_checkpointing": True,
        "flash_attention": True,
        "logging_steps": 1,
        "saves_per_epoch": 1,
        "save_safetensors": True,
        "seed": seed,
    }
    if has_val:
        config["test_datasets"] = [{**dataset, "path": "data/val.jsonl"}]
        config["evals_per_epoch"] = 2
    return config


def _check(table: dict, data: dict, where: str) -> None:
    for key, value in data.items():
        if key not in table:
            raise ConfigError(f"{where}'{key}' is not a key Axolotl {AXOLOTL_VERSION} documents.")
        types = table[key][0]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ConfigError(f"{where}'{key}' must be {' or '.join(t.__name__ for t in types)}, "
                              f"not {type(value).__name__}.")


def validate(config: dict) -> None:
    """Check a config against Axolotl's documented keys and values; ConfigError if not."""
    _check(KEYS, config, "")
    for key in ("base_model", "datasets", "adapter", "sequence_len", "num_epochs"):
        if key not in config:
            raise ConfigError(f"The Axolotl config lacks '{key}'.")
    check_hf_id(config["base_model"])
    if config.get("chat_template") not in (None, *CHAT_TEMPLATES):
        raise ConfigError(f"chat_template '{config['chat_template']}' is not one Forge writes.")
    if config["adapter"] not in ("lora", "qlora"):
        raise ConfigError("adapter must be lora or qlora.")
    if config.get("bf16") not in (True, False, "auto"):
        raise ConfigError("bf16 must be true, false or auto.")
    for field in ("datasets", "test_datasets"):
        for i, dataset in enumerate(config.get(field) or []):
            if not isinstance(dataset, dict):
                raise ConfigError(f"{field}[{i}] must be a mapping.")
            _check(DATASET_KEYS, dataset, f"{field}[{i}]: ")
            if dataset.get("train_on_eos") not in (None, *TRAIN_ON_EOS):
                raise ConfigError(f"{field}[{i}]: train_on_eos must be one of {TRAIN_ON_EOS}.")
    if not all(isinstance(m, str) and m for m in config.get("lora_target_modules", [])):
        raise ConfigError("lora_target_modules must be module names.")


def deepspeed_zero2() -> dict:
    """DeepSpeed ZeRO stage 2 for several GPUs; "auto" values are filled in by the HF Trainer
    from the Axolotl config (the shape of Axolotl's own deepspeed_configs/zero2.json)."""
    return {
        "zero_optimization": {"stage": 2, "offload_optimizer": {"device": "none"},
                              "contiguous_gradients": True, "overlap_comm": True,
                              "reduce_scatter": True, "allgather_bucket_size": 5e8,
                              "reduce_bucket_size": "auto"},
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto", "auto_cast": False, "loss_scale": 0,
                 "initial_scale_power": 32, "loss_scale_window": 1000, "hysteresis": 2,
                 "min_loss_scale": 1},
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "wall_clock_breakdown": False,
    }


# What the model id says of its family, and the marks of each family's chat template
_NAME_FAMILIES = (("qwen", "qwen"), ("gemma", "gemma"), ("phi-3", "phi3"), ("phi3", "phi3"),
                  ("mistral", "llama"), ("mixtral", "llama"), ("llama", "llama"))
_ARCH_FAMILIES = {"llama": "llama", "qwen2": "qwen", "qwen3": "qwen", "gemma": "gemma",
                  "gemma2": "gemma", "gemma3": "gemma", "phi3": "phi3"}
_TEMPLATE_MARKS = ((IM_START, "ChatML"), ("<|start_header_id|>", "Llama 3"),
                   ("<start_of_turn>", "Gemma"), ("[INST]", "Mistral/Llama 2"),
                   ("<|user|>", "Phi-3"))
_NAME_TEMPLATES = {"qwen": "ChatML", "gemma": "Gemma", "phi3": "Phi-3"}


def template_family(chat_template: str | None) -> str | None:
    for mark, family in _TEMPLATE_MARKS:
        if chat_template and mark in chat_template:
            return family
    return None


def base_mismatch(hf_base: str, architecture: str, chat_template: str | None) -> str | None:
    """One sentence when what the GGUF shows (architecture, chat template family) does not
    look like the Hugging Face model named; None when nothing contradicts it."""
    lowered = hf_base.lower()
    named = next((family for word, family in _NAME_FAMILIES if word in lowered), None)
    have = _ARCH_FAMILIES.get(architecture)
    if named and have and named != have:
        return (f"The GGUF base is a {architecture} model but {hf_base} looks like a {named} "
                "model; the adapter trained there will only fit the base it was trained on.")
    family = template_family(chat_template)
    expected = _NAME_TEMPLATES.get(named or "") or ("Llama 3" if "llama-3" in lowered else None)
    if family and expected and family != expected:
        return (f"The GGUF base's chat template is {family}'s but {hf_base} uses {expected}'s; "
                "the model would answer in a format its template does not expect.")
    return None
