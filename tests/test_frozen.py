"""Smoke tests of the frozen app: the real PyInstaller bundle, the real .deb, the real tools.

The bundle is built once per session by `installer/build.py` (the same command as
`make package`), cached under build/ by a key over its inputs, so a second run reuses it;
the session tests a private copy, and makes its packages from it into a temporary folder.
Each test says which other parts of Forge it exercises through the frozen binaries:
  [tools]  forge-cli doctor and tool discovery (llama.cpp area)
  [data]   forge-cli validate-training-data and the bundled sample (data area)
  [gui]    forge-gui --self-test (GUI area)
  [train]  forge-cli train-run --no-create (training pipeline, llama.cpp tools)
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
import tarfile
from importlib.metadata import version as dist_version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = ROOT / "installer" / "build.py"
LINUX = sys.platform.startswith("linux")

# Building the bundle takes minutes on a cold cache (2 cores); the first test pays for it.
pytestmark = [pytest.mark.slow, pytest.mark.tools, pytest.mark.timeout(1800)]


def build(target: str, *options: str, tools: Path | None = None) -> str:
    env = {**os.environ, "FORGE_BUNDLE_TOOLS": str(tools)} if tools else None
    done = subprocess.run([sys.executable, str(BUILD_SCRIPT), target, *options], cwd=ROOT,
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, f"build.py {target} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="session")
def bundle(llama_tools) -> Path:
    """A private copy (hard links) of the up-to-date dist/forge, for this session only:
    other sessions in the same checkout may rebuild dist/forge while these tests run. It
    bundles the tools the suite built (an installer builds portable ones, a second build)."""
    snapshot = ROOT / "build" / f"test-bundle-{os.getpid()}"
    build("bundle", "--snapshot", str(snapshot / "forge"), tools=llama_tools)
    yield snapshot / "forge"
    shutil.rmtree(snapshot, ignore_errors=True)


@pytest.fixture(scope="session")
def packages(bundle, tmp_path_factory) -> Path:
    """Where this session's packages go (made from its own bundle copy)."""
    return tmp_path_factory.mktemp("packages")


def package(target: str, bundle: Path, dist: Path, *options: str) -> Path:
    out = build(target, "--bundle", str(bundle), "--dist", str(dist), *options)
    return Path(out.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def deb_file(bundle, packages) -> Path:
    return package("deb", bundle, packages)


@pytest.fixture(scope="session")
def deb_root(deb_file, tmp_path_factory) -> Path:
    """The .deb unpacked into a temporary root, as dpkg would install it."""
    root = tmp_path_factory.mktemp("deb-root")
    subprocess.run(["dpkg-deb", "-x", str(deb_file), str(root)], check=True)
    return root


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """A clean environment: no venv, no llama.cpp tools on PATH or in a cache, own home."""
    runtime = tmp_path / "xdg-runtime"
    runtime.mkdir(mode=0o700)
    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
        "XDG_RUNTIME_DIR": str(runtime), "QT_QPA_PLATFORM": "offscreen",
        "FORGE_DATA_DIR": str(tmp_path / "data"), "FORGE_CONFIG_DIR": str(tmp_path / "config"),
        "FORGE_CACHE_DIR": str(tmp_path / "cache"),
        "OLLAMA_HOST": "127.0.0.1:9",  # nothing listens there: "not reachable", at once
    }


def load_script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(argv, env, timeout=120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], env=env, capture_output=True, text=True,
                          timeout=timeout, **kw)


def files_under(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.lstat().st_mtime_ns for p in folder.rglob("*")}


# --- the bundle -----------------------------------------------------------------------------

