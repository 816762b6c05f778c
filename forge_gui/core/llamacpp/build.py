"""Build the llama.cpp tools from pinned, hash-checked sources, into a cache keyed by version.

Two sources, one bin folder:
- upstream llama.cpp from the `llama-cpp-python` sdist on PyPI (its `vendor/llama.cpp` is the
  whole tree): full fine-tuning, merging, quantizing, tokenizing, completion;
- the LoRA trainer `llama-finetune-lora` from the pinned qvac-fabric fork (lora_source.py).
We build only the tools Forge runs, statically linked (BUILD_SHARED_LIBS=OFF, no OpenMP), so
the bin folder is self-contained and can be bundled by the installers as it is.

    ensure_tools()        -> the bin folder, building it the first time (minutes)
    cached_tools_dir()    -> the bin folder when a finished build is cached, else None

`tools=` builds and caches a subset in a folder of its own (…-vulkan-llama-finetune): CI's
lavapipe test needs only llama-finetune (docs/gpu.md). Such a folder is never picked as "the
tools": cached_tools_dir() without `tools` looks at complete builds only.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

from forge_gui.core.base import paths
from forge_gui.core.base.atomic import atomic_write_text
from forge_gui.core.base.events import ProgressEvent
from forge_gui.core.base.process import ProcessTimeout, capture, run_process_step
from forge_gui.core.base.steps import CancelToken, ProcessStep, ProgressCallback, StepFailed
from forge_gui.core.llamacpp import lora_source
from forge_gui.core.llamacpp.build_options import cmake_options, cpu_level, missing_for_build

LLAMA_CPP_PYTHON_VERSION = "0.3.36"
SDIST_NAME = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
PYPI_JSON = f"https://pypi.org/pypi/llama-cpp-python/{LLAMA_CPP_PYTHON_VERSION}/json"

UPSTREAM_TOOLS = ("llama-finetune", "llama-export-lora", "llama-quantize", "llama-tokenize",
                  "llama-completion", "llama-perplexity")
LORA_TOOLS = ("llama-finetune-lora",)
TOOL_NAMES = UPSTREAM_TOOLS + LORA_TOOLS
# The cache folder names both pins and Forge's patch to the fork: a new pin or a changed patch
# is a new build. A subset without the LoRA trainer (CI's Vulkan llama-finetune) does not
# contain the patched code, so its folder keeps the key without the patch.
BUILD_KEY = f"{LLAMA_CPP_PYTHON_VERSION}+lora-{lora_source.SHORT}-forge{lora_source.PATCH_SHORT}"
_UPSTREAM_KEY = f"{LLAMA_CPP_PYTHON_VERSION}+lora-{lora_source.SHORT}"
STAMP = "build.json"
EXE = ".exe" if sys.platform == "win32" else ""

# Share of the whole progress bar each phase takes (the two compiles dominate).
_FETCH, _EXTRACT, _CONFIGURE, _LORA = 0.04, 0.08, 0.12, 0.58


def tools_cache_root() -> Path:
    return paths.cache_dir() / "llama.cpp"


def backend_for(cuda: bool, vulkan: bool = False) -> str:
    if cuda:
        return "cuda"
    if vulkan:
        return "vulkan"
    return "metal" if sys.platform == "darwin" else "cpu"


def lora_level(backend: str) -> str:
    """The instruction level the LoRA trainer is compiled for: AVX-512 on a CPU build where
    this CPU has it (build_options.cpu_level), else the portable set."""
    return cpu_level() if backend == "cpu" else ""


def _backend_name(backend: str, level: str) -> str:
    """"cpu", or "cpu-avx512": folder names carry the level, so one built for AVX-512 is
    never found on a CPU without it."""
    return f"{backend}-{level}" if level else backend


def install_dir(backend: str, tools: tuple[str, ...] = TOOL_NAMES) -> Path:
    subset = "" if set(tools) == set(TOOL_NAMES) else "-" + "+".join(sorted(tools))
    lora = set(tools) & set(LORA_TOOLS)
    key = BUILD_KEY if lora else _UPSTREAM_KEY
    level = lora_level(backend) if lora else ""
    return tools_cache_root() / f"{key}-{_backend_name(backend, level)}{subset}"


def source_dir() -> Path:
    """The extracted llama.cpp tree (also where the vocab-only GGUFs live)."""
    return tools_cache_root() / f"src-{LLAMA_CPP_PYTHON_VERSION}" / "vendor" / "llama.cpp"


def _complete(bin_dir: Path, tools: tuple[str, ...]) -> bool:
    return (bin_dir.parent / STAMP).is_file() and all(
        (bin_dir / f"{name}{EXE}").is_file() for name in tools)


def cached_tools_dir(backend: str | None = None,
                     tools: tuple[str, ...] = TOOL_NAMES) -> Path | None:
    """The cached bin folder of a finished build (any backend when None, GPU ones first)."""
    backends = [backend] if backend else ["cuda", "metal", "vulkan", "cpu"]
    for name in backends:
        bin_dir = install_dir(name, tools) / "bin"
        if _complete(bin_dir, tools):
            return bin_dir
    return None


def ensure_tools(cuda: bool = False, progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None, vulkan: bool = False,
                 tools: tuple[str, ...] = TOOL_NAMES) -> Path:
    """Return the bin folder of the pinned build, building it first when it is not cached.

    `tools`: only these (a folder of their own; the LoRA fork is skipped when none of its
    tools is asked for). Raises StepFailed (with the log's location) when a phase fails,
    Cancelled on cancel.
    """
    if unknown := set(tools) - set(TOOL_NAMES):
        raise ValueError(f"not tools Forge builds: {sorted(unknown)}")
    backend = backend_for(cuda, vulkan)
    found = cached_tools_dir(backend, tools)
    if found:
        return found
    if missing := missing_for_build(backend):  # in seconds, before any download (docs/gpu.md)
        raise StepFailed(*missing)
    report = progress or (lambda event: None)
    cancel = cancel or CancelToken()
    root = tools_cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with _build_lock(root / f"build-{backend}.lock"):
        found = cached_tools_dir(backend, tools)  # another process may have built it meanwhile
        return found or _build(backend, root, report, cancel, tools)


@contextlib.contextmanager
def _build_lock(path: Path):
    """One build at a time per cache (the app and a terminal may both ask for the tools)."""
    with open(path, "a+b") as fh:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory lock; builds are rare and explicit there
            yield
            return
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_in_progress() -> bool:
    """True while some process holds a build lock (doctor says so rather than MISSING)."""
    try:
        import fcntl
    except ImportError:
        return False
    for lock in tools_cache_root().glob("build-*.lock"):
        with open(lock, "a+b") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def _build(backend: str, root: Path, report: ProgressCallback, cancel: CancelToken,
           tools: tuple[str, ...] = TOOL_NAMES) -> Path:
    """Fetch, unpack, configure, compile, install: the first time only (minutes)."""
    upstream = tuple(t for t in UPSTREAM_TOOLS if t in tools)
    lora = tuple(t for t in LORA_TOOLS if t in tools)
    lora_at = _LORA if lora else 1.0
    report(ProgressEvent(step="build", fraction=0.0, message="Fetching the llama.cpp source"))
    sdist = fetch_sdist(root / "downloads")
    cancel.raise_if_cancelled()
    report(ProgressEvent(step="build", fraction=_FETCH, message="Unpacking the source"))
    tree = extract_source(sdist)
    cancel.raise_if_cancelled()

    target = install_dir(backend, tools)
    build = root / f"build-{LLAMA_CPP_PYTHON_VERSION}-{backend}"
    log = root / f"build-{BUILD_KEY}-{backend}.log"
    log.unlink(missing_ok=True)
    if upstream:
        report(ProgressEvent(step="build", fraction=_EXTRACT, message="Configuring (CMake)"))
        run_process_step(_configure_step(tree, build, backend, log), on_event=report,
                         cancel=cancel)
        report(ProgressEvent(step="build", fraction=_CONFIGURE, message="Compiling the tools"))
        run_process_step(_build_step(build, log, upstream, _CONFIGURE, lora_at),
                         on_event=report, cancel=cancel)
    builds = dict.fromkeys(upstream, build)
    if lora:
        builds.update(dict.fromkeys(lora, _build_lora(backend, root, log, report, cancel)))
    _install(builds, target, backend)
    report(ProgressEvent(step="build", fraction=1.0, message=f"Tools ready in {target / 'bin'}"))
    return target / "bin"


def _build_lora(backend: str, root: Path, log: Path, report: ProgressCallback,
                cancel: CancelToken) -> Path:
    """The qvac-fabric fork's build folder, with llama-finetune-lora compiled in it."""
    report(ProgressEvent(step="build", fraction=_LORA,
                         message="Checking the LoRA trainer's source (qvac-fabric fork)"))
    lora_tree = lora_source.extract_verified(root)
    cancel.raise_if_cancelled()
    level = lora_level(backend)
    lora_build = root / f"build-qvac-{lora_source.SHORT}-{_backend_name(backend, level)}"
    run_process_step(_configure_step(lora_tree, lora_build, backend, log, lora=True,
                                     level=level),
                     on_event=report, cancel=cancel)
    report(ProgressEvent(step="build", fraction=_LORA + 0.02, message="Compiling the LoRA trainer"))
    run_process_step(_build_step(lora_build, log, LORA_TOOLS, _LORA + 0.02, 1.0),
                     on_event=report, cancel=cancel)
    return lora_build


# --- fetching -----------------------------------------------------------------------------

sha256_of = lora_source.sha256_of  # one hashing routine for both pinned sources


def fetch_sdist(downloads: Path) -> Path:
    """The pinned sdist, from the download cache or PyPI; always hash-checked."""
    downloads.mkdir(parents=True, exist_ok=True)
    cached = downloads / SDIST_NAME
    if cached.is_file() and sha256_of(cached) == SDIST_SHA256:
        return cached
    cached.unlink(missing_ok=True)
    errors = []
    for fetch in (_fetch_with_pip, _fetch_with_httpx):
        with tempfile.TemporaryDirectory(dir=downloads) as tmp:
            try:
                got = fetch(Path(tmp))
            except (OSError, RuntimeError, ProcessTimeout) as exc:
                errors.append(f"{fetch.__name__}: {exc}")
                continue
            actual = sha256_of(got)
            if actual != SDIST_SHA256:
                raise StepFailed(f"The downloaded {SDIST_NAME} has sha256 {actual}, "
                                 f"expected {SDIST_SHA256}. Refusing to build from it.",
                                 "Check your network/proxy, then try again.")
            os.replace(got, cached)
            return cached
    raise StepFailed("Could not download the llama.cpp source (" + "; ".join(errors) + ").",
                     f"Download {SDIST_NAME} by hand and put it in {downloads}.")


def _fetch_with_pip(tmp: Path) -> Path:
    """pip honours the user's index/proxy configuration (not available in the frozen app)."""
    if paths.is_frozen():
        raise RuntimeError("pip is not available in the packaged app")
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}", "-d", str(tmp)]
    done = capture(argv, timeout=1800)
    got = tmp / SDIST_NAME
    if not done.ok or not got.is_file():
        last = (done.stderr_text or done.stdout_text).strip().splitlines()[-1:]
        raise RuntimeError(last[0] if last else f"pip failed ({done.describe()})")
    return got


