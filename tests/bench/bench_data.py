"""Benchmark: forge-cli vs ollama-forge 1.0.1 validating and preparing the same big JSONL.

    python tests/bench/bench_data.py [--mb 200] [--gb2] [--runs 3] [--workdir /tmp/x]

Needs ollama-forge 1.0.1 in its own virtual environment (it pins other libraries):
    python3 -m venv /tmp/of-venv && /tmp/of-venv/bin/pip install ollama-forge==1.0.1
(or set OLLAMA_FORGE to its executable). Prints, for each command: wall time, MB/s, the same
after subtracting the tool's start-up time (measured on a one-line file), peak RSS of the
process tree, and forge's speed-up, for forge with its default workers (one per CPU core)
and with --workers 1 (one process). The tools take turns, run after run, and the medians
are compared: the machine may be busy. Validation runs on the file with ~10 % bad lines;
prepare on the same records without them (both tools refuse invalid input).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from gen_data import generate

FORGE = [sys.executable, "-m", "forge_gui.cli"]
OLLAMA_FORGE = os.environ.get("OLLAMA_FORGE", "/tmp/of-venv/bin/ollama-forge")


def _tree_memory(proc: psutil.Process) -> int:
    """Proportional set size summed over the process and its workers (forked workers share
    pages with their parent; summing RSS would count those twice)."""
    total = 0
    for p in [proc] + proc.children(recursive=True):
        try:
            info = p.memory_full_info()
            total += getattr(info, "pss", info.rss)
        except psutil.Error:
            pass
    return total


def measure(argv: list[str]) -> tuple[float, float, int, float]:
    """(wall seconds, peak memory MB of the process and its workers together, exit code,
    CPU seconds of the process and its workers).

    Memory is sampled every 100 ms (PSS summed over the process tree) and also taken from
    wait4 (peak RSS of the largest single process); the larger of the two is reported.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watched = psutil.Process(proc.pid)
    peak = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _tree_memory(watched))
        time.sleep(0.1)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime  # includes its reaped worker processes
    return wall, max(peak, usage.ru_maxrss * 1024) / 2**20, proc.returncode, cpu


def commands(tool: str, data: Path, clean: Path, work: Path) -> dict[str, list[str]]:
    """tool: "forge" (workers: one per CPU core, the CLI's default), "forge-1" (--workers 1)
    or "ollama-forge"."""
    if tool.startswith("forge"):
        extra = ["--workers", "1"] if tool == "forge-1" else []
        out = work / f"{tool}-train.txt"
        return {"validate": FORGE + ["validate-training-data", str(data)] + extra,
                "prepare": FORGE + ["prepare-training-data", str(clean), "-o", str(out),
                                    "--force"] + extra}
    out = work / "of-train.txt"
    return {"validate": [OLLAMA_FORGE, "validate-training-data", str(data)],
            "prepare": [OLLAMA_FORGE, "prepare-training-data", str(clean), "-o", str(out),
                        "--format", "llama.cpp"]}


def startup(tool: str, work: Path) -> float:
    tiny = work / "tiny.jsonl"
    tiny.write_text('{"instruction": "q", "output": "a"}\n')
    argv = (FORGE if tool.startswith("forge") else [OLLAMA_FORGE])
    return min(measure(argv + ["validate-training-data", str(tiny)])[0] for _ in range(3))


def bench(mb: float, runs: int, work: Path, tools: list[str], bad: float = 0.10) -> dict:
    data, clean = work / f"mixed-{mb:g}MB.jsonl", work / f"clean-{mb:g}MB.jsonl"
    t = time.perf_counter()
    # Alpaca and chat records: the formats both tools read (ShareGPT would be rejected by
    # ollama-forge, and its prepare refuses the whole file then).
    generate(str(data), mb, bad, clean=str(clean), sharegpt=0.0)
    size = {"validate": data.stat().st_size / 1e6, "prepare": clean.stat().st_size / 1e6}
    print(f"\n== {size['validate']:.0f} MB mixed JSONL (~{bad:.0%} bad lines), "
          f"{size['prepare']:.0f} MB clean; generated in {time.perf_counter() - t:.0f} s; "
          f"{runs} run(s) each, the tools taking turns")
    boot = {tool: startup(tool, work) for tool in tools}
    samples: dict = {}
    for _ in range(runs):  # alternate the tools: a busy machine slows them alike
        for what in ("validate", "prepare"):
            for tool in tools:
                argv = commands(tool, data, clean, work)[what]
                out = Path(argv[argv.index("-o") + 1]) if "-o" in argv else None
                samples.setdefault((tool, what), []).append(measure(argv))
                if out is not None and out.exists():
                    out.unlink()
    results: dict = {}
    for (tool, what), runs_ in samples.items():
        wall = statistics.median(r[0] for r in runs_)
        cpu = statistics.median(r[3] for r in runs_)
        rss = max(r[1] for r in runs_)
        results[(tool, what)] = (wall, rss, cpu)
        net = max(wall - boot[tool], 1e-9)
        print(f"{tool:13} {what:9} wall {wall:6.2f} s (min {min(r[0] for r in runs_):5.2f})  "
              f"{size[what] / wall:6.1f} MB/s ({size[what] / net:6.1f} without "
              f"{boot[tool]:.2f} s start-up)  CPU {cpu:6.2f} s (min "
              f"{min(r[3] for r in runs_):5.2f})  peak memory {rss:4.0f} MB  "
              f"exit {runs_[-1][2]}")
    if "ollama-forge" in tools:
        for what in ("validate", "prepare"):
            o = results[("ollama-forge", what)]
            for tool in (t for t in tools if t != "ollama-forge"):
                f = results[(tool, what)]
                print(f"speed-up {what:8} {tool:7}: {o[0] / f[0]:.2f}x wall, "
                      f"{o[2] / f[2]:.2f}x CPU time (medians; peak memory {f[1]:.0f} MB "
                      f"vs ollama-forge {o[1]:.0f} MB)")
    data.unlink()
    clean.unlink()
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--runs", type=int, default=3, help="runs of each command (default 3)")
    ap.add_argument("--gb2", action="store_true", help="also 2 GB, forge only (flat memory)")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args(argv)
    tools = ["forge", "forge-1"] + (["ollama-forge"] if Path(OLLAMA_FORGE).exists() else [])
    if len(tools) == 1:
        print(f"ollama-forge not found at {OLLAMA_FORGE}; measuring forge only "
              f"(see this file's docstring to install it).")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="forge-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print(f"CPU cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
        bench(args.mb, args.runs, work, tools)
        if args.gb2:
            bench(2048, 1, work, ["forge", "forge-1"])
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def test_bench_data():
    """`pytest -s tests/bench/bench_data.py`: the default benchmark, figures on stdout."""
    assert main(["--runs", "1"]) == 0


if __name__ == "__main__":
    raise SystemExit(main())
