#!/usr/bin/env python3
"""The system libraries Qt's xcb platform plugin loads on a Linux desktop, and their Debian
packages: one list, used by the .deb's Depends (package.py) and by `make run`, which runs
this file before it opens the window (docs/packaging.md, "Running from a clone").

    python3 installer/linux/qt_libs.py    # exit 0: all there (or installed now); 1: missing

A fresh Debian desktop lacks some of them (libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1),
and Qt then aborts naming only the first. When some are missing this installs them with
apt-get when it runs as root, else stops with the exact command to run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

# soname -> Debian package, for what the xcb platform (and Qt's GUI core) loads.
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}
# Loaded only by the Wayland plugin (Qt falls back to xcb without them): the .deb names them
# when the bundle links them, `make run` does not insist.
WAYLAND_LIBRARIES = {
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-egl.so.1": "libwayland-egl1",
}
PACKAGES = sorted(set(XCB_LIBRARIES.values()))


def _ldconfig() -> str | None:
    return shutil.which("ldconfig") or next(
        (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.access(p, os.X_OK)), None)


def installed_sonames() -> set[str] | None:
    """The sonames the dynamic linker knows, or None when that cannot be asked."""
    ldconfig = _ldconfig()
    if ldconfig is None:
        return None
    done = subprocess.run([ldconfig, "-p"], capture_output=True, text=True)
    if done.returncode != 0:
        return None
    return {line.split()[0] for line in done.stdout.splitlines()[1:] if line.strip()}


def missing_packages(known: set[str]) -> list[str]:
    return sorted({pkg for soname, pkg in XCB_LIBRARIES.items() if soname not in known})


def main() -> int:
    if not sys.platform.startswith("linux"):
        return 0
    known = installed_sonames()
    if known is None:
        print("make run: cannot list the system libraries (no ldconfig); if the window does "
              f"not open, install: {' '.join(PACKAGES)}", file=sys.stderr)
        return 0
    missing = missing_packages(known)
    if not missing:
        return 0
    apt = shutil.which("apt-get")
    print(f"Forge's window needs these system packages: {' '.join(missing)}", file=sys.stderr)
    if apt and os.geteuid() == 0:
        print("Installing them with apt-get…", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        update = subprocess.run([apt, "update", "-qq"], env=env)
        done = subprocess.run([apt, "install", "-y", "-qq", "--no-install-recommends", *missing],
                              env=env)
        if update.returncode == 0 and done.returncode == 0:
            return 0
        print(f"apt-get could not install them; run: apt-get install {' '.join(missing)}",
              file=sys.stderr)
        return 1
    if apt:
        print(f"Install them, then run make run again:\n  sudo apt-get install "
              f"{' '.join(missing)}", file=sys.stderr)
    else:
        names = [s for s, p in XCB_LIBRARIES.items() if p in missing]
        print(f"Install the packages that provide {', '.join(names)} with your system's package "
              "manager, then run make run again.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
