"""Admission: a request's handoff, compiled to MissionV1 and checked against the alias's tier.

Kept apart from the runner so the bridge can refuse a bad handoff with a 400 before it opens
a stream, without importing the whole runtime.
"""

from __future__ import annotations

from typing import Any

from runtime.handoff import extract_handoff_from_items
from runtime.mission import (
    TIER_ORDER,
    CompiledMission,
    MissionContractError,
    Tier,
    compile_mission,
)


class TierMismatch(MissionContractError):
    """The handoff asks for a higher tier than the alias it was sent to runs."""


def admit(request_input: list[Any] | str, alias: str, alias_tier: Tier | None) -> CompiledMission:
    """The compiled mission of ``request_input``, or HandoffError / MissionContractError."""
    compiled = compile_mission(extract_handoff_from_items(request_input))
    tier = compiled.mission.tier
    if alias_tier is not None and TIER_ORDER[tier] > TIER_ORDER[alias_tier]:
        raise TierMismatch(
            [
                f"tier: the handoff asks for {tier.value} but {alias} runs missions up to "
                f"{alias_tier.value}; use mission-{tier.value.lower()}-<profile>"
            ]
        )
    return compiled
