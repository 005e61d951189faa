"""Admission: a request's handoff, compiled to MissionV1 and checked against the alias's tier
and, in a project, against the tier the profile has earned there. Every door (HTTP, MCP, the
CLI) admits a mission here, once, before it runs.

Kept apart from the runner so the bridge can refuse a bad handoff with a 400 before it opens
a stream, without importing the whole runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime.handoff import extract_handoff_from_items
from runtime.mission import (
    TIER_ORDER,
    CompiledMission,
    MissionContractError,
    compile_mission,
)
from runtime.registry import Resolution


class TierMismatch(MissionContractError):
    """The handoff asks for a higher tier than the alias it was sent to runs."""


def admit(
    request_input: list[Any] | str, resolution: Resolution, project_root: Path | None = None
) -> CompiledMission:
    """The compiled mission of ``request_input`` under ``resolution``, or HandoffError /
    MissionContractError; with ``project_root``, AdmissionError when the project's scorecard
    says the profile lost the alias's tier."""
    compiled = compile_mission(extract_handoff_from_items(request_input))
    tier, alias_tier = compiled.mission.tier, resolution.tier
    if alias_tier is not None and TIER_ORDER[tier] > TIER_ORDER[alias_tier]:
        raise TierMismatch(
            [
                f"tier: the handoff asks for {tier.value} but {resolution.alias} runs missions "
                f"up to {alias_tier.value}; use mission-{tier.value.lower()}-<profile>"
            ]
        )
    if project_root is not None:
        from runtime.scorecard import check_earned  # reads the project's files: not for a check

        check_earned(project_root, resolution)
    return compiled