def test_cli_version_is_the_package_version(bundle, env):
    done = run([bundle / "forge-cli", "--version"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"forge-cli {dist_version('forge-gui')}"


def test_both_executables_share_one_folder(bundle):
    assert (bundle / "forge-cli").is_file() and (bundle / "forge-gui").is_file()
    assert sorted(p.name for p in bundle.iterdir()) == ["_internal", "forge-cli", "forge-gui"]
    internal = bundle / "_internal"
    assert (internal / "resources" / "icons" / "forge-256.png").is_file()
    # Qt modules Forge does not use stay out; the ones it uses are in.
    qt = {p.name.split(".")[0] for p in (internal / "PySide6").glob("Qt*.so")}
    assert {"QtCore", "QtGui", "QtWidgets"} <= qt
    assert not qt & {"QtNetwork", "QtQml", "QtQuick", "QtPdf", "QtSql", "QtOpenGL", "QtDBus"}


def test_bundled_tools_need_no_library_from_the_build_machine(bundle):
    """[tools] The tools must run on a machine without the build cache or a compiler."""
    tools = sorted((bundle / "_internal" / "llama.cpp").iterdir())
    assert {t.name for t in tools} >= {"llama-finetune", "llama-quantize", "llama-tokenize"}
    for tool in tools:
        assert os.access(tool, os.X_OK), f"{tool.name} is not executable"
        if LINUX:
            ldd = subprocess.run(["ldd", str(tool)], capture_output=True, text=True).stdout
            assert "not found" not in ldd, ldd
            assert ".cache" not in ldd and "llama.cpp/build" not in ldd, ldd


@pytest.mark.skipif(not LINUX, reason="ldd and Debian package names are Linux's")
def test_every_library_the_bundle_needs_is_inside_on_the_system_or_declared(bundle):
    """Pruning Qt's extras must not cut a library something kept still needs."""
    package = load_script(ROOT / "installer" / "linux" / "package.py")
    _, missing = package.system_libraries(bundle)
    assert missing <= set(package.KNOWN_PACKAGES), sorted(missing - set(package.KNOWN_PACKAGES))


def test_doctor_reports_the_bundled_tools(bundle, env):
    """[tools] With nothing on PATH and an empty cache, doctor finds the tools in the bundle."""
    done = run([bundle / "forge-cli", "doctor", "--json"], env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)["llama_cpp"]
    assert report["ready"] is True and report["missing"] == []
    for name, tool in report["tools"].items():
        assert tool["source"] == "bundled", (name, tool)
        assert Path(tool["path"]).resolve().is_relative_to(bundle.resolve()), (name, tool)
        assert tool["problem"] is None, (name, tool)


def test_validate_training_data_on_the_bundled_sample(bundle, env):
    """[data] The frozen CLI reads the bundled sample exactly as the source checkout does."""
    sample = bundle / "_internal" / "resources" / "sample" / "sample.jsonl"
    frozen = run([bundle / "forge-cli", "validate-training-data", "--json", sample], env)
    source = run([sys.executable, "-m", "forge_gui", "validate-training-data", "--json", sample],
                 {**os.environ, **{k: env[k] for k in ("FORGE_DATA_DIR", "FORGE_CONFIG_DIR")}})
    assert frozen.returncode == 0, frozen.stderr
    assert source.returncode == 0, source.stderr
    report = json.loads(frozen.stdout)
    assert report["valid"] > 0 and report["invalid"] == 0
    assert report == json.loads(source.stdout)


def test_gui_self_test_offscreen(bundle, env):
    """[gui] The windowed executable opens, loads the sample, visits every page, exits 0."""
    done = run([bundle / "forge-gui", "--self-test"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.strip() == "", f"unexpected output on stderr:\n{done.stderr}"
    assert "self-test: ok" in done.stdout


def test_running_the_app_writes_nothing_inside_the_bundle(bundle, env):
    """[tools][data][gui] Every writable file goes to the user's folders, never the bundle."""
    before = files_under(bundle)
    sample = bundle / "_internal" / "resources" / "sample" / "sample.jsonl"
    run([bundle / "forge-cli", "doctor"], env)
    run([bundle / "forge-cli", "validate-training-data", sample], env)
    run([bundle / "forge-gui", "--self-test"], env)
    assert files_under(bundle) == before


def test_train_run_with_the_frozen_cli_and_bundled_tools(bundle, env, tiny_models, tmp_path):
    """[train] A tiny model fine-tuned end to end by the frozen CLI, stopping before Ollama."""
    from fixtures_llama import write_colour_dataset

    data = write_colour_dataset(tmp_path / "colours.jsonl", records=24)
    workdir = tmp_path / "run"
    done = run([bundle / "forge-cli", "train-run", "--data", data, "--base-gguf",
                tiny_models["f32"], "--name", "tiny-frozen", "--no-create", "--ctx", "256",
                "--epochs", "2", "--workdir", workdir, "--json"], env, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["train_loss_first"] is not None and summary["train_loss_last"] is not None
    output = Path(summary["output_gguf"])
    assert output.read_bytes()[:4] == b"GGUF"
    assert (workdir / "Modelfile").is_file()
    trainer = json.loads((workdir / "commands" / "train.json").read_text())["argv"][0]
    assert Path(trainer).resolve().is_relative_to(bundle.resolve()), trainer


# --- the .deb -------------------------------------------------------------------------------

linux_only = pytest.mark.skipif(not LINUX, reason="Debian packages are built on Linux")


@linux_only
def test_deb_unpacked_runs_cli_and_finds_its_tools(deb_root, env):
    """[tools] /usr/bin/forge-cli from the unpacked .deb runs and uses /opt/forge's tools."""
    cli = deb_root / "usr" / "bin" / "forge-cli"
    assert cli.is_symlink() and not os.readlink(cli).startswith("/")
    done = run([cli, "--version"], env)
    assert done.returncode == 0 and done.stdout.strip().endswith(dist_version("forge-gui"))
    done = run([cli, "doctor", "--json"], env)
    assert done.returncode == 0, done.stderr
    for tool in json.loads(done.stdout)["llama_cpp"]["tools"].values():
        assert tool["source"] == "bundled"
        assert Path(tool["path"]).is_relative_to(deb_root / "opt" / "forge"), tool["path"]


@linux_only
def test_deb_unpacked_gui_self_test(deb_root, env):
    """[gui] /usr/bin/forge-gui from the unpacked .deb passes its self-test offscreen."""
    done = run([deb_root / "usr" / "bin" / "forge-gui", "--self-test"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.strip() == "", f"unexpected output on stderr:\n{done.stderr}"


@linux_only
def test_deb_desktop_integration(deb_root):
    share = deb_root / "usr" / "share"
    desktop = share / "applications" / "forge.desktop"
    # desktop-file-utils is installed by .ci/run; hints and warnings count as failures too.
    done = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout + done.stderr
    entry = dict(line.split("=", 1) for line in desktop.read_text().splitlines() if "=" in line)
    assert entry["Exec"].split()[0] == "forge-gui" and (deb_root / "usr/bin/forge-gui").exists()
    assert "application/jsonl" in entry["MimeType"].split(";")
    mime = (share / "mime" / "packages" / "forge.xml").read_text()
    assert 'type="application/jsonl"' in mime and 'pattern="*.jsonl"' in mime
    for size in (16, 32, 48, 128, 256, 512):
        icon = share / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{entry['Icon']}.png"
        width, height = struct.unpack(">II", icon.read_bytes()[16:24])  # PNG IHDR
        assert (width, height) == (size, size), icon


@linux_only
def test_deb_control_declares_what_the_bundle_needs(deb_file):
    control = subprocess.run(["dpkg-deb", "-f", str(deb_file)], capture_output=True, text=True,
                             check=True).stdout
    fields = dict(line.split(": ", 1) for line in control.splitlines() if ": " in line)
    assert fields["Package"] == "forge"
    depends = [d.split()[0] for d in fields["Depends"].split(", ")]
    # Qt's platform plugins load these from the system; the bundle does not carry them.
    assert {"libc6", "libegl1", "libfontconfig1", "libxkbcommon0"} <= set(depends)
    assert int(fields["Installed-Size"]) > 50_000  # KiB: the bundle really is inside


@linux_only
def test_portable_tarball_unpacks_and_runs(bundle, env, tmp_path):
    """The .tar.gz: unpack anywhere, run forge-cli from the folder, tools found inside it."""
    tarball = package("tarball", bundle, tmp_path / "dist")
    assert tarball.stat().st_size / 1e6 <= load_script(BUILD_SCRIPT).SIZE_BUDGET_MB["tarball"]
    with tarfile.open(tarball) as tar:
        tar.extractall(tmp_path, filter="tar")
    (top,) = [p for p in tmp_path.iterdir() if p.name.startswith("forge-") and p.is_dir()]
    assert (top / "share" / "forge.desktop").is_file()
    done = run([top / "forge-cli", "doctor", "--json"], env)
    assert done.returncode == 0, done.stderr
    for tool in json.loads(done.stdout)["llama_cpp"]["tools"].values():
        assert Path(tool["path"]).is_relative_to(top), tool["path"]


@linux_only
def test_sizes_stay_within_the_budget(bundle, deb_file):
    """The budget of docs/packaging.md, kept: installer/build.py SIZE_BUDGET_MB."""
    budget = load_script(BUILD_SCRIPT).SIZE_BUDGET_MB
    bundle_mb = sum(p.lstat().st_size for p in bundle.rglob("*") if not p.is_dir()) / 1e6
    assert bundle_mb <= budget["bundle"], f"bundle {bundle_mb:.0f} MB > {budget['bundle']} MB"
    deb_mb = deb_file.stat().st_size / 1e6
    assert deb_mb <= budget["deb"], f".deb {deb_mb:.0f} MB > {budget['deb']} MB"


# --- other installers built from the same bundle ---------------------------------------------

def test_windows_installer_script_compiles_against_the_bundle(bundle, tmp_path):
    """makensis (-WX: warnings fail) builds the NSIS installer; the real payload is Windows'.

    Debian's nsis package (installed by .ci/run) provides makensis.
    """
    out = tmp_path / "Forge-setup.exe"
    package("nsis", bundle, tmp_path, "--no-compress", "--out", str(out))
    head = out.read_bytes()[:2]
    assert head == b"MZ"
    assert out.stat().st_size > 50_000_000  # the bundle is in it


@linux_only
def test_appdir_runs_the_gui(bundle, env, tmp_path):
    """The AppImage recipe's AppDir: AppRun starts forge-gui from inside it."""
    appdir = package("appdir", bundle, tmp_path)  # no appimagetool here: the AppDir
    assert appdir.name == "Forge.AppDir"
    assert (appdir / "forge.desktop").is_file() and (appdir / ".DirIcon").exists()
    done = run([appdir / "AppRun", "--self-test"], env)
    assert done.returncode == 0, done.stdout + done.stderr
