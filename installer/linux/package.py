"""Linux packages from the PyInstaller bundle: .deb, portable .tar.gz, AppDir/AppImage.

Layout of the .deb: the bundle in /opt/forge, launchers /usr/bin/forge-{gui,cli} (relative
symlinks, so an unpacked tree works anywhere), the desktop entry, hicolor icons and a
shared-mime-info package that declares .jsonl. dpkg's triggers refresh the desktop, MIME and
icon caches, so no maintainer scripts are needed.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ICONS = ROOT / "resources" / "icons"
ICON_SIZES = [16, 24, 32, 48, 64, 128, 256, 512]
EXECUTABLES = ("forge-gui", "forge-cli")
DESCRIPTION = """Fine-tune a local language model and run it in Ollama
 Forge turns your training data and a base model into a fine-tuned model you can
 `ollama run`: a desktop wizard (forge-gui) and a command line (forge-cli) over the
 llama.cpp tools, which are included."""


def _qt_libs():
    """installer/linux/qt_libs.py: the one list of Qt's system libraries (make run checks it)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("forge_qt_libs", HERE / "qt_libs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_QT = _qt_libs()
# Libraries Qt's xcb/wayland plugins load that may be missing on the build machine (then
# `ldd` cannot resolve them and dpkg cannot name their package).
KNOWN_PACKAGES = {**_QT.XCB_LIBRARIES, **_QT.WAYLAND_LIBRARIES}
# What the offscreen and xcb platforms need on any desktop, whatever ldd found here.
BASE_DEPENDS = list(_QT.PACKAGES)


def deb_version(version: str) -> str:
    """PEP 440 -> Debian: pre-releases sort before the release ('1.0rc1' -> '1.0~rc1')."""
    return re.sub(r"\.?(dev|a|b|rc)(\d*)", r"~\1\2", version)


def deb_arch() -> str:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()


def install_tree(bundle: Path, root: Path, app_dir: str) -> None:
    """Lay the app out under `root` as it will be installed (`app_dir` relative to root)."""
    shutil.copytree(bundle, root / app_dir, symlinks=True)
    bin_dir = root / "usr" / "bin"
    bin_dir.mkdir(parents=True)
    for name in EXECUTABLES:
        target = os.path.relpath(root / app_dir / name, bin_dir)
        (bin_dir / name).symlink_to(target)
    share = root / "usr" / "share"
    (share / "applications").mkdir(parents=True)
    shutil.copy2(HERE / "forge.desktop", share / "applications" / "forge.desktop")
    (share / "mime" / "packages").mkdir(parents=True)
    shutil.copy2(HERE / "forge-mime.xml", share / "mime" / "packages" / "forge.xml")
    for size in ICON_SIZES:
        folder = share / "icons" / "hicolor" / f"{size}x{size}" / "apps"
        folder.mkdir(parents=True)
        shutil.copy2(ICONS / f"forge-{size}.png", folder / "forge.png")


def elf_files(folder: Path) -> list[Path]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            with open(path, "rb") as fh:
                if fh.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def system_libraries(bundle: Path) -> tuple[set[str], set[str]]:
    """(paths of system libraries the bundle links to, names ldd could not find)."""
    resolved, missing = set(), set()
    bundle = bundle.resolve()
    # At run time the bootloader puts _internal on the library path: resolve as it will.
    env = {**os.environ, "LD_LIBRARY_PATH": str(bundle / "_internal")}
    for elf in elf_files(bundle):
        out = subprocess.run(["ldd", str(elf)], capture_output=True, text=True, env=env).stdout
        for line in out.splitlines():
            match = re.match(r"\s*(\S+) => (.+?)(?: \(0x[0-9a-f]+\))?$", line)
            if not match:
                continue
            name, where = match.groups()
            if where == "not found":
                missing.add(name)
            elif not Path(where).resolve().is_relative_to(bundle):
                resolved.add(where)
    return resolved, missing - {p.name for p in bundle.rglob("*")}


def depends(bundle: Path) -> list[str]:
    """Debian packages owning the system libraries the bundle needs (like dpkg-shlibdeps)."""
    libraries, missing = system_libraries(bundle)
    packages = set(BASE_DEPENDS)
    for path in sorted(libraries):
        out = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        if out.returncode != 0:  # merged /usr: dpkg may know the file under the other name
            other = path.removeprefix("/usr") if path.startswith("/usr/") else "/usr" + path
            out = subprocess.run(["dpkg", "-S", other], capture_output=True, text=True)
        if out.returncode == 0:
            packages.add(out.stdout.split(":")[0].split(",")[0].strip())
        else:
            name = Path(path).name
            if name in KNOWN_PACKAGES:
                packages.add(KNOWN_PACKAGES[name])
    for name in missing:
        if name in KNOWN_PACKAGES:
            packages.add(KNOWN_PACKAGES[name])
        else:
            print(f"deb: warning: no package known for {name} (a plugin needs it)")
    glibc = platform.libc_ver()[1]
    packages.discard("libc6")
    return [f"libc6 (>= {glibc})" if glibc else "libc6", *sorted(packages)]


