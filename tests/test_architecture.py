"""Core must stay free of Qt (docs/architecture.md), and nothing may run a shell string."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import forge_gui

PACKAGE = Path(forge_gui.__file__).parent
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "shiboken6")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_sources_import_no_qt():
    offenders = [str(p.relative_to(PACKAGE)) for p in (PACKAGE / "core").rglob("*.py")
                 if _imports(p) & set(QT_MODULES)]
    assert offenders == []


def test_importing_all_of_core_and_cli_loads_no_qt():
    code = (
        "import importlib, pkgutil, sys, forge_gui.core as c, forge_gui.cli as cli\n"
        "for m in pkgutil.walk_packages(c.__path__, 'forge_gui.core.'): importlib.import_module(m.name)\n"
        "cli.build_parser()\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}]\n"
        "print(bad); raise SystemExit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_shell_strings_anywhere_in_the_package():
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text("utf-8")
        for bad in ("shell=True", "os.system(", "os.popen("):
            assert bad not in text, f"{path}: {bad}"
