"""Start-up fixes for the packaged app (PyInstaller); a no-op when running from source.

The installers' entry scripts (installer/entry_*.py) call prepare() before anything else.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping
from pathlib import Path

from forge_gui.core.base import paths

# Where Ollama's command and Homebrew put binaries on macOS. Apps started from Finder get a
# bare PATH (/usr/bin:/bin:/usr/sbin:/sbin), so `ollama` would not be found without these.
MACOS_EXTRA_PATH = (
    "/opt/homebrew/bin",
    "/usr/local/bin",
    "/Applications/Ollama.app/Contents/Resources",
    "~/Applications/Ollama.app/Contents/Resources",
)


def prepare(environ: MutableMapping[str, str] | None = None, platform: str | None = None) -> None:
    """Adjust the environment the app and its child processes see (frozen app only)."""
    if environ is None:
        if not paths.is_frozen():
            return
        environ = os.environ
    platform = platform or sys.platform
    give_windowed_app_streams()
    restore_library_path(environ)
    if platform == "darwin":
        extend_path(environ, MACOS_EXTRA_PATH)


def give_windowed_app_streams() -> None:
    """A windowed executable on Windows starts with sys.stdout/sys.stderr = None; code that
    writes to them (a library's warning, a log handler) would then crash the app."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115 (for the process's life)


def restore_library_path(environ: MutableMapping[str, str]) -> None:
    """Give child processes the user's own library path, not the bundle's.

    PyInstaller's bootloader points LD_LIBRARY_PATH at the bundle (and keeps the original in
    LD_LIBRARY_PATH_ORIG). Our own process has loaded its libraries already; children such as
    `ollama` or `xdg-open` must not pick up the bundle's copies of libstdc++, Qt, etc.
    """
    for var in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH"):
        original = environ.get(f"{var}_ORIG")
        if original is not None:
            environ[var] = original
        elif var in environ and _points_into_bundle(environ[var]):
            del environ[var]


def _points_into_bundle(value: str) -> bool:
    root = str(paths.bundle_root())
    return any(part.startswith(root) for part in value.split(os.pathsep) if part)


def extend_path(environ: MutableMapping[str, str], extra: tuple[str, ...]) -> None:
    """Append the existing folders of `extra` to PATH (the user's own entries win)."""
    current = [p for p in environ.get("PATH", "").split(os.pathsep) if p]
    for folder in extra:
        folder = str(Path(folder).expanduser())
        if folder not in current and Path(folder).is_dir():
            current.append(folder)
    environ["PATH"] = os.pathsep.join(current)
