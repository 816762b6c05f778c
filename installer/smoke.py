"""Smoke-test a frozen Forge on any OS (the release workflow's Windows and macOS jobs).

    python installer/smoke.py dist/forge          # Linux / Windows one-folder bundle
    python installer/smoke.py dist/Forge.app      # macOS app bundle

Runs the frozen executables the way a user's machine would: forge-cli --version, doctor
(the bundled llama.cpp tools must be found), validate-training-data on the bundled sample,
forge-gui --self-test offscreen. Exits 1 with the reason on the first failure.
(On Linux, tests/test_frozen.py runs these and more under pytest.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

EXE = ".exe" if sys.platform == "win32" else ""


def locate(bundle: Path) -> tuple[Path, Path, Path]:
    """(forge-cli, forge-gui, the bundled sample) inside a one-folder bundle or a .app."""
    if bundle.suffix == ".app":
        programs, data = bundle / "Contents" / "MacOS", bundle / "Contents" / "Resources"
    else:
        programs, data = bundle, bundle / "_internal"
    sample = data / "resources" / "sample" / "sample.jsonl"
    return programs / f"forge-cli{EXE}", programs / f"forge-gui{EXE}", sample


def check(argv: list, env: dict, what: str) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in argv], env=env, capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"smoke: {what} failed (exit {done.returncode}):\n"
                         f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    print(f"smoke: {what}: ok")
    return done


def main(argv: list[str]) -> int:
    bundle = Path(argv[1]).resolve()
    cli, gui, sample = locate(bundle)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OLLAMA_HOST": "127.0.0.1:9",
               "FORGE_DATA_DIR": f"{tmp}/data", "FORGE_CONFIG_DIR": f"{tmp}/config",
               "FORGE_CACHE_DIR": f"{tmp}/cache"}
        print(check([cli, "--version"], env, "forge-cli --version").stdout.strip())
        report = json.loads(check([cli, "doctor", "--json"], env, "forge-cli doctor").stdout)
        for name, tool in report["llama_cpp"]["tools"].items():
            if tool["source"] != "bundled" or tool["problem"]:
                raise SystemExit(f"smoke: {name} is not the bundled tool: {tool}")
        check([cli, "validate-training-data", sample], env, "validate the bundled sample")
        check([gui, "--self-test"], env, "forge-gui --self-test")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
