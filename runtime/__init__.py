"""The mission runtime: contracts, the governed loop, the event log and its projections.

A small public API; everything else is private to its module. Names load on first use, so
importing one module of the runtime (the bridge's hot path, ``claim-status``) does not import
all of it.
"""

from __future__ import annotations

from runtime.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "runtime.mission": ("MissionV1", "compile_mission", "MissionContractError"),
        "runtime.handoff": ("HandoffError",),
        "runtime.runner": ("run_mission", "MissionOutcome"),
        "runtime.eventlog": ("MissionEventLog", "verify_log", "load_events"),
        "runtime.record": ("RunRecord", "reduce"),
        "runtime.registry": ("ModelRegistry",),
        "runtime.upstream": ("UpstreamClient",),
        "runtime.settings": ("Settings", "load_settings"),
    },
)
