"""Benchmark: start-up of the frozen app (PyInstaller bundle) against the source run.

    python tests/bench/bench_startup.py [--runs 7] [--bundle dist/forge]

For each front end, the same command from the bundle and from the virtual environment's
entry points (best and median of --runs, after one warm-up run):
  forge-cli --version       process start + argparse: the floor of every CLI call
  forge-gui --self-test     Qt start, the wizard built with the sample loaded, every page
                            visited, exit (offscreen): start-up plus a little work
Also prints the bundle's size report. Builds the bundle first when it is missing or stale.
Target: the frozen GUI within 1.5x of the source run's time (a one-folder bundle does not
unpack anything at start, so it should be close).
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

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def timed(argv: list[str], env: dict, runs: int) -> tuple[float, float]:
    subprocess.run(argv, env=env, capture_output=True, check=True)  # warm the page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "forge")
    args = parser.parse_args()
    subprocess.run([sys.executable, str(ROOT / "installer" / "build.py"), "bundle"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "FORGE_DATA_DIR": f"{tmp}/d",
               "FORGE_CONFIG_DIR": f"{tmp}/c"}
        rows = []
        for label, frozen, source in (
            ("forge-cli --version", [args.bundle / "forge-cli", "--version"],
             [VENV_BIN / "forge-cli", "--version"]),
            ("forge-gui --self-test", [args.bundle / "forge-gui", "--self-test"],
             [VENV_BIN / "forge-gui", "--self-test"]),
        ):
            f_best, f_med = timed([str(a) for a in frozen], env, args.runs)
            s_best, s_med = timed([str(a) for a in source], env, args.runs)
            rows.append((label, f_best, f_med, s_best, s_med))
    print(f"{'command':24} {'frozen best/median':>20} {'source best/median':>20} {'ratio':>6}")
    for label, f_best, f_med, s_best, s_med in rows:
        print(f"{label:24} {f_best:9.2f}/{f_med:.2f} s {s_best:9.2f}/{s_med:.2f} s "
              f"{f_med / s_med:6.2f}")
    report = subprocess.run([sys.executable, str(ROOT / "installer" / "build.py"), "report",
                             "--reuse"], capture_output=True, text=True, check=True).stdout
    print(report[report.index("{"):])
    gui = rows[-1]
    ok = gui[2] <= 1.5 * gui[4]
    print("target (frozen GUI <= 1.5x source):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
