"""Odd entries in a data folder: a FIFO named *.jsonl must not hang validation, a symbolic
link loop must not abort the folder. Both are skipped with a note, in the CLI and on the
Data page."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures_data import alpaca, forge_cli_as_nobody, jl
from fixtures_gui import GOOD_RECORDS, write_jsonl

CLI = [sys.executable, "-c", "import sys; from forge_gui.cli import main; sys.exit(main())"]


def release(fifo: Path) -> None:
    """Give a reader blocked on `fifo` its end of file (a test that fails must not hang)."""
    with contextlib.suppress(OSError):
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


@pytest.fixture
def odd_folder(tmp_path) -> Iterator[Path]:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "good.jsonl").write_bytes(jl(alpaca(1), alpaca(2)))
    os.mkfifo(folder / "pipe.jsonl")
    os.symlink(folder / "loop-b.jsonl", folder / "loop-a.jsonl")
    os.symlink(folder / "loop-a.jsonl", folder / "loop-b.jsonl")
    yield folder
    release(folder / "pipe.jsonl")


def forge_cli(*argv, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout)


def test_validate_skips_a_fifo_and_a_symlink_loop_with_a_note(odd_folder):
    done = forge_cli("validate-training-data", odd_folder, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["valid"] == 2
    skipped = {Path(s["path"]).name: s["reason"] for s in report["skipped_paths"]}
    assert skipped["pipe.jsonl"].startswith("a named pipe (FIFO), not a regular file")
    assert skipped["loop-a.jsonl"] == skipped["loop-b.jsonl"] == "a symbolic link loop; not read"

    done = forge_cli("validate-training-data", odd_folder)
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert f"skipped {odd_folder / 'pipe.jsonl'} (a named pipe (FIFO)" in done.stdout
    assert f"skipped {odd_folder / 'loop-a.jsonl'} (a symbolic link loop" in done.stdout


def test_prepare_reads_the_rest_of_the_folder(odd_folder, tmp_path):
    out = tmp_path / "train.txt"
    done = forge_cli("prepare-training-data", odd_folder, "-o", out)
    assert done.returncode == 0, done.stderr
    assert "Prepared 2 samples" in done.stdout and out.read_text().count("### Response:") == 2


def test_a_fifo_named_on_the_command_line_is_refused_not_read(odd_folder):
    done = forge_cli("validate-training-data", odd_folder / "pipe.jsonl")
    assert done.returncode == 2
    assert "pipe.jsonl is a named pipe (FIFO), not a regular file" in done.stderr


def test_the_data_page_notes_the_skipped_entries(qtbot, wizard, tmp_path):
    folder = tmp_path / "gui data"
    write_jsonl(folder / "part1.jsonl", GOOD_RECORDS)
    os.mkfifo(folder / "pipe.jsonl")
    os.symlink(folder / "loop.jsonl", folder / "loop.jsonl")
    page = wizard.data_page
    try:
        page.add_paths([folder])
        qtbot.waitUntil(lambda: page.report is not None and not page.validating, timeout=15000)
    finally:
        release(folder / "pipe.jsonl")
    assert page.report.valid == 3
    summary = page.summary.text()
    assert f"Skipped {folder / 'pipe.jsonl'}: a named pipe (FIFO)" in summary
    assert f"Skipped {folder / 'loop.jsonl'}: a symbolic link loop" in summary


def test_a_subfolder_that_cannot_be_read_is_noted(tmp_path):
    import shutil
    import tempfile

    if os.geteuid() != 0:
        pytest.skip("needs root to read the folder as a user it is closed to")
    shared = Path(tempfile.mkdtemp(prefix="forge-odd-"))  # tmp_path is root's only
    try:
        shared.chmod(0o755)
        (shared / "good.jsonl").write_bytes(jl(alpaca(1)))
        (shared / "good.jsonl").chmod(0o644)
        (shared / "private").mkdir(mode=0o700)
        (shared / "private" / "secret.jsonl").write_bytes(jl(alpaca(2)))
        empty = tmp_path / "empty"  # root's own: the warm-up runs before the switch to nobody
        empty.mkdir()
        done = forge_cli_as_nobody(["validate-training-data", str(shared)], shared,
                                   ["validate-training-data", str(empty)])
        assert done.returncode == 0, done.stderr
        assert "1 records, 1 valid" in done.stdout
        assert f"skipped {shared / 'private'} (cannot be read: permission denied)" in done.stdout
    finally:
        shutil.rmtree(shared, ignore_errors=True)
