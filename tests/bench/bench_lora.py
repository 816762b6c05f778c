"""Benchmark: LoRA (llama-finetune-lora) against full fine-tuning (llama-finetune), same base
and data: seconds per epoch, peak memory, and the memory estimates' error.

    python tests/bench/bench_lora.py [--dims 1024,2816,4] [--records 120] [--epochs 1]

Makes a random Llama of about 117M parameters (F32, the vocabulary of the llama.cpp tree),
prepares the same data for both, runs each trainer once through Forge's own steps and samples
the tool's resident memory every 50 ms. Target: LoRA's peak <= 40 % of full's. Exit 1 when
missed. Prints the figures; docs/performance.md keeps them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from fixtures_llama import write_colour_dataset  # noqa: E402
from tinymodel import make_tiny_model  # noqa: E402

from forge_gui.core.base.lora_modules import parse_modules  # noqa: E402
from forge_gui.core.base.process import run_process_step  # noqa: E402
from forge_gui.core.base.steps import CancelToken  # noqa: E402
from forge_gui.core.llamacpp import lora  # noqa: E402
from forge_gui.core.llamacpp.build import ensure_tools  # noqa: E402
from forge_gui.core.llamacpp.gguf_info import human_size, inspect_gguf  # noqa: E402
from forge_gui.core.pipeline.train_pipeline import train_specs  # noqa: E402
from forge_gui.core.pipeline.walk import PipelineObserver, run_one  # noqa: E402
from forge_gui.core.runs.run import RunSettings, RunState  # noqa: E402


def peak_rss_while(step) -> tuple[float, int]:
    """Run the step; (seconds, peak RSS of its process tree in bytes)."""
    peak = 0
    done = threading.Event()
    me = psutil.Process()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.05):
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            peak = max(peak, total)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    start = time.perf_counter()
    run_process_step(step)
    seconds = time.perf_counter() - start
    done.set()
    watcher.join()
    return seconds, peak


def run_method(method: str, base: Path, data: Path, workdir: Path, args) -> dict:
    settings = RunSettings(data=[data], name=f"bench-{method}", base_gguf=base, method=method,
                           epochs=args.epochs, learning_rate=1e-4, ctx=args.ctx, create=False,
                           checkpoint_every=10_000)
    state = RunState.create(settings, workdir / f"run-{method}")
    specs = {s.key: s for s in train_specs(settings)}
    for key in ("base", "validate", "prepare", "convert", "preflight"):
        if key in specs:
            run_one(specs[key], state, PipelineObserver(), CancelToken())
    info = inspect_gguf(state.artifacts.train_base_gguf)
    if method == "lora":
        estimate = lora.training_memory_bytes(info, settings.ctx,
                                              parse_modules(settings.lora_modules),
                                              settings.lora_rank)
    else:
        estimate = info.training_memory_bytes(settings.ctx)
    seconds, peak = peak_rss_while(specs["train"].build(state))
    return {"method": method, "seconds_per_epoch": seconds / args.epochs, "peak": peak,
            "estimate": estimate, "windows": state.artifacts.windows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", default="1024,2816,4", help="n_embd,n_ff,n_layer")
    parser.add_argument("--records", type=int, default=120)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--ctx", type=int, default=256)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    ensure_tools()
    dims = tuple(int(x) for x in args.dims.split(","))
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        tmp_path = Path(tmp)
        os.environ.setdefault("FORGE_DATA_DIR", str(tmp_path / "data"))
        base = make_tiny_model(tmp_path / "bench-f32.gguf", "f32", dims=dims)
        info = inspect_gguf(base)
        print(f"base: {info.parameters / 1e6:.0f}M parameters, F32, {human_size(info.size_bytes)}; "
              f"ctx {args.ctx}, {args.records} records, {args.epochs} epoch(s), "
              f"{psutil.cpu_count(logical=False)} physical cores")
        data = write_colour_dataset(tmp_path / "data.jsonl", records=args.records)
        results = [run_method(m, base, data, tmp_path, args) for m in ("full", "lora")]
    for r in results:
        error = (r["estimate"] - r["peak"]) / r["peak"] * 100
        print(f"{r['method']:>4}: {r['seconds_per_epoch']:7.1f} s/epoch ({r['windows']} windows), "
              f"peak RSS {human_size(r['peak'])}, estimate {human_size(r['estimate'])} "
              f"({error:+.0f} %)")
    full, lora_ = results
    share = lora_["peak"] / full["peak"] * 100
    speed = full["seconds_per_epoch"] / lora_["seconds_per_epoch"]
    print(f"LoRA peak = {share:.0f} % of full's (target <= 40 %); LoRA is {speed:.2f}x as fast")
    return 0 if share <= 40 else 1


if __name__ == "__main__":
    raise SystemExit(main())