def _fetch_with_httpx(tmp: Path) -> Path:
    import httpx

    try:
        meta = httpx.get(PYPI_JSON, timeout=30, follow_redirects=True)
        meta.raise_for_status()
        url = next(u["url"] for u in meta.json()["urls"] if u["packagetype"] == "sdist")
        got = tmp / SDIST_NAME
        with httpx.stream("GET", url, timeout=60, follow_redirects=True) as resp:
            resp.raise_for_status()
            with open(got, "wb") as fh:
                for chunk in resp.iter_bytes(1 << 20):
                    fh.write(chunk)
    except (httpx.HTTPError, ValueError, KeyError, StopIteration) as exc:
        raise RuntimeError(str(exc) or type(exc).__name__) from exc
    return got


def extract_source(sdist: Path) -> Path:
    """Unpack the sdist once; return its vendor/llama.cpp tree."""
    tree = source_dir()
    marker = tree.parent.parent / ".complete"
    if marker.is_file() and (tree / "CMakeLists.txt").is_file():
        return tree
    top = tree.parent.parent
    shutil.rmtree(top, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix="src-", dir=top.parent))
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            tar.extractall(staging, filter="data")  # refuses links/paths leaving the folder
        (inner,) = staging.iterdir()  # llama_cpp_python-<version>/
        os.replace(inner, top)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    marker.write_text(SDIST_SHA256 + "\n")
    return tree


