"""forge-cli setup-llama-cpp and doctor: get the llama.cpp tools, and say what is there."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from forge_gui.cli import UsageError
from forge_gui.commands.cancelling import run_cancellable
from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.steps import Cancelled, CancelToken, StepFailed
from forge_gui.core.llamacpp import build

if TYPE_CHECKING:
    from forge_gui.core.llamacpp.discover import ToolSet


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "setup-llama-cpp",
        help="build the llama.cpp tools from the pinned source (cached; seconds once built)",
        description="Fetch the pinned, hash-checked llama.cpp source (llama-cpp-python "
                    f"{build.LLAMA_CPP_PYTHON_VERSION} sdist) and build "
                    f"{', '.join(build.TOOL_NAMES)} into the cache. Prints the bin folder.")
    p.add_argument("--dir", type=Path, help="also copy the tools into this new or empty folder")
    p.add_argument("--cuda", action="store_true", help="build with CUDA (needs the CUDA toolkit)")
    p.add_argument("--vulkan", action="store_true",
                   help="build with Vulkan, for AMD and Intel GPUs (needs libvulkan-dev, glslc, "
                        "spirv-headers)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=setup_llama_cpp)

    p = subparsers.add_parser("doctor", help="list the llama.cpp tools and the Ollama server found",
                              description="Each llama.cpp tool with its path, version, flavour "
                                          "and backend; what is missing and the command that "
                                          "fixes it; the GPUs found and the backend the tools "
                                          "were built for; then Ollama's status.")
    p.add_argument("--tools-dir", type=Path, help="a folder of llama.cpp tools to check first")
    p.add_argument("--host", help="Ollama server (default: $OLLAMA_HOST or 127.0.0.1:11434)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=doctor)


def _print_progress(event: ProgressEvent) -> None:
    if event.message:
        pct = f"{event.fraction * 100:3.0f}% " if event.fraction is not None else ""
        if sys.stderr.isatty():  # one status line redrawn in place
            print(f"\r{pct}{event.message[:100]:<100}", end="", file=sys.stderr, flush=True)
        else:  # a log (CI, a pipe): one line per event, readable afterwards
            print(f"{pct}{event.message}", file=sys.stderr, flush=True)


def setup_llama_cpp(args) -> int:
    if args.dir and args.dir.exists() and (not args.dir.is_dir() or any(args.dir.iterdir())):
        raise UsageError(f"{args.dir} exists and is not an empty folder; choose a new one.")
    if args.cuda and args.vulkan:
        raise UsageError("Choose one of --cuda and --vulkan.")
    cancel = CancelToken()
    backend = build.backend_for(args.cuda, args.vulkan)
    cached = build.cached_tools_dir(backend)
    if not cached and (missing := _missing_for_build(backend)):
        print("forge-cli: " + "\n".join(missing), file=sys.stderr)  # in seconds, nothing fetched
        return 1
    if not cached and not args.json:
        print(_build_announcement(backend), file=sys.stderr)
    try:
        bin_dir = run_cancellable(lambda token: build.ensure_tools(  # Ctrl-C stops the build
            cuda=args.cuda, progress=None if args.json else _print_progress, cancel=token,
            vulkan=args.vulkan), cancel)
    except StepFailed as exc:
        print(f"\nforge-cli: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Cancelled):
        cancel.cancel()
        print("\nforge-cli: cancelled", file=sys.stderr)
        return 130
    if not cached and not args.json:
        print(file=sys.stderr)
    target = bin_dir
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
        for tool in sorted(bin_dir.iterdir()):
            shutil.copy2(tool, args.dir / tool.name)
        shutil.copy2(bin_dir.parent / build.STAMP, args.dir / build.STAMP)
        target = args.dir
    if args.json:
        print(json.dumps({"bin_dir": str(target), "cached": bool(cached),
                          "tools": list(build.TOOL_NAMES)}))
    else:
        print(target)
    return 0


def _missing_for_build(backend: str) -> tuple[str, str] | None:
    from forge_gui.core.llamacpp.build_options import missing_for_build
    return missing_for_build(backend)


def _build_announcement(backend: str) -> str:
    """What is about to be built and roughly how long it takes (docs/gpu.md)."""
    import os

    from forge_gui.core.llamacpp import build_options

    if backend not in ("cuda", "vulkan"):
        return "Building the llama.cpp tools (a few minutes the first time)…"
    archs = build_options.cuda_architectures().split(";") if backend == "cuda" else []
    text = build_options.build_time_sentence(backend, os.cpu_count() or 1, len(archs))
    if archs:
        text += f" CUDA architectures: {', '.join(archs)}."
    return text


def _configured_tools_dir(args) -> Path | None:
    if args.tools_dir:
        return args.tools_dir
    try:
        from forge_gui.core.base.app_settings import load_settings
    except ImportError:
        return None
    settings, _ = load_settings()
    return Path(settings.tools_dir) if settings.tools_dir else None


def tool_lines(tools: ToolSet, building: bool = False) -> list[str]:
    lines = []
    for info in tools.tools.values():
        if info.path is None:
            lines.append(f"  {info.name:<18} {'being built' if building else 'MISSING'}")
            continue
        detail = ", ".join(x for x in (info.version, info.flavour, info.backend, info.source) if x)
        lines.append(f"  {info.name:<18} {info.path}  [{detail}]")
        if info.problem:
            lines.append(f"  {'':<18} problem: {info.problem}")
    if tools.ready:
        lines.append("All llama.cpp tools are ready.")
    elif building:
        lines.append("A build of the llama.cpp tools is in progress (forge-cli setup-llama-cpp "
                     "or the app); run doctor again when it has finished.")
    else:
        lines.append(f"Missing or unusable: {', '.join(tools.missing)}")
        lines.append(f"Fix: {tools.fix_command()}")
    return lines


def _ollama(host: str | None):
    try:
        from forge_gui.core.ollama.doctor import ollama_status
    except ImportError:
        return None
    return ollama_status(host)


def doctor(args) -> int:
    from forge_gui.core.llamacpp import gpu  # only when doctor runs
    from forge_gui.core.llamacpp.discover import find_tools

    tools = find_tools(_configured_tools_dir(args))
    gpus = gpu.detect_gpus()
    backend = tools.tools["llama-finetune"].backend
    ollama = _ollama(args.host)
    if args.json:
        payload = {"llama_cpp": {"tools": {k: v.model_dump(mode="json")
                                           for k, v in tools.tools.items()},
                                 "ready": tools.ready, "missing": tools.missing,
                                 "building": not tools.ready and build.build_in_progress(),
                                 "fix": tools.fix_command(), "backend": backend},
                   "gpus": [g.model_dump(mode="json") for g in gpus],
                   "gpu_build": gpu.gpu_build_offer(gpus, backend),
                   "ollama": ollama.model_dump(mode="json") if ollama else None}
        print(json.dumps(payload, indent=2))
    else:
        print("llama.cpp tools:")
        for line in tool_lines(tools, building=not tools.ready and build.build_in_progress()):
            print(line)
        print()
        print("GPUs:")
        for line in gpu.summary_lines(gpus, backend):
            print(line)
        if ollama is not None:
            print()
            for line in ollama.lines():
                print(line)
    return 0 if tools.ready else 1
