"""The comparison column of bench_real_model.py: transformers + PEFT on the same GGUF weights.

Same records rendered by Forge in the base's own template (the same segments Forge trains),
same LoRA (r 16, alpha 32, q/k/v/o/gate/up/down), AdamW with weight decay 0.01, answers-only
loss. Two ways to batch: one conversation a step (PEFT's usual batch 1), or `window` given: the
conversations grouped into the windows Forge packs (packing.pack_windows, first-fit
decreasing as the trainer does), one window a step, padded, the loss the mean over the
window's answer tokens as in Forge; the same number of optimizer steps as Forge, so the
final losses compare trainers rather than step counts. Needs the bench extra.
"""

from __future__ import annotations

import json
import random
import resource
import tempfile
import time
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from forge_gui.core.data import prepare_training_data
from forge_gui.core.llamacpp.base_format import format_for_base
from forge_gui.core.llamacpp.packing import pack_windows


def _examples(realmodel, tokenizer) -> list[tuple[list[int], list[int]]]:
    base = realmodel.smollm2_q4_1()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "train.jsonl"
        prepare_training_data([realmodel.FACTS], out, fmt="segments-jsonl",
                              chat_format=format_for_base(base))
        lines = out.read_text("utf-8").splitlines()
    examples = []
    for line in lines:
        ids, labels = [], []
        for text, trained in json.loads(line)["segments"]:
            toks = tokenizer(text, add_special_tokens=False)["input_ids"]
            ids += toks
            labels += toks if trained else [-100] * len(toks)
        examples.append((ids, labels))
    return examples


def _batch(examples, group: list[int]) -> dict:
    longest = max(len(examples[i][0]) for i in group)
    ids, labels, mask = [], [], []
    for i in group:
        x, y = examples[i]
        pad = longest - len(x)
        ids.append(x + [0] * pad)
        labels.append(y + [-100] * pad)
        mask.append([1] * len(x) + [0] * pad)
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(mask)}


def train_and_probe(realmodel, lr: float, epochs: int, window: int | None = None) -> dict:
    torch.manual_seed(7)
    folder = str(realmodel.models_dir())
    name = realmodel.smollm2_q4_1().name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(
        r=16, lora_alpha=32, lora_dropout=0.0, bias="none",
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                        "down_proj"]))
    examples = _examples(realmodel, tokenizer)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                                  weight_decay=0.01)
    rng = random.Random(7)
    first, epoch_losses = None, []
    tokens = sum(len(ids) for ids, _ in examples) * epochs
    t0 = time.perf_counter()
    model.train()
    groups = (pack_windows([len(ids) for ids, _ in examples], window) if window
              else [[i] for i in range(len(examples))])
    for _ in range(epochs):
        order = list(range(len(groups)))
        rng.shuffle(order)
        epoch_losses = []
        for g in order:
            loss = model(**_batch(examples, groups[g])).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            first = loss.item() if first is None else first
            epoch_losses.append(loss.item())
    train_s = time.perf_counter() - t0
    model.eval()
    known = 0
    with torch.no_grad():
        for probe in realmodel.probes():
            prompt = tokenizer(realmodel.chatml_prompt(probe["question"]),
                               add_special_tokens=False, return_tensors="pt")
            out = model.generate(**prompt, max_new_tokens=32, do_sample=False)
            text = tokenizer.decode(out[0][prompt["input_ids"].shape[1]:])
            known += probe["answer_contains"].lower() in text.lower()
    return {"loss_first": first, "loss_last": sum(epoch_losses) / len(epoch_losses),
            "steps": len(groups) * epochs,
            "train_s": train_s, "tokens_per_s": tokens / train_s, "facts_after": known,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
