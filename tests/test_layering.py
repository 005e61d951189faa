"""The layers import downwards only: the runtime knows neither the bridge nor the pytest
plugin, and the bridge (the product's front door and CLI) does not import the plugin."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "runtime": {"bridge", "pytest_opencode_bridge"},
    "bridge": {"pytest_opencode_bridge"},
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """Top-level package names ``path`` imports (anywhere in it), with the line."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add((node.module.split(".")[0], node.lineno))
    return found


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
