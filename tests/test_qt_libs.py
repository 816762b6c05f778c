"""`make run` on a fresh Linux desktop: Qt's xcb libraries are checked before the window
opens, installed with apt-get as root, else the exact command is given; the .deb and the
README use the same list."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "installer" / "linux" / "qt_libs.py"
LINUX = sys.platform.startswith("linux")
pytestmark = pytest.mark.skipif(not LINUX, reason="the check is for Linux desktops")


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


QT = _load(SCRIPT)
FRESH_DEBIAN_MISSES = {"libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"}


def _fake_system(tmp_path: Path, missing: set[str], apt: bool = True) -> dict:
    """PATH with an ldconfig that knows every library but `missing`, and an apt-get that
    records what it was asked (no packages are installed)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    known = [s for s in QT.XCB_LIBRARIES if s not in missing]
    listing = "".join(f"\\t{s} (libc6,x86-64) => /lib/x86_64-linux-gnu/{s}\\n" for s in known)
    (bin_dir / "ldconfig").write_text(
        f"#!/bin/sh\nprintf '{len(known)} libs found in cache `/etc/ld.so.cache'\"'\"'\\n{listing}'\n")
    if apt:
        (bin_dir / "apt-get").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'apt.log'}\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return {**os.environ, "PATH": str(bin_dir)}


def _run(env: dict, user: list[str] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*user, sys.executable, str(SCRIPT)], env=env, capture_output=True,
                          text=True, timeout=60)


def _python_for_anyone() -> str:
    """The interpreter behind this one (a venv's python is a link into the base install), so
    another user can run it wherever the checkout and its venv sit (mktemp -d: 0700)."""
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def test_nothing_missing_nothing_done(tmp_path):
    done = _run(_fake_system(tmp_path, set()))
    assert done.returncode == 0 and done.stderr == ""
    assert not (tmp_path / "apt.log").exists()


def test_as_root_the_missing_packages_are_installed(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("installing is what happens as root; this test runs as another user")
    done = _run(_fake_system(tmp_path, FRESH_DEBIAN_MISSES))
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert calls == ["update -qq", "install -y -qq --no-install-recommends "
                     "libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1"]


def test_as_a_user_it_stops_with_the_exact_command():
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run the check as a normal user")
    shared = Path(tempfile.mkdtemp(prefix="forge-qt-libs-"))  # pytest's tmp_path is root's only
    try:
        shared.chmod(0o755)
        env = _fake_system(shared, FRESH_DEBIAN_MISSES)
        # the script (stdlib only) is copied where the user can read it: not the checkout's
        script = shared / SCRIPT.name
        shutil.copy(SCRIPT, script)
        script.chmod(0o644)
        done = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                               _python_for_anyone(), str(script)], env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 1, done.stderr
        assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in done.stderr
        assert not (shared / "apt.log").exists()
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_without_apt_it_names_the_libraries(tmp_path):
    done = _run(_fake_system(tmp_path, {"libxcb-icccm.so.4"}, apt=False))
    assert done.returncode == 1 and "libxcb-icccm.so.4" in done.stderr


def test_make_run_checks_before_it_opens_the_window():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    plan = subprocess.run(["make", "-n", "-W", "pyproject.toml", "run"], cwd=ROOT,
                          capture_output=True, text=True).stdout.splitlines()
    check = next(i for i, line in enumerate(plan) if "installer/linux/qt_libs.py" in line)
    gui = next(i for i, line in enumerate(plan) if line.rstrip().endswith("forge-gui"))
    assert check < gui


def test_one_list_for_the_deb_the_check_and_the_readme():
    package = _load(ROOT / "installer" / "linux" / "package.py")
    assert {"libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"} <= set(QT.PACKAGES)
    assert set(QT.PACKAGES) <= set(package.BASE_DEPENDS)
    readme = (ROOT / "README.md").read_text("utf-8")
    prerequisites = readme[readme.index("## Quick start"):readme.index("```sh")]
    listed = set(re.findall(r"lib[a-z0-9.+-]+", prerequisites))
    assert set(QT.PACKAGES) <= listed, sorted(set(QT.PACKAGES) - listed)
