"""No import circle anywhere in forge_gui: the modules form layers (docs/architecture.md).

Every `import` counts, also one inside a function: a circle hidden in a function still
means neither module can be understood, or tested, without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import forge_gui

PACKAGE = Path(forge_gui.__file__).parent

# Circles allowed: none. (A circle found here fails the test; so does one listed that is gone.)
KNOWN: list[list[str]] = []


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The forge_gui modules `name` imports: `from a.b import c` means a.b.c where that is
    a module, else a.b."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.add(full if full in modules else base)
    return {t for t in targets if t in modules and t != name}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_imports_of_every_kind():
    graph = import_graph()
    assert "forge_gui.core.data.scan" in graph["forge_gui.core.data.validate"]  # from a.b import C
    assert "forge_gui.core.data.parallel" in graph["forge_gui.core.data.scan"]  # from a import b
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_itself_back():
    found = cycles(import_graph())
    assert found == KNOWN, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_scanner_and_its_workers_import_one_way():
    graph = import_graph()
    data = {name for name in graph if name.startswith("forge_gui.core.data.")}
    assert not [c for c in cycles({n: graph[n] & data for n in data})]
    assert "forge_gui.core.data.scan" not in graph["forge_gui.core.data.parallel"]


# Package level: forge_gui.core's packages are floors (docs/architecture.md); a floor imports
# only floors below it, so no two packages import each other, however indirectly.

def _package(module: str) -> str:
    return module.removeprefix("forge_gui.core.").split(".")[0]


def package_graph() -> dict[str, set[str]]:
    """forge_gui.core's packages and the packages each imports."""
    graph: dict[str, set[str]] = {}
    for name, targets in import_graph().items():
        if not name.startswith("forge_gui.core."):
            continue
        graph.setdefault(_package(name), set())
        for target in targets:
            if target.startswith("forge_gui.core.") and _package(name) != _package(target):
                graph[_package(name)].add(_package(target))
                graph.setdefault(_package(target), set())
    return graph


def test_no_package_of_core_imports_itself_back():
    graph = package_graph()
    assert "runs" in graph["pipeline"] and "base" in graph["runs"]  # it sees the floors' imports
    found = cycles(graph)
    assert not found, "package circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_run_model_and_the_tool_wrappers_do_not_know_each_other():
    """The run (settings, state, rules) imports no tool wrapper; the wrappers of llama.cpp,
    Ollama and PEFT take plain values, never the run's settings or state (issue 22)."""
    graph = package_graph()
    assert not graph["base"], "core/base imports no other floor"
    assert graph["runs"] <= {"base", "formats"}, graph["runs"]
    for wrapper in ("llamacpp", "ollama", "peft"):
        assert not graph[wrapper] & {"runs", "registration", "evaluation", "pipeline"}, wrapper
