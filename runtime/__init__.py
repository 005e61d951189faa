"""The mission runtime: contracts, the governed loop, the event log and its projections.

A small public API; everything else is private to its module. Names load on first use, so
importing one module of the runtime (the bridge's hot path, ``claim-status``) does not import
all of it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MissionV1": "runtime.mission",
    "compile_mission": "runtime.mission",
    "MissionContractError": "runtime.mission",
    "HandoffError": "runtime.handoff",
    "run_mission": "runtime.runner",
    "MissionOutcome": "runtime.runner",
    "MissionEventLog": "runtime.eventlog",
    "verify_log": "runtime.eventlog",
    "load_events": "runtime.eventlog",
    "RunRecord": "runtime.record",
    "reduce": "runtime.record",
    "ModelRegistry": "runtime.registry",
    "UpstreamClient": "runtime.upstream",
    "Settings": "runtime.settings",
    "load_settings": "runtime.settings",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runtime' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
