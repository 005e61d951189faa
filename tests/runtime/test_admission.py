import json

import pytest

from runtime.admission import TierMismatch, admit
from runtime.handoff import HandoffError
from runtime.mission import MissionContractError, Tier, template
from runtime.registry import ModelRegistry
from runtime.settings import Settings

A3 = ModelRegistry(Settings(MODEL_MAP_JSON={}, FALLBACK_MODEL_MAP_JSON={})).resolve(
    "mission-a3-kimi"
)


def request(tier: Tier, **fields) -> str:
    mission = template(tier, "find it", "m-1", **fields)
    return f"go\n<OSS_HANDOFF_JSON>{json.dumps(mission)}</OSS_HANDOFF_JSON>"


def test_a_handoff_within_the_alias_tier_is_admitted_and_compiled():
    compiled = admit(request(Tier.A2), A3)
    assert compiled.mission.tier is Tier.A2
    assert compiled.mission.tool_budget is not None


def test_a_handoff_above_the_alias_tier_is_refused_naming_the_alias_to_use():
    with pytest.raises(TierMismatch, match="mission-a5-<profile>"):
        admit(request(Tier.A5, owned_paths=["src"]), A3)


def test_contract_and_handoff_errors_pass_through():
    with pytest.raises(HandoffError):
        admit("no block", A3)
    with pytest.raises(MissionContractError):
        admit('<OSS_HANDOFF_JSON>{"tier": "A3"}</OSS_HANDOFF_JSON>', A3)
