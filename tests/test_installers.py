"""The installer recipes that can be checked without building the bundle (quick).

The bundle and the packages themselves are tested in tests/test_frozen.py.
"""

from __future__ import annotations

import importlib.util
import os
import plistlib
import struct
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from forge_gui import frozen

ROOT = Path(__file__).resolve().parents[1]
ICONS = ROOT / "resources" / "icons"
INSTALLER = ROOT / "installer"


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


# --- icons ------------------------------------------------------------------------------------

def test_png_icons_have_the_size_their_name_says():
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        assert png_size((ICONS / f"forge-{size}.png").read_bytes()) == (size, size)


def test_windows_icon_holds_every_size_up_to_256():
    data = (ICONS / "forge.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind) == (0, 1)
    sizes = []
    for i in range(count):
        w, h, _, _, _, _, length, offset = struct.unpack("<BBBBHHII", data[6 + 16 * i:22 + 16 * i])
        actual = png_size(data[offset:offset + length])
        assert actual == ((w or 256), (h or 256))  # 0 in the directory means 256
        sizes.append(actual[0])
    assert {16, 32, 48, 256} <= set(sizes)


def test_macos_icon_is_a_well_formed_icns():
    data = (ICONS / "forge.icns").read_bytes()
    assert data[:4] == b"icns" and struct.unpack(">I", data[4:8])[0] == len(data)
    offset, kinds = 8, {}
    while offset < len(data):
        kind, length = data[offset:offset + 4], struct.unpack(">I", data[offset + 4:offset + 8])[0]
        kinds[kind] = png_size(data[offset + 8:offset + length])
        offset += length
    assert offset == len(data)
    assert kinds[b"ic10"] == (1024, 1024) and kinds[b"ic07"] == (128, 128)


# --- Linux desktop entry and MIME type --------------------------------------------------------

def test_desktop_entry_passes_desktop_file_validate():
    done = subprocess.run(["desktop-file-validate", str(INSTALLER / "linux" / "forge.desktop")],
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout + done.stderr


def test_deb_versions_sort_pre_releases_first():
    package = load(INSTALLER / "linux" / "package.py")
    assert package.deb_version("0.1.0") == "0.1.0"
    assert package.deb_version("1.0rc1") == "1.0~rc1"
    assert package.deb_version("1.0.dev3") == "1.0~dev3"
    for lower, higher in (("1.0~dev3", "1.0~rc1"), ("1.0~rc1", "1.0")):
        assert subprocess.run(["dpkg", "--compare-versions", lower, "lt", higher]).returncode == 0


# --- macOS Info.plist -------------------------------------------------------------------------

def test_info_plist_declares_documents_and_high_resolution():
    plist = load(INSTALLER / "macos" / "info_plist.py").info_plist("1.2.3")
    round_trip = plistlib.loads(plistlib.dumps(plist))
    assert round_trip["CFBundleShortVersionString"] == "1.2.3"
    assert round_trip["NSHighResolutionCapable"] is True
    assert round_trip["CFBundleIdentifier"].count(".") >= 2
    handled = {t for doc in round_trip["CFBundleDocumentTypes"] for t in doc["LSItemContentTypes"]}
    declared = {d["UTTypeIdentifier"]: d["UTTypeTagSpecification"]["public.filename-extension"]
                for d in round_trip["UTImportedTypeDeclarations"]}
    assert "public.json" in handled
    jsonl = [uti for uti, exts in declared.items() if "jsonl" in exts]
    assert jsonl and jsonl[0] in handled


def test_macos_scripts_are_valid_bash():
    for script in (INSTALLER / "macos").glob("*.sh"):
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0, script
        assert os.access(script, os.X_OK), f"{script.name} is not executable"


# --- start-up fixes of the frozen app ---------------------------------------------------------

def test_children_get_the_users_library_path_back():
    env = {"LD_LIBRARY_PATH": "/opt/forge/_internal", "LD_LIBRARY_PATH_ORIG": "/usr/local/lib"}
    frozen.restore_library_path(env)
    assert env["LD_LIBRARY_PATH"] == "/usr/local/lib"


def test_bundle_library_path_is_dropped_when_the_user_had_none(monkeypatch, tmp_path):
    monkeypatch.setattr(frozen.paths, "bundle_root", lambda: tmp_path)
    env = {"LD_LIBRARY_PATH": str(tmp_path)}
    frozen.restore_library_path(env)
    assert "LD_LIBRARY_PATH" not in env


def test_macos_path_gains_existing_install_folders_after_the_users(tmp_path):
    present, absent = tmp_path / "homebrew-bin", tmp_path / "nowhere"
    present.mkdir()
    env = {"PATH": "/usr/bin:/bin"}
    frozen.extend_path(env, (str(present), str(absent), "/usr/bin"))
    assert env["PATH"].split(os.pathsep) == ["/usr/bin", "/bin", str(present)]


def test_prepare_adds_ollama_locations_only_on_macos(monkeypatch, tmp_path):
    monkeypatch.setattr(frozen, "MACOS_EXTRA_PATH", (str(tmp_path),))
    mac, linux = {"PATH": "/usr/bin"}, {"PATH": "/usr/bin"}
    frozen.prepare(mac, platform="darwin")
    frozen.prepare(linux, platform="linux")
    assert mac["PATH"].endswith(str(tmp_path)) and linux["PATH"] == "/usr/bin"


def test_windowed_app_without_streams_gets_harmless_ones(monkeypatch):
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", None)
    frozen.give_windowed_app_streams()
    print("a warning nobody sees", file=sys.stderr)
    sys.stdout.write("and some output\n")
    assert sys.stdout is not None and sys.stderr is not None


def test_prepare_leaves_a_source_run_alone(monkeypatch):
    before = dict(os.environ)
    frozen.prepare()
    assert dict(os.environ) == before


# --- the release workflow ---------------------------------------------------------------------

@pytest.fixture(scope="session")
def check_jsonschema() -> Path:
    """check-jsonschema in its own venv under build/ (its GitHub schema is in the wheel)."""
    folder = ROOT / "build" / "check-jsonschema-venv"
    exe = folder / ("Scripts" if sys.platform == "win32" else "bin") / "check-jsonschema"
    if not exe.exists():
        venv.create(folder, with_pip=True)
        python = folder / ("Scripts" if sys.platform == "win32" else "bin") / "python"
        subprocess.run([str(python), "-m", "pip", "install", "-q", "check-jsonschema>=0.29"],
                       check=True)
    return exe


@pytest.mark.slow
def test_release_workflow_matches_the_github_workflow_schema(check_jsonschema):
    workflow = ROOT / ".github" / "workflows" / "release.yml"
    done = subprocess.run([str(check_jsonschema), "--builtin-schema", "vendor.github-workflows",
                           str(workflow)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_release_workflow_builds_smoke_tests_and_uploads_on_every_os():
    text = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    for job in ("linux:", "windows:", "macos:"):
        assert f"\n  {job}" in text
    assert text.count("installer/build.py") >= 4 and text.count("upload-artifact") == 3
    assert "tests/test_frozen.py" in text and text.count("installer/smoke.py") == 2