def _generator() -> list[str]:
    return ["-G", "Ninja"] if shutil.which("ninja") else []


def _configure_step(tree: Path, build: Path, backend: str, log: Path,
                    lora: bool = False, level: str = "") -> ProcessStep:
    cmake = shutil.which("cmake") or "cmake"
    argv = [cmake, "-S", str(tree), "-B", str(build), *_generator(),
            *cmake_options(backend, lora, level=level)]
    return ProcessStep(key="build", label="Configure llama.cpp", argv=argv, log_path=log,
                       check=_phase_check("CMake configure", log))


def _build_step(build: Path, log: Path, targets: tuple[str, ...], start: float,
                end: float) -> ProcessStep:
    cmake = shutil.which("cmake") or "cmake"
    jobs = str(max(1, os.cpu_count() or 1))
    argv = [cmake, "--build", str(build), "--config", "Release", "-j", jobs,
            "--target", *targets]

    total = [0]

    def parse(line: str) -> ProgressEvent | None:
        if m := _NINJA.match(line):  # a nested build (Vulkan's shader generator) counts anew
            if int(m.group(2)) < total[0]:
                return None
            total[0] = int(m.group(2))
        return parse_build_line(line, start, end)

    return ProcessStep(key="build", label="Compile llama.cpp", argv=argv, log_path=log,
                       parse_line=parse, check=_phase_check("The compile", log))


