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
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import realmodel
from realmodel import PACKED, STEP, step_seconds

from forge_gui.cli import main as forge_cli
from forge_gui.core.llamacpp import lora
from forge_gui.core.llamacpp.build import ensure_tools
from forge_gui.core.runs.run import LORA_LR, RunState

ROUNDS = 3  # step-time rounds per weight type


def peak_rss_children_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


STARTER = Path(__file__).resolve().parents[2] / "resources" / "sample" / "sample.jsonl"


def forge_run(work: Path, base: Path, lr: float, data: Path = realmodel.FACTS,
              folder: str = "run") -> dict:
    t0 = time.perf_counter()
    code = forge_cli(["train-run", "--data", str(data), "--base-gguf", str(base),
                      "--name", "bench-facts", "--workdir", str(work / folder), "--no-create",
                      "--lr", f"{lr:g}", "--quantize", "none"])
    wall = time.perf_counter() - t0
    assert code == 0, "forge-cli train-run failed"
    state = RunState.load(work / folder)
    log = state.log_path("train").read_text("utf-8", "replace").replace("\r", "\n")
    packed = PACKED.search(log)
    steps = STEP.findall(log)
    train = next(s for s in state.record.steps if s.key == "train")
    train_s = (datetime.fromisoformat(train.ended) - datetime.fromisoformat(train.started)
               ).total_seconds()
    conversations, windows, ctx, _, tokens, trained = (int(float(x)) for x in packed.groups())
    epochs = state.settings.epochs
    return {"loss_first": state.artifacts.train_loss_first,
            "loss_last": state.artifacts.train_loss_last, "wall_s": wall, "train_s": train_s,
            "steps": len(steps), "ctx": ctx, "windows": windows, "trained": trained,
            "positions_per_token": windows * ctx / tokens,
            "tokens_per_s": tokens * epochs / train_s, "adapter": state.artifacts.adapter_file,
            "peak_rss_mb": peak_rss_children_mb(), "packing": packed.group(0)}


def peft_run(lr: float, epochs: int = 2, window: int | None = None) -> dict | None:
    try:
        import peft_side
    except ImportError as exc:
        print(f"PEFT column skipped: {exc} (pip install -e .[bench])")
        return None
    return peft_side.train_and_probe(realmodel, lr, epochs, window)


# SmolLM2-135M: 30 layers, d_model 576, q/k/v/o + gate/up/down, tied 49,152-token output
LAYERS, D_MODEL, VOCAB = 30, 576, 49152
PATH_PARAMS = (LAYERS * (2 * D_MODEL * D_MODEL + 2 * D_MODEL * 192 + 3 * D_MODEL * 1536)
               + VOCAB * D_MODEL)


def gflops_per_window(ctx: int, trained: float) -> float:
    """FLOPs of one LoRA step on a frozen base: forward 2·N and backward through the
    activations 2·N per position (N: the weights on the path), the output layer only at the
    `trained` positions (Forge's patch computes logits only where the loss is), plus attention
    (no flash): QKᵀ and AV, 4·T²·d forward and twice that backward, per layer. LoRA's own
    matrices (rank 16) add under 1 % and are left out."""
    output = VOCAB * D_MODEL
    return (4 * (PATH_PARAMS - output) * ctx + 4 * output * trained
            + 12 * ctx * ctx * D_MODEL * LAYERS) / 1e9


