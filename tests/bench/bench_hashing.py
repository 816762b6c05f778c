"""Benchmark: Forge's sha256 of a big file vs `sha256sum`, and a repeated registration.

    python tests/bench/bench_hashing.py [--mb 1024] [--runs 3] [--workdir DIR]

1. Hashing: the same file (in the page cache, so the CPU is measured, not the disk) hashed
   alternately by `sha256sum` and by forge_gui.core.ollama.hashing.hash_file; best of --runs
   each. Target: Forge at >= 90 % of sha256sum's throughput.
2. Registration twice through the Ollama test double (tests/ollama_double.py): the second run
   must neither hash the file again (sha256 cache by path, size, mtime) nor upload it again
   (HEAD /api/blobs finds it). Prints the time of each run, hashes and uploads counted.
Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))


def make_file(path: Path, mb: int) -> None:
    block = os.urandom(1 << 20)
    with open(path, "wb") as fh:
        fh.write(b"GGUF")  # the double only accepts GGUF blobs for create
        for i in range(mb):
            fh.write(block[:-4] if i == 0 else block)


def warm(path: Path) -> None:
    with open(path, "rb") as fh:
        while fh.read(1 << 24):
            pass


def time_sha256sum(path: Path) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
    return time.perf_counter() - start, "sha256:" + out.stdout.split()[0]


def time_forge(path: Path) -> tuple[float, str]:
    from forge_gui.core.ollama.hashing import hash_file

    start = time.perf_counter()
    digest = hash_file(path)
    return time.perf_counter() - start, digest


def bench_hashing(path: Path, runs: int) -> bool:
    size_mb = path.stat().st_size / 2**20
    theirs, ours = [], []
    for _ in range(runs):
        t, d1 = time_sha256sum(path)
        theirs.append(t)
        t, d2 = time_forge(path)
        ours.append(t)
        assert d1 == d2, (d1, d2)
    best_theirs, best_ours = min(theirs), min(ours)
    ratio = best_theirs / best_ours
    print(f"hashing {size_mb:.0f} MB (best of {runs}):")
    print(f"  sha256sum  {best_theirs:6.2f} s  {size_mb / best_theirs:7.0f} MB/s   "
          f"(all: {', '.join(f'{t:.2f}' for t in theirs)})")
    print(f"  forge      {best_ours:6.2f} s  {size_mb / best_ours:7.0f} MB/s   "
          f"(all: {', '.join(f'{t:.2f}' for t in ours)})")
    print(f"  forge / sha256sum throughput: {ratio * 100:.0f} %  (target >= 90 %)")
    return ratio >= 0.90


def bench_second_registration(path: Path, work: Path) -> bool:
    from ollama_double import OllamaDouble

    from forge_gui.core.ollama import hashing
    from forge_gui.core.pipeline.walk import run_pipeline
    from forge_gui.core.registration.register import register_specs
    from forge_gui.core.runs.run import RunSettings, RunState

    double = OllamaDouble(work / "ollama-store")
    os.environ["OLLAMA_HOST"] = double.url
    hashed: list[Path] = []
    real = hashing.hash_file

    def counting(*args, **kw):
        hashed.append(args[0])
        return real(*args, **kw)

    hashing.hash_file = counting
    times = []
    try:
        for i in range(2):
            settings = RunSettings(data=[], name=f"bench-{i}", smoke_prompt="Hi")
            state = RunState.create(settings, work / f"run{i}")
            state.artifacts.output_gguf = path
            start = time.perf_counter()
            run_pipeline(register_specs(settings), state)
            times.append(time.perf_counter() - start)
            print(f"registration {i + 1}: {times[-1]:6.2f} s   hashes so far: {len(hashed)}   "
                  f"uploads so far: {len(double.uploads)}")
    finally:
        hashing.hash_file = real
        double.stop()
    ok = len(hashed) == 1 and len(double.uploads) == 1
    print(f"  second registration: {'no re-hash, no re-upload' if ok else 'REPEATED WORK'} "
          f"({times[0] / max(times[1], 1e-9):.0f}x faster)")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="forge-bench-hash-", dir=args.workdir))
    os.environ["FORGE_CACHE_DIR"] = str(work / "cache")  # a cold sha256 cache, not the user's
    os.environ["FORGE_DATA_DIR"] = str(work / "data")
    try:
        path = work / "model.gguf"
        print(f"writing {args.mb} MB of random data to {path}")
        make_file(path, args.mb)
        warm(path)
        ok_hash = bench_hashing(path, args.runs)
        ok_reg = bench_second_registration(path, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok_hash and ok_reg else 1


if __name__ == "__main__":
    raise SystemExit(main())
