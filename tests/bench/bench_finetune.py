"""Benchmark: Forge's fine-tune step against the bare llama-finetune command, same arguments.

    python tests/bench/bench_finetune.py [--reps 4] [--epochs 2] [--records 60] [--model GGUF]

Prepares one run on the tiny model (or --model), then runs the training step alternately
(1) as Forge runs it: core/base/process.run_process_step with the step's progress parser, the log
file and the raw output passed on like the CLI does, and (2) as the bare command with its
output to /dev/null. Prints each wall time, the medians and Forge's overhead in percent.
Target: overhead <= 3 % of wall time. Exit 1 when missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from fixtures_llama import write_colour_dataset  # noqa: E402
from tinymodel import make_tiny_model  # noqa: E402

from forge_gui.core.base.process import run_process_step  # noqa: E402
from forge_gui.core.base.steps import CancelToken  # noqa: E402
from forge_gui.core.llamacpp.build import ensure_tools  # noqa: E402
from forge_gui.core.pipeline.train_pipeline import train_specs  # noqa: E402
from forge_gui.core.pipeline.walk import PipelineObserver, run_one  # noqa: E402
from forge_gui.core.runs.run import RunSettings, RunState  # noqa: E402


class Sink(PipelineObserver):
    """What the CLI does with output: pass the raw bytes on (here to /dev/null) and parse."""

    def __init__(self) -> None:
        self.null = open(os.devnull, "wb")  # noqa: SIM115 (the sink's whole life)
        self.events = 0

    def progress(self, event) -> None:
        self.events += 1

    def output(self, data: bytes) -> None:
        self.null.write(data)
        self.null.flush()


def prepare(workdir: Path, args) -> RunState:
    model = Path(args.model) if args.model else make_tiny_model(workdir / "tiny-f32.gguf", "f32")
    data = write_colour_dataset(workdir / "data.jsonl", records=args.records)
    settings = RunSettings(data=[data], name="bench", base_gguf=model, method="full", epochs=args.epochs,
                           learning_rate=1e-3, ctx=256, create=False)
    state = RunState.create(settings, workdir / "run")
    specs = {s.key: s for s in train_specs(settings)}
    for key in ("base", "validate", "prepare", "convert", "preflight"):
        run_one(specs[key], state, PipelineObserver(), CancelToken())
    state.specs = specs  # type: ignore[attr-defined]
    return state


def time_forge(state: RunState) -> tuple[float, int]:
    step = state.specs["train"].build(state)  # type: ignore[attr-defined]
    sink = Sink()
    start = time.perf_counter()
    run_process_step(step, on_event=sink.progress, on_output=sink.output)
    return time.perf_counter() - start, sink.events


def time_bare(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--records", type=int, default=60)
    parser.add_argument("--model", help="a F32 GGUF to train instead of the tiny model")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    ensure_tools()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        os.environ.setdefault("FORGE_DATA_DIR", str(Path(tmp) / "data"))
        state = prepare(Path(tmp), args)
        argv = state.specs["train"].build(state).argv  # type: ignore[attr-defined]
        print("argv:", " ".join(argv))
        print(f"tokens {state.artifacts.tokens}, windows {state.artifacts.windows}, "
              f"epochs {args.epochs}")
        forge_times, bare_times = [], []
        for rep in range(args.reps):
            order = ("forge", "bare") if rep % 2 == 0 else ("bare", "forge")
            for which in order:
                if which == "forge":
                    seconds, events = time_forge(state)
                    forge_times.append(seconds)
                    print(f"rep {rep + 1} forge {seconds:7.2f} s ({events} progress events)")
                else:
                    seconds = time_bare(argv)
                    bare_times.append(seconds)
                    print(f"rep {rep + 1} bare  {seconds:7.2f} s")
    forge_med, bare_med = statistics.median(forge_times), statistics.median(bare_times)
    overhead = (forge_med - bare_med) / bare_med * 100
    best = (min(forge_times) - min(bare_times)) / min(bare_times) * 100
    print(f"median forge {forge_med:.2f} s, bare {bare_med:.2f} s: overhead {overhead:+.1f} % "
          f"(best of each: {min(forge_times):.2f} s vs {min(bare_times):.2f} s, {best:+.1f} %)")
    return 0 if overhead <= 3.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
