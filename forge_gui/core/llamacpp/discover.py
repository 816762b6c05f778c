"""Find the llama.cpp tools and tell what each one is (docs/training.md).

Order: the folder the user configured, the tools bundled in the frozen app, PATH, the build
cache. A binary's flavour is probed from its `--help`, never guessed from its file name:
  upstream  — llama-finetune full fine-tuning (-opt/-lr/-val-split; writes a whole model)
  lora      — llama-finetune-lora from the qvac-fabric fork (--lora-rank, --output-adapter):
              Forge's LoRA trainer
  legacy    — the removed `finetune` (--lora-out, --model-base): writes GGLA, refused
"""

from __future__ import annotations

import functools
import json
import re
import shutil
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from forge_gui.core.base import paths
from forge_gui.core.base.process import probe_output
from forge_gui.core.llamacpp import build

Source = Literal["configured", "bundled", "PATH", "cache"]
Flavour = Literal["upstream", "lora", "legacy", "tool", "unknown"]

TOOL_NAMES = build.TOOL_NAMES
SETUP_COMMAND = "forge-cli setup-llama-cpp"
PROBE_TIMEOUT = 20


class ToolInfo(BaseModel):
    name: str
    path: Path | None = None
    source: Source | None = None
    version: str | None = None
    flavour: Flavour | None = None
    backend: str | None = None
    problem: str | None = None  # a sentence for the user when the tool can't be used

    @property
    def usable(self) -> bool:
        return self.path is not None and self.problem is None


class ToolSet(BaseModel):
    tools: dict[str, ToolInfo]

    def path(self, name: str) -> Path:
        """The path of a usable tool; raises StepFailed saying how to get it otherwise."""
        from forge_gui.core.base.steps import StepFailed

        info = self.tools[name]
        if not info.usable:
            raise StepFailed(info.problem or f"{name} was not found.",
                             f"Run '{SETUP_COMMAND}' to build the tools, or choose a folder "
                             "that holds them ('forge-cli doctor' shows what is found).")
        return info.path  # type: ignore[return-value]

    @property
    def missing(self) -> list[str]:
        return [name for name, info in self.tools.items() if not info.usable]

    @property
    def ready(self) -> bool:
        return not self.missing

    def fix_command(self, cuda: bool = False) -> str | None:
        return None if self.ready else SETUP_COMMAND + (" --cuda" if cuda else "")


def _exe(name: str) -> str:
    return name + build.EXE


def candidate_dirs(configured: Path | None = None) -> list[tuple[Source, Path]]:
    found: list[tuple[Source, Path]] = []
    if configured:
        found.append(("configured", Path(configured).expanduser()))
    bundled = paths.bundled_tools_dir()
    if bundled:
        found.append(("bundled", bundled))
    return found


def locate(name: str, configured: Path | None = None) -> tuple[Source, Path] | None:
    for source, folder in candidate_dirs(configured):
        if (folder / _exe(name)).is_file():
            return source, folder / _exe(name)
    on_path = shutil.which(name)
    if on_path:
        return "PATH", Path(on_path)
    cached = build.cached_tools_dir()
    if cached and (cached / _exe(name)).is_file():
        return "cache", cached / _exe(name)
    return None


def _run_quiet(argv: list[str]) -> str:
    """Output of a short probe (stdout+stderr); empty when it cannot run."""
    return probe_output(argv, PROBE_TIMEOUT, merge_stderr=True) or ""


def classify_help(name: str, help_text: str) -> Flavour:
    """The flavour a training binary's --help reveals (pure; tested on real and made-up help)."""
    if "--lora-out" in help_text and "--model-base" in help_text:
        return "legacy"
    if "--lora-rank" in help_text or "--output-adapter" in help_text:
        return "lora"
    if not name.startswith("llama-finetune") and name != "finetune":
        return "tool"
    if re.search(r"(^|\s)-opt\b|--optimizer\b", help_text) and "-val-split" in help_text:
        return "upstream"
    return "unknown"


_VERSION = re.compile(r"^version:\s*(.+?)\s*$", re.M)  # "0.5.0-dev (build 1, commit 0c1e570)"
_DEVICE = re.compile(r"^\s*(CUDA|Metal|MTL|Vulkan|ROCm|HIP|SYCL|BLAS|OpenCL)\w*\d*\s*:", re.M)


def _stamp(path: Path) -> dict:
    """build.json of a Forge build: beside the tools (bundled, --dir) or above bin/ (cache)."""
    for stamp in (path.parent / build.STAMP, path.parent.parent / build.STAMP):
        try:
            return json.loads(stamp.read_text("utf-8"))
        except (OSError, ValueError):
            continue
    return {}


@functools.lru_cache(maxsize=64)
def _probe(path: str, mtime: float, size: int) -> tuple[str | None, str, str | None]:
    """(version, help text, backend) of a binary; cached by path + mtime + size."""
    name = Path(path).name.removesuffix(build.EXE)
    help_text = _run_quiet([path, "--help"])
    version = None
    backend = None
    if name != "llama-quantize" and name != "llama-tokenize":  # these have no --version
        m = _VERSION.search(_run_quiet([path, "--version"]))
        version = m.group(1) if m else None
        if name.startswith("llama-finetune") or name == "llama-completion":
            devices = _DEVICE.findall(_run_quiet([path, "--list-devices"]))
            backend = devices[0].lower().replace("mtl", "metal") if devices else "cpu"
    return version, help_text, backend


def probe(name: str, source: Source, path: Path) -> ToolInfo:
    stat = path.stat()
    version, help_text, backend = _probe(str(path), stat.st_mtime, stat.st_size)
    stamp = _stamp(path)
    info = ToolInfo(name=name, path=path, source=source, version=version,
                    backend=stamp.get("backend") or backend,
                    flavour=classify_help(name, help_text))
    if stamp and name in build.LORA_TOOLS and stamp.get("lora_fork"):
        # the fork's archive has no git metadata: its --version says "0 (unknown)"
        info.version = f"qvac-fabric {stamp['lora_fork'].rsplit('@', 1)[-1][:7]}"
    elif stamp and not info.version:
        info.version = f"llama-cpp-python {stamp.get('llama_cpp_python')}"
    if not help_text:
        info.problem = f"{path} did not run (is it built for this computer?)."
    elif info.flavour == "legacy":
        info.problem = (f"{path} is the legacy 'finetune' tool: it writes GGLA LoRA files, which "
                        "current llama.cpp and Ollama reject. Use the upstream llama-finetune.")
    elif name == "llama-finetune" and info.flavour == "lora":
        info.problem = (f"{path} is a LoRA-training fork; Forge's llama.cpp trainer drives the "
                        "upstream full fine-tune llama-finetune.")
    elif name == "llama-finetune" and info.flavour != "upstream":
        info.problem = f"{path} does not look like llama.cpp's llama-finetune (its --help differs)."
    elif name == "llama-finetune-lora" and info.flavour != "lora":
        info.problem = (f"{path} does not look like the LoRA trainer llama-finetune-lora (its "
                        "--help has no --lora-rank).")
    return info


def find_tools(configured: Path | None = None) -> ToolSet:
    tools = {}
    for name in TOOL_NAMES:
        where = locate(name, configured)
        if where is None:
            tools[name] = ToolInfo(name=name, problem=f"{name} was not found.")
        else:
            tools[name] = probe(name, *where)
    return ToolSet(tools=tools)
