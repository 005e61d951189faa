"""pytest plugin entry point (``pytest11``): options, markers and fixtures of OpenCode Bridge."""

from __future__ import annotations
