"""runtime.tools' public API: the names other packages import from it, and nothing else."""

from __future__ import annotations

from types import ModuleType

import runtime.tools

PUBLIC = [
    "MISTAKE_REASON_CODES",
    "TOOL_CLASSES",
    "TOOL_SPECS",
    "ProjectToolBox",
    "SearchPattern",
    "ToolRefused",
    "compile_search_pattern",
    "normalise_arguments",
]


def test_all_is_pinned():
    assert runtime.tools.__all__ == PUBLIC


def test_the_package_exposes_exactly_its_all():
    # Submodules become package attributes once imported; ``annotations`` is the
    # ``from __future__`` feature. Any other public name would be an unpinned export.
    exposed = {
        name
        for name, value in vars(runtime.tools).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert exposed - {"annotations"} == set(PUBLIC)
