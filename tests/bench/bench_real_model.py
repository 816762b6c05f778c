"""Forge's LoRA beside Hugging Face transformers + PEFT on a real model, same machine.

SmolLM2-135M-Instruct (tests/realmodel.py), the 72 records of invented facts, Forge's defaults
(LoRA r16 / alpha 32 on every attention and MLP matrix, AdamW, 2 epochs, answers-only loss).
Prints: loss first → last, facts known before/after, wall time, real tokens per second,
positions computed per real token, peak RSS; step time per weight type; a resumed run's step
time. PEFT needs the bench extra (`pip install -e .[bench]`: torch, transformers, peft), never
part of the app; without it that column is skipped and said so.

    python tests/bench/bench_real_model.py [--skip-peft] [--skip-types] [--lr X]
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import realmodel

from forge_gui.cli import main as forge_cli
from forge_gui.core.llamacpp.build import ensure_tools
from forge_gui.core.runs.run import LORA_LR, RunState

PACKED = re.compile(r"forge: (\d+) conversations in (\d+) windows of (\d+) tokens "
                    r"\(([\d.]+) % filled, (\d+) tokens, (\d+) trained\)")
STEP = re.compile(r"^train: .*data=(\d+)/(\d+) loss=([\d.]+).*t=(\d+):(\d+):(\d+)", re.M)


def peak_rss_children_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def forge_run(work: Path, base: Path, lr: float) -> dict:
    t0 = time.perf_counter()
    code = forge_cli(["train-run", "--data", str(realmodel.FACTS), "--base-gguf", str(base),
                      "--name", "bench-facts", "--workdir", str(work / "run"), "--no-create",
                      "--lr", f"{lr:g}", "--quantize", "none"])
    wall = time.perf_counter() - t0
    assert code == 0, "forge-cli train-run failed"
    state = RunState.load(work / "run")
    log = state.log_path("train").read_text("utf-8", "replace").replace("\r", "\n")
    packed = PACKED.search(log)
    steps = STEP.findall(log)
    train = next(s for s in state.record.steps if s.key == "train")
    train_s = (datetime.fromisoformat(train.ended) - datetime.fromisoformat(train.started)
               ).total_seconds()
    conversations, windows, ctx, _, tokens, _ = (int(float(x)) for x in packed.groups())
    epochs = state.settings.epochs
    return {"loss_first": state.artifacts.train_loss_first,
            "loss_last": state.artifacts.train_loss_last, "wall_s": wall, "train_s": train_s,
            "steps": len(steps), "ctx": ctx, "windows": windows,
            "positions_per_token": windows * ctx / tokens,
            "tokens_per_s": tokens * epochs / train_s, "adapter": state.artifacts.adapter_file,
            "peak_rss_mb": peak_rss_children_mb(), "packing": packed.group(0)}


def step_seconds(tools: Path, base: Path, segments: Path, ctx: int, steps: int,
                 extra: list[str] | None = None, resume: Path | None = None) -> float:
    """Mean seconds a training step takes, from the tool's own clock (several steps)."""
    argv = [str(tools / "llama-finetune-lora"), "-m", str(base), "-f", str(segments),
            "--segments", "-c", str(ctx), "-b", str(ctx), "-ub", str(ctx), "-fa", "off",
            "--num-epochs", "1", "--learning-rate", "1e-3", "--lora-rank", "16",
            "--lora-alpha", "32", "--lora-modules",
            "attn_q,attn_k,attn_v,attn_o,ffn_gate,ffn_up,ffn_down",
            "--output-adapter", str(segments.with_suffix(".adapter.gguf")), *(extra or [])]
    if resume is not None:
        argv += ["--resume-from", str(resume)]
    if "--checkpoint-save-steps" not in argv:
        argv += ["--checkpoint-save-steps", "0"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen, buffer = [], ""
    assert proc.stderr is not None
    while len(seen) < steps + 1:
        chunk = proc.stderr.read(256)
        if not chunk:
            break
        buffer += chunk.replace("\r", "\n")
        seen = [m for m in STEP.finditer(buffer)]
    proc.kill()
    proc.wait()
    first, last = seen[0], seen[-1]
    def clock(m):
        return int(m.group(4)) * 3600 + int(m.group(5)) * 60 + int(m.group(6))
    return (clock(last) - clock(first)) / max(1, len(seen) - 1)


def peft_run(lr: float, epochs: int = 2) -> dict | None:
    try:
        import peft_side
    except ImportError as exc:
        print(f"PEFT column skipped: {exc} (pip install -e .[bench])")
        return None
    return peft_side.train_and_probe(realmodel, lr, epochs)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-peft", action="store_true")
    parser.add_argument("--skip-types", action="store_true")
    parser.add_argument("--lr", type=float, default=LORA_LR)
    args = parser.parse_args()
    tools = ensure_tools()
    base = realmodel.smollm2_q4_1()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        before, _ = realmodel.facts_known(tools, base)
        forge = forge_run(work, base, args.lr)
        after, _ = realmodel.facts_known(tools, base, forge["adapter"])
        print("== Forge LoRA (llama-finetune-lora + Forge's patch), SmolLM2-135M Q4_1, 72 records")
        print(f"  {forge['packing']}")
        print(f"  loss {forge['loss_first']:.3f} -> {forge['loss_last']:.3f} (epoch mean)")
        print(f"  facts known {before}/24 -> {after}/24")
        print(f"  train {forge['train_s']:.0f} s ({forge['steps']} steps), whole run "
              f"{forge['wall_s']:.0f} s, {forge['tokens_per_s']:.0f} real tokens/s, "
              f"{forge['positions_per_token']:.2f} positions per real token, peak RSS "
              f"{forge['peak_rss_mb']:.0f} MB")
        segments = Path(work / "run" / "train.jsonl")
        if not segments.is_file():
            segments = next((work / "run").glob("*.jsonl"))
        if not args.skip_types:
            print("== step time by weight type (same windows, same settings)")
            times = {}
            for wt in ("F32", "F16", "Q8_0", "Q4_1"):
                model = realmodel.converted(tools, wt)
                extra = ["--no-repack"] if wt == "Q4_1" else []
                times[wt] = step_seconds(tools, model, segments, forge["ctx"], 4, extra)
                print(f"  {wt}: {times[wt]:.2f} s a step ({times[wt] / times['F32']:.2f}x F32)")
            ck = work / "ck"
            step_seconds(tools, base, segments, forge["ctx"], 3,
                         ["--no-repack", "--checkpoint-save-steps", "2",
                          "--checkpoint-save-dir", str(ck)])
            latest = sorted(ck.glob("checkpoint_step_*"))[-1]
            resumed = step_seconds(tools, base, segments, forge["ctx"], 4, ["--no-repack"],
                                   resume=latest)
            print(f"  resumed Q4_1: {resumed:.2f} s a step ({resumed / times['Q4_1']:.2f}x fresh)")
        if not args.skip_peft:
            peft = peft_run(args.lr)
            if peft:
                print("== transformers + PEFT, same model (dequantized F32), records, settings")
                print(f"  loss {peft['loss_first']:.3f} -> {peft['loss_last']:.3f} (epoch mean)")
                print(f"  facts known {peft['facts_after']}/24")
                print(f"  train {peft['train_s']:.0f} s, {peft['tokens_per_s']:.0f} real "
                      f"tokens/s, peak RSS {peft['peak_rss_mb']:.0f} MB")
                print(f"  Forge / PEFT: throughput {forge['tokens_per_s'] / peft['tokens_per_s']:.2f}x"
                      f", final loss {forge['loss_last'] / max(peft['loss_last'], 1e-9):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
