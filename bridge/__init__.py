"""The HTTP front door: the Responses-compatible server and the ``codex-oss`` command line.

A small public API, loaded on first use so the CLI's light commands stay light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "create_app": "bridge.app",
    "start_server": "bridge.app",
    "ServerThread": "bridge.app",
    "main": "bridge.cli",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bridge' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