def deb_path(version: str, dist: Path) -> Path:
    return dist / f"forge_{deb_version(version)}_{deb_arch()}.deb"


def tarball_path(version: str, dist: Path) -> Path:
    return dist / f"forge-{version}-linux-{platform.machine()}.tar.gz"


def build_deb(bundle: Path, version: str, dist: Path) -> Path:
    arch = deb_arch()
    dist.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".deb-", dir=dist))  # private: builds may overlap
    root = work / "root"
    install_tree(bundle, root, "opt/forge")
    doc = root / "usr" / "share" / "doc" / "forge"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("Forge - MIT licence.\nBundles llama.cpp (MIT), Qt and "
                                   "PySide6 (LGPLv3), Python (PSF).\n")
    size_kb = sum(p.lstat().st_size for p in root.rglob("*")) // 1024
    control = (f"Package: forge\nVersion: {deb_version(version)}\nArchitecture: {arch}\n"
               f"Maintainer: Forge developers <forge@users.noreply.github.com>\n"
               f"Installed-Size: {size_kb}\nSection: science\nPriority: optional\n"
               f"Depends: {', '.join(depends(bundle))}\nDescription: {DESCRIPTION}\n")
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(control)
    out = deb_path(version, dist)
    partial = work / out.name
    # zstd: 10 s here against xz's 150 s for 15 % more bytes. Every dpkg that can run this
    # bundle reads it (dpkg >= 1.21.18 / Ubuntu >= 21.10; the bundle needs a newer glibc anyway).
    try:
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zzstd", "-z10", "--build", str(root),
                        str(partial)], check=True, stdout=subprocess.DEVNULL)
        os.replace(partial, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def build_tarball(bundle: Path, version: str, dist: Path) -> Path:
    """forge-<version>/ with the bundle, the desktop entry and an icon: unpack and run."""
    top = f"forge-{version}"
    dist.mkdir(parents=True, exist_ok=True)
    out = tarball_path(version, dist)
    fd, partial = tempfile.mkstemp(prefix=".tar-", dir=dist)  # private: builds may overlap
    try:
        with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w:gz",
                                                     compresslevel=6) as tar:
            tar.add(bundle, arcname=top)
            tar.add(HERE / "forge.desktop", arcname=f"{top}/share/forge.desktop")
            tar.add(ICONS / "forge-256.png", arcname=f"{top}/share/forge.png")
        os.chmod(partial, 0o644)
        os.replace(partial, out)
    finally:
        Path(partial).unlink(missing_ok=True)
    return out


def build_appimage(bundle: Path, version: str, build: Path, dist: Path) -> Path:
    """An AppDir (always) and the AppImage when appimagetool is available (release job)."""
    appdir = build / "Forge.AppDir"
    shutil.rmtree(appdir, ignore_errors=True)
    install_tree(bundle, appdir, "usr/lib/forge")
    shutil.copy2(HERE / "forge.desktop", appdir / "forge.desktop")
    shutil.copy2(ICONS / "forge-256.png", appdir / "forge.png")
    (appdir / ".DirIcon").symlink_to("forge.png")
    (appdir / "AppRun").symlink_to("usr/bin/forge-gui")
    tool = shutil.which("appimagetool")
    if not tool:
        print("appimage: appimagetool not on PATH; AppDir left in", appdir)
        return appdir
    out = dist / f"Forge-{version}-{platform.machine()}.AppImage"
    env = {**os.environ, "ARCH": platform.machine()}
    subprocess.run([tool, "--no-appstream", str(appdir), str(out)], check=True, env=env)
    return out


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_dir())


def size_report(bundle: Path, dist: Path) -> dict:
    """Sizes in MB: the bundle, its largest parts, and every package in dist/."""
    mb = lambda n: round(n / 1e6, 1)  # noqa: E731
    internal = bundle / "_internal"
    parts = {p.name: tree_size(p) for p in internal.iterdir()} if internal.is_dir() else {}
    largest = dict(sorted(parts.items(), key=lambda kv: -kv[1])[:8])
    packages = {p.name: mb(p.stat().st_size) for p in sorted(dist.iterdir())
                if p.is_file() and p.suffix in (".deb", ".gz", ".AppImage", ".exe", ".dmg")}
    return {"bundle_mb": mb(tree_size(bundle)),
            "largest_parts_mb": {k: mb(v) for k, v in largest.items()},
            "packages_mb": packages}
