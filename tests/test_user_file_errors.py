"""OS errors on the user's files (full disk, read-only file system, no permission, a folder or
a file in the way): one sentence naming the path and the cause, a non-zero exit, nothing
half-written. Real file systems: a tiny tmpfs for a full disk, a read-only remount, a
the user nobody for permissions (fixtures_data.forge_cli_as_nobody)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from fixtures_data import forge_cli_as_nobody, jl

from forge_gui.cli import main
from forge_gui.core.base.atomic import atomic_write_text


def run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def big_data(folder: Path, records: int = 3000) -> Path:
    """Alpaca JSONL whose training text is ~300 KB: more than the tiny disk holds."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "big.jsonl"
    path.write_bytes(jl(*({"instruction": f"Question number {i} about colours?",
                           "output": f"Answer number {i}: the ball is red. " * 2}
                          for i in range(records))))
    return path


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs mounted at tmp_path/disk."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): "
                    f"{done.stderr.strip()}")

    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def make_read_only(mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)


def no_traceback(err: str) -> None:
    assert "Traceback" not in err and "Errno" not in err, err


def test_prepare_on_a_full_disk_names_the_file_and_leaves_nothing(tmp_path, tiny_disk, capsys):
    data = big_data(tmp_path / "data")
    out = tiny_disk / "train.txt"
    code, _, err = run(capsys, "prepare-training-data", data, "-o", out, "--workers", "1")
    assert code == 2
    assert f"Cannot write {out}: the disk is full" in err
    no_traceback(err)
    assert list(tiny_disk.iterdir()) == []  # neither the output nor a temp file


def test_validate_report_on_a_read_only_disk(tmp_path, tiny_disk, capsys):
    data = big_data(tmp_path / "data", records=5)
    make_read_only(tiny_disk)
    report = tiny_disk / "report.json"
    code, _, err = run(capsys, "validate-training-data", data, "--report", report)
    assert code == 2
    assert f"Cannot write {report}: the file system is read-only." in err
    no_traceback(err)


def test_output_that_is_a_folder_or_under_a_file(tmp_path, capsys):
    data = big_data(tmp_path / "data", records=5)
    folder = tmp_path / "out"
    folder.mkdir()
    code, _, err = run(capsys, "validate-training-data", data, "--report", folder)
    assert code == 2 and f"Cannot write {folder}: it is a folder, not a file." in err
    no_traceback(err)
    code, _, err = run(capsys, "prepare-training-data", data, "-o", folder)
    assert code == 2 and f"{folder} is a folder" in err
    no_traceback(err)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    code, _, err = run(capsys, "validate-training-data", data, "--report", a_file / "r.json")
    assert code == 2 and f"{a_file} is a file, not a folder." in err
    no_traceback(err)
    code, _, err = run(capsys, "prepare-training-data", data, "-o", a_file / "sub" / "t.txt")
    assert code == 2 and f"{a_file} is a file, not a folder." in err
    assert a_file.read_text() == "mine"


@pytest.fixture
def shared_dir():
    """A folder every user can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="forge-perm-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_permission_denied_on_the_output_folder(shared_dir):
    data = big_data(shared_dir / "data", records=5)
    for p in (shared_dir / "data", data):
        p.chmod(0o755 if p.is_dir() else 0o644)
    locked = shared_dir / "locked"
    locked.mkdir(mode=0o755)  # root's: nobody may not write there
    warm = shared_dir / "root-only"
    warm.mkdir(mode=0o700)
    done = forge_cli_as_nobody(
        ["prepare-training-data", str(data), "-o", str(locked / "t.txt")], shared_dir,
        ["prepare-training-data", str(data), "-o", str(warm / "t.txt")])
    assert done.returncode == 2, done.stderr
    assert f"Cannot write {locked / 't.txt'}: permission denied." in done.stderr
    no_traceback(done.stderr)


def test_train_run_data_step_on_a_full_disk(tmp_path, tiny_disk, tiny_gguf, capsys):
    data = big_data(tmp_path / "data")
    run_dir = tiny_disk / "run"
    code, out, err = run(capsys, "train-run", "--data", data, "--base-gguf", tiny_gguf["f32"],
                         "--name", "full-disk", "--workdir", run_dir, "--no-create")
    assert code == 1
    # LoRA prepares pre-rendered segments (train.jsonl, docs/training.md)
    assert f"Cannot write {run_dir / 'train.jsonl'}: the disk is full" in err, err
    no_traceback(err)
    assert not (run_dir / "train.jsonl").exists()
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []


def test_a_temp_file_left_by_a_killed_writer_is_removed_on_the_next_write(tmp_path):
    target = tmp_path / "train.txt"
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from forge_gui.core.base.atomic import atomic_open\n"
        f"with atomic_open({str(target)!r}) as fh:\n"
        "    fh.write('half'); fh.flush(); print('writing', flush=True); time.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".train.txt.")  # what kill -9 leaves
    atomic_write_text(target, "complete")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.txt"]
    assert target.read_text() == "complete"


def test_a_temp_file_of_a_writer_still_running_is_kept(tmp_path):
    target = tmp_path / "train.txt"
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from forge_gui.core.base.atomic import atomic_open\n"
        f"with atomic_open({str(target)!r}) as fh:\n"
        "    fh.write('x'); fh.flush(); print('writing', flush=True); sys.stdin.read()\n")],
        stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
        atomic_write_text(target, "mine")
        assert len([p for p in tmp_path.iterdir() if p.name.startswith(".")]) == 1
    finally:
        writer.stdin.close()
        writer.wait(timeout=30)
    assert target.read_text() == "x"  # the other writer finished last


def test_report_json_of_the_full_disk_case_is_not_half_written(tmp_path, tiny_disk, capsys):
    """A report that does not fit: no report.json at all, never a truncated one."""
    big_data(tmp_path / "data", records=2000)
    (tmp_path / "data" / "bad.jsonl").write_bytes(jl(*([{"instruction": "x"}] * 3000)))
    report = tiny_disk / "report.json"
    code, _, err = run(capsys, "validate-training-data", tmp_path / "data", "--report", report,
                       "--max-issues", "0")
    assert code == 2 and "the disk is full" in err
    assert not report.exists() and list(tiny_disk.iterdir()) == []
