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


# Every child process starts in core/base/process.py (docs/architecture.md, "Processes"). The data
# scanner's worker pool (multiprocessing) runs Forge's own Python, not a tool, and is allowed.
LAUNCHER = PACKAGE / "core" / "base" / "process.py"
PROCESS_STARTS = ("subprocess", "QProcess", "os.spawn", "os.exec", "os.posix_spawn", "pty.spawn",
                  "asyncio.create_subprocess")


def test_every_child_process_starts_in_core_process():
    offenders: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if path == LAUNCHER:
            continue
        tree = ast.parse(path.read_text("utf-8"), str(path))
        for node in ast.walk(tree):
            text = ""
            if isinstance(node, ast.Import):
                text = " ".join(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                text = f"{node.module} " + " ".join(alias.name for alias in node.names)
            elif isinstance(node, ast.Attribute):
                text = ast.unparse(node)
            elif isinstance(node, ast.Name):
                text = node.id
            if any(text.startswith(bad) or f" {bad}" in text or f".{bad}" in text
                   for bad in PROCESS_STARTS):
                offenders.add(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, "start processes through core/base/process.py: " + ", ".join(sorted(offenders))


def test_the_gui_runner_does_not_walk_steps_itself():
    """One walker (core/pipeline/walk.run_pipeline): the GUI's runner only observes it."""
    tree = ast.parse((PACKAGE / "gui" / "runner.py").read_text("utf-8"))
    calls = {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert "run_pipeline" in calls
    assert not any(call.endswith((".build", "run_process_step", "run_one", ".mark"))
                   for call in calls), calls


def test_no_module_is_over_400_lines():
    """Past that a module holds more than one thing: split it along a seam (issue 12)."""
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text("utf-8").splitlines())) > 400}
    assert long == {}
