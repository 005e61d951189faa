"""The layers import downwards only: the runtime knows neither the bridge nor the pytest
plugin, and the bridge (the product's front door and CLI) does not import the plugin. Inside
the runtime, no import cycle runs through the packages pinned acyclic."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "runtime": {"bridge", "pytest_opencode_bridge"},
    "bridge": {"pytest_opencode_bridge"},
}


# Packages no import cycle may pass through.
ACYCLIC = ("runtime",)


def imports(path: Path, module: str = "") -> set[tuple[str, int]]:
    """Dotted names ``path`` (the module ``module``) imports anywhere in it, with the line.

    Relative imports are made absolute; ``from m import n`` gives ``m.n``, which names a
    submodule or something defined in ``m``. Imports under ``TYPE_CHECKING`` count too.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {(alias.name, node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            found |= {(f"{base}.{alias.name}", node.lineno) for alias in node.names}
    return found


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """Top-level package names ``path`` imports (anywhere in it), with the line."""
    return {(name.split(".")[0], line) for name, line in imports(path) if not name.startswith(".")}


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Each module of ``package`` (under ``root``) and the modules of it that it imports."""
    paths = {}
    for path in (root / package).rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        targets = set()
        for name, _ in imports(path, module):
            while name and name not in paths:  # ``m.n`` where ``n`` is no module: ``m``
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def modules_on_a_cycle(graph: dict[str, set[str]]) -> set[str]:
    """The modules that reach themselves through their imports."""

    def reachable(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo.extend(graph[module])
        return seen

    return {module for module in graph if module in reachable(module)}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    offences = [
        f"{path.relative_to(ROOT)}:{line} imports {package}"
        for path in sorted((ROOT / layer).rglob("*.py"))
        for package, line in imported_packages(path)
        if package in FORBIDDEN[layer]
    ]
    assert offences == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from pytest_opencode_bridge.harness import tool_action\n")
    assert ("pytest_opencode_bridge", 2) in imported_packages(module)


def test_no_import_cycle_runs_through_an_acyclic_package() -> None:
    cyclic = modules_on_a_cycle(import_graph(ROOT, "runtime"))
    pinned = [m for m in cyclic for p in ACYCLIC if m == p or m.startswith(p + ".")]
    assert sorted(pinned) == []


def test_the_check_sees_a_cycle_through_a_typing_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from pkg.box import Box\n")
    (package / "box.py").write_text("from pkg import handler\nBox = 1\n")
    (package / "handler.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .box import Box\n"
    )
    (package / "leaf.py").write_text("from . import handler\n")
    assert modules_on_a_cycle(import_graph(tmp_path, "pkg")) == {"pkg.box", "pkg.handler"}
