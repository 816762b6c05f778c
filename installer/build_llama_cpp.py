"""Build (or find in the cache) the pinned llama.cpp tools for an installer to bundle.

    python installer/build_llama_cpp.py [--cuda | --vulkan] [--out DIR]

Prints the bin folder. With --out, copies the tools (and build.json) into DIR, which the
PyInstaller spec then bundles as `llama.cpp/` (found at run time by
forge_gui.core.base.paths.bundled_tools_dir). The build itself is forge_gui.core.llamacpp.build:
the llama-cpp-python sdist from PyPI, sha256-checked, CMake, static, portable CPU / Metal / CUDA.
Portable means AVX2 even on a machine with AVX-512: the tools go to other people's machines
(FORGE_PORTABLE_TOOLS=1; build_options.cpu_level).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source checkout

from forge_gui.core.base.steps import StepFailed
from forge_gui.core.llamacpp import build
from forge_gui.core.llamacpp.build_options import PORTABLE_ENV


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cuda", action="store_true", help="build with CUDA")
    parser.add_argument("--vulkan", action="store_true", help="build with Vulkan (docs/gpu.md)")
    parser.add_argument("--out", type=Path, help="copy the tools into this folder")
    args = parser.parse_args(argv)
    os.environ[PORTABLE_ENV] = "1"  # an installer's tools must run on any AVX2 CPU

    def show(event) -> None:
        if event.message:
            print(f"[{(event.fraction or 0) * 100:3.0f}%] {event.message}", file=sys.stderr)

    try:
        bin_dir = build.ensure_tools(cuda=args.cuda, progress=show, vulkan=args.vulkan)
    except StepFailed as exc:
        print(f"build_llama_cpp: {exc}", file=sys.stderr)
        return 1
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for tool in bin_dir.iterdir():
            shutil.copy2(tool, args.out / tool.name)
        shutil.copy2(bin_dir.parent / build.STAMP, args.out / build.STAMP)
        bin_dir = args.out
    print(bin_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