def cpu_peak_gflops(threads: int) -> tuple[float, float]:
    """The AVX2 FMA peak of `threads` cores (the portable build's instructions: 2 FMA units ×
    8 floats × 2 FLOPs a cycle) at the clock /proc/cpuinfo reports, and that clock in GHz."""
    mhz = 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                mhz = max(mhz, float(line.split(":")[1]))
    except OSError:
        pass
    return threads * 32 * mhz / 1e3, mhz / 1e3


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
        starter = forge_run(work, base, args.lr, STARTER, "starter")
        print("== the starter sample (forge-cli train-data init), defaults, same model")
        print(f"  {starter['packing']}; train {starter['train_s']:.0f} s ({starter['steps']} "
              f"steps, {starter['tokens_per_s']:.0f} real tokens/s), whole run "
              f"{starter['wall_s']:.0f} s")
        segments = Path(work / "run" / "train.jsonl")
        if not segments.is_file():
            segments = next((work / "run").glob("*.jsonl"))
        if not args.skip_types:
            # Interleaved rounds: other work on a shared machine slows a stretch of minutes
            # (seen here: an F32 step 1.34 s, then 2.3 s minutes later), which measured one
            # type after another reads as one weight type being slower. Each time is the
            # shortest of its rounds; each ratio the median of the ratios within a round.
            print("== step time by weight type (same windows, same settings; "
                  f"{ROUNDS} interleaved rounds)")
            models = {wt: realmodel.converted(tools, wt) for wt in ("F32", "F16", "Q8_0", "Q4_1")}
            ck = work / "ck"
            step_seconds(tools, base, segments, forge["ctx"], 3,
                         ["--no-repack", "--checkpoint-save-steps", "2",
                          "--checkpoint-save-dir", str(ck)])
            latest = lora.latest_complete_checkpoint(ck)  # the kill may cut the newest short
            rounds: list[dict[str, float]] = []
            for _ in range(ROUNDS):
                took = {wt: step_seconds(tools, model, segments, forge["ctx"], 4,
                                         ["--no-repack"] if wt == "Q4_1" else [])
                        for wt, model in models.items()}
                took["resumed"] = step_seconds(tools, base, segments, forge["ctx"], 4,
                                               ["--no-repack"], resume=latest)
                rounds.append(took)
            times = {key: min(r[key] for r in rounds) for key in rounds[0]}

            def ratio(key: str, to: str) -> float:
                return statistics.median(r[key] / r[to] for r in rounds)

            for wt in models:
                print(f"  {wt}: {times[wt]:.2f} s a step ({ratio(wt, 'F32'):.2f}x F32)")
            print(f"  resumed Q4_1: {times['resumed']:.2f} s a step "
                  f"({ratio('resumed', 'Q4_1'):.2f}x fresh)")
            flops = gflops_per_window(forge["ctx"], forge["trained"] / forge["windows"])
            peak, ghz = cpu_peak_gflops(2)
            print(f"  achieved: {flops:.0f} GFLOP a window of {forge['ctx']} -> Q4_1 "
                  f"{flops / times['Q4_1']:.0f} GFLOP/s, F32 {flops / times['F32']:.0f} GFLOP/s"
                  + (f"; the 2 cores' AVX2 FMA peak at {ghz:.1f} GHz is {peak:.0f} GFLOP/s "
                     f"({flops / times['Q4_1'] / peak:.0%} / {flops / times['F32'] / peak:.0%})"
                     if peak else ""))
        if not args.skip_peft:
            for label, window in (("one conversation a step (PEFT's usual batch 1)", None),
                                  (f"Forge's windows of {forge['ctx']}, one a step, padded",
                                   forge["ctx"])):
                peft = peft_run(args.lr, window=window)
                if not peft:
                    break
                print(f"== transformers + PEFT, same model (dequantized F32), records, settings; "
                      f"{label}")
                print(f"  loss {peft['loss_first']:.3f} -> {peft['loss_last']:.3f} (epoch mean), "
                      f"{peft['steps']} steps (Forge: {forge['steps']})")
                print(f"  facts known {peft['facts_after']}/24")
                print(f"  train {peft['train_s']:.0f} s, {peft['tokens_per_s']:.0f} real "
                      f"tokens/s, peak RSS {peft['peak_rss_mb']:.0f} MB")
                print(f"  Forge / PEFT: throughput {forge['tokens_per_s'] / peft['tokens_per_s']:.2f}x"
                      f", final loss {forge['loss_last'] / max(peft['loss_last'], 1e-9):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
