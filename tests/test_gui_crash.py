"""An error nobody caught: the traceback goes to the session log and a dialog says that
something went wrong and where the log is (gui/crash.py, core/base/logs.py)."""

from __future__ import annotations

import logging
import sys
import threading

import pytest
from PySide6.QtWidgets import QPushButton


@pytest.fixture
def session_log(tmp_path, monkeypatch):
    from forge_gui.core.base import logs
    from forge_gui.gui import crash

    monkeypatch.setenv("FORGE_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    path = logs.setup_logging("forge-gui", force=True)
    crash.install(path)
    yield path
    dialog = crash.crash_dialog()
    if dialog is not None:
        dialog.close()
    monkeypatch.setattr(crash, "_crashes", None)
    logs.shutdown_logging()


def _raise_in_slot():
    raise ZeroDivisionError("the slot divided by zero")


@pytest.mark.qt_no_exception_capture
def test_a_slot_that_raises_shows_the_dialog_and_writes_the_log(qtbot, session_log):
    from forge_gui.gui import crash

    assert session_log is not None and session_log.parent.name == "logs"
    button = QPushButton("Go")
    qtbot.addWidget(button)
    button.clicked.connect(_raise_in_slot)
    button.click()
    qtbot.waitUntil(lambda: crash.crash_dialog() is not None and crash.crash_dialog().isVisible(),
                    timeout=5000)
    text = crash.crash_dialog().text()
    assert "Something went wrong" in text and str(session_log) in text
    assert "ZeroDivisionError: the slot divided by zero" in text
    for handler in logging.getLogger().handlers:
        handler.flush()
    written = session_log.read_text("utf-8")
    assert "Traceback" in written and "_raise_in_slot" in written
    assert "ZeroDivisionError: the slot divided by zero" in written


@pytest.mark.qt_no_exception_capture
def test_an_error_in_a_worker_thread_is_shown_on_the_ui_thread(qtbot, session_log):
    from forge_gui.gui import crash

    def work():
        raise RuntimeError("the worker broke")

    worker = threading.Thread(target=work, name="worker-1")
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: crash.crash_dialog() is not None, timeout=5000)
    assert "RuntimeError: the worker broke" in crash.crash_dialog().text()
    assert "worker-1" in session_log.read_text("utf-8")


def test_logging_works_without_a_stderr(tmp_path, monkeypatch):
    """A frozen Windows app has sys.stderr None: logging must write the file and not fail."""
    from forge_gui.core.base import logs

    monkeypatch.setenv("FORGE_LOG_DIR", str(tmp_path / "new" / "logs"))  # not there yet
    monkeypatch.setattr(sys, "stderr", None)
    try:
        path = logs.setup_logging("forge-gui", force=True)
        logging.getLogger("forge_gui.test").warning("a warning with no console")
    finally:
        logs.shutdown_logging()
    assert path is not None and "a warning with no console" in path.read_text("utf-8")


def test_only_the_last_sessions_are_kept(tmp_path, monkeypatch):
    import os

    from forge_gui.core.base import logs

    folder = tmp_path / "logs"
    folder.mkdir()
    for i in range(logs.KEEP_SESSIONS + 5):
        old = folder / f"forge-cli-2020-{i:03d}.log"
        old.write_text("old")
        os.utime(old, (1_000_000 + i, 1_000_000 + i))
    monkeypatch.setenv("FORGE_LOG_DIR", str(folder))
    try:
        path = logs.setup_logging("forge-cli", force=True)
    finally:
        logs.shutdown_logging()
    left = sorted(folder.glob("forge-cli-*.log"))
    assert len(left) == logs.KEEP_SESSIONS and path in left
    assert folder / "forge-cli-2020-000.log" not in left  # the oldest went first
