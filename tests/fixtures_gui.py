"""Fixtures for the gui tests: a wizard with its own settings, real data files, the real tools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

GOOD_RECORDS = [
    {"instruction": "Say hi.", "output": "Hi!"},
    {"instruction": "Add two and two.", "output": "Four."},
    {"messages": [{"role": "system", "content": "Be brief."},
                  {"role": "user", "content": "Capital of France?"},
                  {"role": "assistant", "content": "Paris."}]},
]


def write_jsonl(path: Path, records: list, extra_lines: list[str] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r) for r in records] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def open_trainer_page(qtbot, wizard, data: Path, base: Path, tools_dir: Path):
    """Data page, Base page (a GGUF file) and the Trainer page with its tools found, as a user
    gets there; returns the Trainer page."""
    wizard.data_page.add_paths([data])
    qtbot.waitUntil(wizard.data_page.isComplete, timeout=15000)
    wizard.base_page.choose_file(base)
    qtbot.waitUntil(lambda: wizard.base_page.info is not None, timeout=15000)
    page = wizard.trainer_page
    page.tools_dir = tools_dir
    page.find_tools()
    qtbot.waitUntil(lambda: page.toolset is not None, timeout=60000)
    return page


@pytest.fixture
def data_folder(tmp_path) -> Path:
    """A folder of two good JSONL files, the way a user keeps data."""
    folder = tmp_path / "my data"
    write_jsonl(folder / "part1.jsonl", GOOD_RECORDS[:2])
    write_jsonl(folder / "part2.jsonl", GOOD_RECORDS[2:])
    return folder


@pytest.fixture
def bad_file(tmp_path) -> Path:
    """One good record, then a broken JSON line (line 2) and a record without output (line 3)."""
    return write_jsonl(tmp_path / "bad.jsonl", GOOD_RECORDS[:1],
                       ['{"instruction": "broken", ', json.dumps({"instruction": "no answer"})])


@pytest.fixture
def wizard(qtbot, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from forge_gui.core.base.app_settings import AppSettings
    from forge_gui.gui.wizard import ForgeWizard

    # "Stop the training and close?" is modal: a test that ends mid-run answers Yes
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.Yes)

    w = ForgeWizard(AppSettings())
    qtbot.addWidget(w)
    w.show()
    yield w
    w.run_page.stop_and_wait()
    for page in w.pages():  # let background work end before the widgets go
        qtbot.waitUntil(lambda page=page: not getattr(page, "busy", False), timeout=10000)


@pytest.fixture(scope="session")
def gui_tools_dir():
    """The llama.cpp tools built from the pinned source (cached; built when missing)."""
    from forge_gui.core.llamacpp.build import ensure_tools

    return ensure_tools()


@pytest.fixture
def tiny_base(tmp_path) -> Path:
    from tinymodel import make_tiny_model

    return make_tiny_model(tmp_path / "tiny-f32.gguf", "f32")
