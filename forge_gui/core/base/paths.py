"""Where Forge keeps things: the user's data, config and cache folders, and bundled resources.

Every writable file lives in the user's folders, never inside the app bundle. Tests and
portable setups override the roots with FORGE_DATA_DIR, FORGE_CONFIG_DIR, FORGE_CACHE_DIR and
FORGE_LOG_DIR.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "Forge"
APP_AUTHOR = "Forge"


def _override(var: str) -> Path | None:
    value = os.environ.get(var)
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    return _override("FORGE_DATA_DIR") or Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR))


def config_dir() -> Path:
    return _override("FORGE_CONFIG_DIR") or Path(platformdirs.user_config_dir(APP_NAME, APP_AUTHOR))


def cache_dir() -> Path:
    return _override("FORGE_CACHE_DIR") or Path(platformdirs.user_cache_dir(APP_NAME, APP_AUTHOR))


def log_dir() -> Path:
    """The session logs (core/base/logs.py): FORGE_LOG_DIR, else beside the data when FORGE_DATA_DIR
    moves it (tests, portable setups), else the user's log folder."""
    if os.environ.get("FORGE_DATA_DIR") and not os.environ.get("FORGE_LOG_DIR"):
        return data_dir() / "logs"
    return _override("FORGE_LOG_DIR") or Path(platformdirs.user_log_dir(APP_NAME, APP_AUTHOR))


def runs_dir() -> Path:
    return data_dir() / "runs"


def is_frozen() -> bool:
    """True inside the PyInstaller bundle."""
    return bool(getattr(sys, "frozen", False))


def bundle_root() -> Path:
    """The folder holding bundled files: the PyInstaller bundle, or the source checkout."""
    if is_frozen():
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))
    return Path(__file__).resolve().parents[3]


def resources_dir() -> Path:
    return bundle_root() / "resources"


def bundled_tools_dir() -> Path | None:
    """llama.cpp tools shipped inside the frozen app (None when running from source)."""
    if not is_frozen():
        return None
    folder = bundle_root() / "llama.cpp"
    return folder if folder.is_dir() else None
