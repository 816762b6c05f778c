"""Build Forge's bundle and installers from the source checkout.

    python installer/build.py TARGET [options]

    bundle    dist/forge/ (PyInstaller, installer/forge.spec), cached by a key over its inputs
    deb       dist/forge_<version>_<arch>.deb           (Linux)
    tarball   dist/forge-<version>-linux-<machine>.tar.gz (Linux, portable)
    appdir    build/Forge.AppDir, and an AppImage when `appimagetool` is on PATH (Linux)
    nsis      dist/Forge-<version>-setup.exe with makensis (real payload on Windows only)
    package   bundle + deb + tarball: what `make package` runs
    report    the size report (MB) of the bundle and the packages in dist/

The llama.cpp tools come from FORGE_BUNDLE_TOOLS (a bin folder) or the pinned build in the
cache (built first when missing). Every step is an argv list; nothing runs through a shell.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from importlib.metadata import version as dist_version
from pathlib import Path

INSTALLER = Path(__file__).resolve().parent
ROOT = INSTALLER.parent
BUILD = ROOT / "build"
DIST = ROOT / "dist"
BUNDLE = DIST / "forge"
KEY_FILE = BUILD / "bundle.key"
# Size budget in MB (docs/packaging.md); tests/test_frozen.py fails when one is exceeded.
# bundle 300 -> 310: jinja2 (chat templates), safetensors and PyYAML (PEFT import, Axolotl export)
SIZE_BUDGET_MB = {"bundle": 310, "deb": 110, "tarball": 125}
sys.path.insert(0, str(INSTALLER))  # the per-OS helpers below live beside this file

from linux import package as linux_package  # noqa: E402


def app_version() -> str:
    return dist_version("forge-gui")


def tools_dir() -> Path:
    override = os.environ.get("FORGE_BUNDLE_TOOLS")
    if override:
        return Path(override).resolve()
    from forge_gui.core.llamacpp.build import ensure_tools
    from forge_gui.core.llamacpp.build_options import PORTABLE_ENV

    # The installer's tools run on other people's CPUs: AVX2, not this machine's AVX-512.
    os.environ[PORTABLE_ENV] = "1"
    return ensure_tools()


def bundle_key(tools: Path) -> str:
    """A digest of everything the bundle is made from: rebuild only when one of them changes."""
    digest = hashlib.sha256()
    digest.update(f"{sys.version}|{dist_version('pyinstaller')}|{app_version()}".encode())
    sources = [*sorted((ROOT / "forge_gui").rglob("*.py")),
               *sorted(p for p in (ROOT / "resources").rglob("*") if p.is_file()),
               INSTALLER / "forge.spec", INSTALLER / "entry_cli.py", INSTALLER / "entry_gui.py",
               INSTALLER / "macos" / "info_plist.py"]
    for path in sources:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    for path in sorted(tools.iterdir()):
        stat = path.stat()
        digest.update(f"{path.name}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


@contextmanager
def build_lock():
    """One bundle build at a time (tests and `make package` may run side by side)."""
    BUILD.mkdir(parents=True, exist_ok=True)
    if sys.platform == "win32":
        yield
        return
    import fcntl

    with open(BUILD / "bundle.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_bundle(force: bool = False, snapshot: Path | None = None) -> Path:
    """dist/forge, rebuilt when its inputs changed; with `snapshot`, also a private copy there.

    The copy (hard links where the file system allows) is taken under the build lock, so a
    test session keeps a consistent bundle while another session rebuilds dist/forge.
    """
    tools = tools_dir()
    with build_lock():
        _build_bundle_locked(tools, force)
        if snapshot:
            shutil.rmtree(snapshot, ignore_errors=True)
            shutil.copytree(BUNDLE, snapshot, symlinks=True, copy_function=_link_or_copy)
            return snapshot
    return BUNDLE


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _build_bundle_locked(tools: Path, force: bool) -> None:
    key = bundle_key(tools)
    exe = BUNDLE / ("forge-cli.exe" if sys.platform == "win32" else "forge-cli")
    if not force and exe.is_file() and KEY_FILE.is_file() and KEY_FILE.read_text() == key:
        print(f"bundle: up to date in {BUNDLE}")
        return
    KEY_FILE.unlink(missing_ok=True)
    started = time.monotonic()
    argv = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level",
            "WARN", "--distpath", str(DIST), "--workpath", str(BUILD / "pyinstaller"),
            str(INSTALLER / "forge.spec")]
    env = {**os.environ, "FORGE_BUNDLE_TOOLS": str(tools)}
    subprocess.run(argv, check=True, cwd=ROOT, env=env)
    KEY_FILE.write_text(key)
    print(f"bundle: built {BUNDLE} in {time.monotonic() - started:.0f} s")


def up_to_date(package: Path) -> Path | None:
    """`package` when it is newer than the bundle and the packaging recipes, else None."""
    inputs = [KEY_FILE, *(INSTALLER / "linux").glob("*.*"),
              *(ROOT / "resources" / "icons").glob("*")]
    if package.is_file() and package.stat().st_mtime > max(p.stat().st_mtime for p in inputs):
        return package
    return None


def build_nsis(bundle: Path, out: Path | None = None, compress: bool = True) -> Path:
    """Compile installer/windows/forge.nsi against `bundle` with makensis."""
    out = out or DIST / f"Forge-{app_version()}-setup.exe"
    makensis = shutil.which("makensis")
    if not makensis:
        raise SystemExit("nsis: makensis is not installed (Debian: apt-get install nsis)")
    argv = [makensis, "-V2", "-WX", "-NOCD", f"-DVERSION={app_version()}", f"-DSOURCE_DIR={bundle}",
            f"-DOUTFILE={out}", f"-DICON={ROOT / 'resources' / 'icons' / 'forge.ico'}"]
    if not compress:
        argv.append("-DCOMPRESSOR=off")
    argv.append(str(INSTALLER / "windows" / "forge.nsi"))
    subprocess.run(argv, check=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=["bundle", "deb", "tarball", "appdir", "nsis",
                                           "package", "report"])
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    parser.add_argument("--reuse", action="store_true",
                        help="package dist/forge as it is, without checking it is up to date")
    parser.add_argument("--bundle", type=Path, help="package this bundle folder as it is")
    parser.add_argument("--dist", type=Path, default=DIST, help="where packages go (dist/)")
    parser.add_argument("--snapshot", type=Path,
                        help="bundle: also copy the result here (hard links), under the lock")
    parser.add_argument("--out", type=Path, help="nsis: where to write the installer")
    parser.add_argument("--no-compress", action="store_true",
                        help="nsis: store files uncompressed (a quick compile check)")
    args = parser.parse_args(argv)
    if args.bundle:
        bundle = args.bundle.resolve()
    elif args.reuse and (BUNDLE / "_internal").is_dir():
        bundle = BUNDLE
    else:
        bundle = build_bundle(force=args.force, snapshot=args.snapshot)
    version, dist = app_version(), args.dist.resolve()
    # Packages of a bundle given by --bundle are always made afresh (tests use their own).
    reuse = (lambda path: None) if args.bundle else up_to_date
    if args.target in ("deb", "package"):
        print(reuse(linux_package.deb_path(version, dist))
              or linux_package.build_deb(bundle, version, dist))
    if args.target in ("tarball", "package"):
        print(reuse(linux_package.tarball_path(version, dist))
              or linux_package.build_tarball(bundle, version, dist))
    if args.target == "appdir":
        work = dist if args.bundle else BUILD
        print(linux_package.build_appimage(bundle, version, work, dist))
    if args.target == "nsis":
        print(build_nsis(bundle, args.out, compress=not args.no_compress))
    if args.target in ("package", "report"):
        print(json.dumps(linux_package.size_report(bundle, dist), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
