"""The desktop app's own settings (last folders, tools folder, Ollama URL, last choices).

Kept as a pydantic model in the user's config dir. A corrupt or unreadable file is never
fatal: it is moved aside (kept for the curious), the defaults are used, and the caller is told
why so the app can say so once.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from pydantic import BaseModel, ValidationError

from forge_gui.core.base import paths
from forge_gui.core.base.atomic import atomic_write_text

log = logging.getLogger(__name__)

FILE_NAME = "settings.json"


class AppSettings(BaseModel):
    last_data_dir: str | None = None
    last_gguf_dir: str | None = None
    tools_dir: str | None = None
    ollama_host: str | None = None
    preset: str = "balanced"
    last_base: str | None = None
    last_base_gguf: str | None = None  # the GGUF file chosen as the base, when one was
    quantize: str | None = "Q8_0"
    window_geometry: str | None = None  # hex of QWidget.saveGeometry()


def settings_path() -> Path:
    return paths.config_dir() / FILE_NAME


def load_settings(path: Path | None = None) -> tuple[AppSettings, str | None]:
    """Return (settings, problem). problem is a sentence when the file was bad and replaced."""
    path = path or settings_path()
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return AppSettings(), None
    except OSError as exc:
        log.warning("Settings file %s unreadable: %s", path, exc)
        return AppSettings(), (f"Could not read the settings file {path}: "
                               f"{exc.strerror or exc}. Using defaults.")
    try:
        return AppSettings.model_validate(json.loads(text)), None
    except (ValueError, ValidationError) as exc:
        log.warning("Settings file %s damaged, reset to defaults: %s", path, exc)
        aside: Path | None = path.with_name(path.name + ".corrupt")
        try:
            os.replace(path, aside)  # type: ignore[arg-type]  # set just above
        except OSError as move_error:
            log.warning("Could not keep the damaged settings file aside: %s", move_error)
            aside = None
        settings = AppSettings()
        save_settings(settings, path)
        kept = f" The old file was kept as {aside}." if aside else ""
        return settings, f"The settings file {path} was damaged and has been reset to defaults.{kept}"


def save_settings(settings: AppSettings, path: Path | None = None) -> None:
    atomic_write_text(path or settings_path(), settings.model_dump_json(indent=2) + "\n")
