"""The HTTP front door: the Responses-compatible server and the ``codex-oss`` command line.

A small public API, loaded on first use so the CLI's light commands stay light.
"""

from __future__ import annotations

from runtime.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {"bridge.app": ("create_app", "start_server", "ServerThread"), "bridge.cli": ("main",)},
)
