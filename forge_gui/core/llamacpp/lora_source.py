"""The pinned source of the LoRA trainer, `llama-finetune-lora`, verified file by file.

Upstream llama.cpp has no LoRA training; the fork tetherto/qvac-fabric-llm.cpp adds it (MIT).
Forge builds it from one pinned commit. A user's machine downloads GitHub's archive of that
commit; tests and CI use a trimmed copy of the same tree (FORGE_LORA_SOURCE points at it).
Both are checked the same way, against resources/llama.cpp/qvac-fabric-<commit>.sha256: every
file listed there must be present with that sha256, and only those files are kept for the
build. Archives are not byte-stable (GitHub may recompress them), file contents are, so the
pin is on contents. docs/training.md says how to check a download by hand.

Then Forge's own patch is applied (source_patch.py, pinned by PATCH_SHA256): it makes the
trainer learn on real models and feeds it packed, pre-rendered conversations
(docs/training.md, "What Forge changes in the LoRA trainer").
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from forge_gui.core.base import paths
from forge_gui.core.base.steps import StepFailed
from forge_gui.core.llamacpp.source_patch import PatchError, apply_patch

log = logging.getLogger(__name__)

FORK_REPO = "tetherto/qvac-fabric-llm.cpp"
FORK_COMMIT = "57d4c9849a2dff5118843cc9e675b006d8493e04"
SHORT = FORK_COMMIT[:7]
ARCHIVE_URL = f"https://github.com/{FORK_REPO}/archive/{FORK_COMMIT}.tar.gz"
ARCHIVE_NAME = f"qvac-fabric-llm.cpp-{SHORT}.tar.gz"
# sha256 of the manifest itself: a manifest edited by accident is caught too.
MANIFEST_SHA256 = "facd9b588cecf27213776e341a10154ea29698f0c66b09bc8f8b1ed8c6d7f1fc"
SOURCE_ENV = "FORGE_LORA_SOURCE"
PATCH_NAME = f"qvac-fabric-{SHORT}-forge.patch"
# sha256 of Forge's patch: part of the build's cache key, so a changed patch is a new build.
PATCH_SHA256 = "7bfbc9c74d9d07e2c480fadf718745d276fa47e2481ba4f9c98d91ea53199b32"
PATCH_SHORT = PATCH_SHA256[:8]
# What a verified, patched tree's marker holds: both pins.
_VERIFIED = f"{MANIFEST_SHA256} {PATCH_SHA256}"


def manifest_path() -> Path:
    return paths.resources_dir() / "llama.cpp" / f"qvac-fabric-{SHORT}.sha256"


def read_manifest() -> dict[str, str]:
    """relative path -> sha256 of every file the build uses."""
    path = manifest_path()
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != MANIFEST_SHA256:
        raise StepFailed(f"{path} is not the manifest this Forge was released with.",
                         "Reinstall Forge.")
    entries = {}
    for line in data.decode("utf-8").splitlines():
        digest, name = line.split("  ", 1)
        entries[name] = digest
    return entries


def patch_path() -> Path:
    return paths.resources_dir() / "llama.cpp" / PATCH_NAME


def read_patch() -> str:
    """Forge's patch to the fork, refused unless it is the one this Forge was released with."""
    path = patch_path()
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != PATCH_SHA256:
        raise StepFailed(f"{path} is not the patch this Forge was released with.",
                         "Reinstall Forge.")
    return data.decode("utf-8")


def source_dir(root: Path) -> Path:
    return root / f"src-qvac-fabric-{SHORT}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_tree(tree: Path, manifest: dict[str, str]) -> None:
    """Every manifest file present with its sha256; raises StepFailed naming the first that is not."""
    missing, wrong = [], []
    for name, digest in manifest.items():
        path = tree / name
        if not path.is_file():
            missing.append(name)
        elif sha256_of(path) != digest:
            wrong.append(name)
    if missing or wrong:
        what = (f"{len(wrong)} file(s) differ from the pinned commit (e.g. {wrong[0]})" if wrong
                else f"{len(missing)} file(s) of the pinned commit are missing (e.g. {missing[0]})")
        raise StepFailed(f"The LoRA trainer's source does not match commit {SHORT}: {what}. "
                         "Refusing to build from it.",
                         f"Download {ARCHIVE_URL} again, or point {SOURCE_ENV} at a good copy.")


