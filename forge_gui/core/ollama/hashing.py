"""sha256 of large files in one read, cached by (path, size, mtime).

Ollama names blobs by sha256. A GGUF is gigabytes; hashing it again on every registration is
the slow part, so the digest is kept in a small JSON cache under the user's cache folder and
reused while the file's size and modification time are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from forge_gui.core.base import paths
from forge_gui.core.base.atomic import atomic_write_text
from forge_gui.core.base.steps import CancelToken

log = logging.getLogger(__name__)

CHUNK = 4 * 1024 * 1024  # big reads: hashlib releases the GIL and runs at native speed
_lock = threading.Lock()

# progress(done_bytes, total_bytes)
ByteProgress = Callable[[int, int], None]


def cache_file() -> Path:
    return paths.cache_dir() / "ollama" / "sha256-cache.json"


def _key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def _load() -> dict:
    try:
        data = json.loads(cache_file().read_text("utf-8"))
        return data if isinstance(data, dict) else {}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:  # unreadable or damaged: hashing again only costs time
        log.info("sha256 cache %s not used: %s", cache_file(), exc)
        return {}


def cached_digest(path: Path) -> str | None:
    """The cached 'sha256:<hex>' for `path` if it has not changed since, else None."""
    name, size, mtime = _key(Path(path))
    entry = _load().get(name)
    if entry and entry.get("size") == size and entry.get("mtime_ns") == mtime:
        return entry.get("digest")
    return None


def _remember(path: Path, size: int, mtime: int, digest: str) -> None:
    with _lock:
        data = _load()
        data[str(path)] = {"size": size, "mtime_ns": mtime, "digest": digest}
        try:
            atomic_write_text(cache_file(), json.dumps(data, indent=1) + "\n")
        except OSError as exc:  # a cache that cannot be written only costs time
            log.info("sha256 cache %s not written: %s", cache_file(), exc)


def hash_file(path: Path, progress: ByteProgress | None = None,
              cancel: CancelToken | None = None) -> str:
    """'sha256:<hex>' of the file, read once in large chunks (no cache)."""
    digest = hashlib.sha256()
    total = Path(path).stat().st_size
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    done = 0
    with open(path, "rb", buffering=0) as fh:
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            digest.update(view[:n])
            done += n
            if progress:
                progress(done, total)
            if cancel:
                cancel.raise_if_cancelled()
    return "sha256:" + digest.hexdigest()


def file_digest(path: Path, progress: ByteProgress | None = None,
                cancel: CancelToken | None = None) -> str:
    """'sha256:<hex>' of the file, from the cache when the file has not changed."""
    path = Path(path)
    hit = cached_digest(path)
    if hit:
        return hit
    name, size, mtime = _key(path)
    digest = hash_file(path, progress, cancel)
    if _key(path) == (name, size, mtime):  # not changed while we read it
        _remember(Path(name), size, mtime, digest)
    return digest