def _phase_check(what: str, log: Path):
    def check(code: int) -> None:
        if code != 0:
            raise StepFailed(f"{what} of llama.cpp failed (exit code {code}).",
                             f"The full output is in {log}. A C++ compiler and CMake are needed.")
    return check


_NINJA = re.compile(r"^\[(\d+)/(\d+)\]")
_MAKE = re.compile(r"^\[\s*(\d+)%\]")


def parse_build_line(line: str, start: float = _CONFIGURE, end: float = 1.0) -> ProgressEvent | None:
    """Ninja's "[12/345] …" or Make's "[ 45%] …" -> overall build progress in [start, end]."""
    if m := _NINJA.match(line):
        done = int(m.group(1)) / max(1, int(m.group(2)))
    elif m := _MAKE.match(line):
        done = int(m.group(1)) / 100
    else:
        return None
    return ProgressEvent(step="build", fraction=start + (end - start) * done,
                         message=line[m.end():].strip()[:120] or None)


def _find_binary(build: Path, name: str) -> Path:
    for candidate in (build / "bin" / f"{name}{EXE}", build / "bin" / "Release" / f"{name}{EXE}"):
        if candidate.is_file():
            return candidate
    raise StepFailed(f"The build finished but {name} is not in {build / 'bin'}.")


def _install(builds: dict[str, Path], target: Path, backend: str) -> None:
    """Copy each tool from its build folder into <cache>/<key>-<backend>/bin; stamp it complete."""
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "bin").mkdir(parents=True)
    for name, build in builds.items():
        shutil.copy2(_find_binary(build, name), staging / "bin" / f"{name}{EXE}")
    stamp = {"llama_cpp_python": LLAMA_CPP_PYTHON_VERSION, "sdist_sha256": SDIST_SHA256,
             "lora_fork": f"{lora_source.FORK_REPO}@{lora_source.FORK_COMMIT}",
             "lora_manifest_sha256": lora_source.MANIFEST_SHA256,
             "lora_patch_sha256": lora_source.PATCH_SHA256,
             "backend": backend, "platform": platform.platform(), "machine": platform.machine(),
             "cmake_options": cmake_options(backend),
             "lora_cmake_options": cmake_options(backend, lora=True, level=lora_level(backend)),
             "tools": list(builds)}
    atomic_write_text(staging / STAMP, json.dumps(stamp, indent=2) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