def _keep_only(tree: Path, manifest: dict[str, str]) -> None:
    """Remove what the manifest does not list (a full archive has docs, tests, models…)."""
    for dirpath, dirnames, filenames in os.walk(tree, topdown=False):
        for name in filenames:
            path = Path(dirpath) / name
            if path.relative_to(tree).as_posix() not in manifest:
                path.unlink()
        for name in dirnames:
            folder = Path(dirpath) / name
            if folder.is_symlink():
                folder.unlink()
            elif not any(folder.iterdir()):
                folder.rmdir()


def find_archive(downloads: Path) -> Path | None:
    """The archive to build from: $FORGE_LORA_SOURCE, else one downloaded before."""
    given = os.environ.get(SOURCE_ENV)
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise StepFailed(f"{SOURCE_ENV} names {path}, which is not a file.")
        return path
    cached = downloads / ARCHIVE_NAME
    return cached if cached.is_file() else None


def download_archive(downloads: Path) -> Path:
    import httpx

    downloads.mkdir(parents=True, exist_ok=True)
    target = downloads / ARCHIVE_NAME
    fd, tmp = tempfile.mkstemp(prefix=".download-", dir=downloads)
    try:
        with os.fdopen(fd, "wb") as fh, httpx.stream("GET", ARCHIVE_URL, timeout=60,
                                                      follow_redirects=True) as resp:
            resp.raise_for_status()
            for chunk in resp.iter_bytes(1 << 20):
                fh.write(chunk)
        os.replace(tmp, target)
    except (httpx.HTTPError, OSError) as exc:
        Path(tmp).unlink(missing_ok=True)
        raise StepFailed(f"Could not download the LoRA trainer's source ({exc}).",
                         f"Download {ARCHIVE_URL} by hand and set {SOURCE_ENV} to the file, "
                         f"or put it in {downloads} as {ARCHIVE_NAME}.") from exc
    return target


def extract_verified(root: Path) -> Path:
    """The verified and patched source tree (extracted once; re-checked cheaply by its marker)."""
    tree = source_dir(root)
    marker = tree / ".forge-verified"
    if marker.is_file() and marker.read_text().strip() == _VERIFIED:
        return tree
    manifest = read_manifest()
    patch = read_patch()
    downloads = root / "downloads"
    archive = find_archive(downloads) or download_archive(downloads)
    log.info("extracting the LoRA trainer source from %s", archive)
    shutil.rmtree(tree, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix="src-qvac-", dir=root))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                tar.extractall(staging, filter="data")  # no links or paths leaving the folder
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise StepFailed(f"{archive} is not a readable source archive ({exc}).",
                             f"Download {ARCHIVE_URL} again.") from exc
        inner = [p for p in staging.iterdir() if p.is_dir()]
        if len(inner) != 1:
            raise StepFailed(f"{archive} does not hold one source folder.",
                             f"Download {ARCHIVE_URL} again.")
        verify_tree(inner[0], manifest)
        _keep_only(inner[0], manifest)
        try:
            changed = apply_patch(inner[0], patch)
        except PatchError as exc:  # cannot happen with a verified tree and the pinned patch
            raise StepFailed(f"Forge's patch does not apply to the LoRA trainer's source: {exc}.",
                             "Reinstall Forge.") from exc
        log.info("applied %s to %d file(s)", PATCH_NAME, len(changed))
        os.replace(inner[0], tree)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    marker.write_text(_VERIFIED + "\n")
    return tree
