"""MissionV1 rules: tier/mode, write rules, scope, budgets and clamps, limits, argv commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime.handoff import extract_handoff_from_text
from runtime.mission import (
    ABUSIVE_LIMIT,
    BUDGET_FIELDS,
    MODE_OF_TIER,
    TIER_BUDGETS,
    Clamp,
    MissionContractError,
    MissionV1,
    Mode,
    Tier,
    compile_mission,
    is_within,
    mission_json_schema,
    normalise_scope_path,
    template,
)


def _doc(tier: Tier = Tier.A3, /, **overrides: Any) -> dict[str, Any]:
    """A valid template of ``tier`` with ``overrides`` applied on top (any field, any value)."""
    extra: dict[str, Any] = {}
    if tier in (Tier.A4, Tier.A5, Tier.A6):
        extra["owned_paths"] = ["src/app.py"]
    data = template(tier, "Find where the config is loaded", "m-1", **extra)
    data.update(overrides)
    return data


def _errors(data: dict[str, Any]) -> str:
    with pytest.raises(MissionContractError) as info:
        compile_mission(data)
    return str(info.value)


@pytest.mark.parametrize("tier", list(Tier))
def test_template_of_every_tier_compiles_without_clamps(tier: Tier) -> None:
    compiled = compile_mission(_doc(tier))
    assert compiled.mission.tier is tier
    assert compiled.mission.mode is MODE_OF_TIER[tier]
    assert compiled.clamps == []


@pytest.mark.parametrize("tier", list(Tier))
def test_mode_of_another_tier_is_refused(tier: Tier) -> None:
    wrong = next(mode for mode in Mode if mode is not MODE_OF_TIER[tier])
    message = _errors(_doc(tier, mode=wrong.value))
    assert "mode" in message and MODE_OF_TIER[tier].value in message


def test_missing_mode_is_filled_from_the_tier() -> None:
    data = _doc(Tier.A2)
    del data["mode"]
    assert compile_mission(data).mission.mode is Mode.GUIDED_EXPLORATION


@pytest.mark.parametrize("tier", [Tier.A2, Tier.A3, Tier.A4])
def test_write_allowed_true_below_a5_is_refused(tier: Tier) -> None:
    assert "write_allowed must be false" in _errors(_doc(tier, write_allowed=True))


@pytest.mark.parametrize("tier", [Tier.A5, Tier.A6])
def test_write_allowed_false_for_a5_and_a6_is_refused(tier: Tier) -> None:
    assert "write_allowed must be true" in _errors(_doc(tier, write_allowed=False))


@pytest.mark.parametrize("tier", list(Tier))
def test_write_allowed_left_out_is_resolved_per_tier(tier: Tier) -> None:
    data = _doc(tier)
    del data["write_allowed"]
    mission = compile_mission(data).mission
    assert mission.write_allowed is (tier in (Tier.A5, Tier.A6))


@pytest.mark.parametrize("tier", list(Tier))
def test_a_mission_without_scope_is_refused(tier: Tier) -> None:
    data = _doc(tier, allowed_roots=[], allowed_paths=[], owned_paths=[])
    assert "allowed_roots or allowed_paths" in _errors(data)


def test_allowed_paths_alone_are_a_scope() -> None:
    mission = compile_mission(_doc(Tier.A2, allowed_roots=[], allowed_paths=["README.md"])).mission
    assert mission.allowed_paths == ["README.md"]


@pytest.mark.parametrize("tier", [Tier.A4, Tier.A5, Tier.A6])
def test_patch_tiers_require_owned_paths(tier: Tier) -> None:
    assert f"owned_paths is required for tier {tier.value}" in _errors(_doc(tier, owned_paths=[]))


@pytest.mark.parametrize("field", ["owned_paths", "max_files_changed", "max_patch_bytes"])
def test_patch_fields_are_refused_below_a4(field: str) -> None:
    value: Any = ["src/a.py"] if field == "owned_paths" else 3
    assert f"{field} is only for patch tiers" in _errors(_doc(Tier.A3, **{field: value}))


def test_owned_path_outside_scope_is_refused() -> None:
    data = _doc(Tier.A4, allowed_roots=["src"], owned_paths=["docs/x.md"])
    assert "'docs/x.md' is outside allowed scope" in _errors(data)


def test_owned_path_inside_a_forbidden_root_is_refused() -> None:
    data = _doc(Tier.A4, forbidden_roots=["src/secret"], owned_paths=["src/secret/k.py"])
    assert "forbidden root 'src/secret'" in _errors(data)


def test_verification_is_refused_below_a5() -> None:
    data = _doc(Tier.A4, verification={"commands": [["pytest", "-q"]]})
    assert "verification commands are only for tiers A5 and A6" in _errors(data)


def test_verification_argv_is_kept() -> None:
    data = _doc(Tier.A5, verification={"commands": [["pytest", "-q"]], "timeout_seconds": 60})
    verification = compile_mission(data).mission.verification
    assert verification is not None
    assert verification.commands == [["pytest", "-q"]]


@pytest.mark.parametrize(
    ("commands", "expected"),
    [
        (["pytest -q"], "shell string 'pytest -q'"),
        ([["bash", "-c", "pytest"]], "runs a shell (bash)"),
        ([["/bin/sh", "-c", "x"]], "runs a shell (sh)"),
        ([["pytest -q"]], "looks like a shell string"),
        ([["make;rm"]], "looks like a shell string"),
        ([[]], "non-empty list of strings"),
        ([["pytest", 3]], "non-empty strings"),
        ([["pytest", "a\x00b"]], "without NUL bytes"),
        ("pytest", "must be a list of argv lists"),
    ],
)
def test_verification_commands_must_be_argv(commands: Any, expected: str) -> None:
    message = _errors(_doc(Tier.A5, verification={"commands": commands}))
    assert "verification.commands" in message and expected in message


def test_verification_timeout_has_a_ceiling() -> None:
    message = _errors(_doc(Tier.A5, verification={"commands": [], "timeout_seconds": 99_999}))
    assert "verification.timeout_seconds" in message


def test_critical_path_read_needs_a_reason() -> None:
    assert "critical_path_reason" in _errors(_doc(critical_path_read_allowed=True))
    data = _doc(critical_path_read_allowed=True, critical_path_reason="auth bug lives there")
    assert compile_mission(data).mission.critical_path_read_allowed is True


@pytest.mark.parametrize(
    ("tier", "field", "cap"),
    [
        (tier, field, limits[1])
        for tier, budgets in TIER_BUDGETS.items()
        for field, limits in budgets.items()
        if limits is not None
    ],
)
def test_budget_above_the_tier_cap_is_clamped_and_reported(
    tier: Tier, field: str, cap: int
) -> None:
    compiled = compile_mission(_doc(tier, **{field: cap + 1}))
    assert getattr(compiled.mission, field) == cap
    assert compiled.clamps == [
        Clamp(field=field, requested=cap + 1, applied=cap, reason="tier_cap")
    ]


def test_budget_at_the_cap_is_kept_without_a_clamp() -> None:
    cap = TIER_BUDGETS[Tier.A3]["tool_budget"]
    assert cap is not None
    compiled = compile_mission(_doc(Tier.A3, tool_budget=cap[1]))
    assert compiled.mission.tool_budget == cap[1] and compiled.clamps == []


def test_missing_budgets_take_the_tier_default_and_are_reported() -> None:
    data = _doc(Tier.A3)
    del data["tool_budget"], data["max_model_calls"]
    compiled = compile_mission(data)
    assert compiled.mission.tool_budget == 24 and compiled.mission.max_model_calls == 30
    assert {(c.field, c.reason) for c in compiled.clamps} == {
        ("tool_budget", "tier_default"),
        ("max_model_calls", "tier_default"),
    }


@pytest.mark.parametrize("field", BUDGET_FIELDS)
def test_abusive_budget_is_refused_not_clamped(field: str) -> None:
    message = _errors(_doc(Tier.A5, **{field: ABUSIVE_LIMIT[field] + 1}))
    assert f"{field}: {field}=" in message and "beyond any tier" in message


@pytest.mark.parametrize("value", [0, -1, 2.5, "10", True])
def test_budget_must_be_a_positive_integer(value: Any) -> None:
    assert "tool_budget" in _errors(_doc(tool_budget=value))


def test_zero_duplicate_actions_is_allowed() -> None:
    assert compile_mission(_doc(max_duplicate_actions=0)).mission.max_duplicate_actions == 0


def test_unknown_field_is_an_error_that_names_it() -> None:
    message = _errors(_doc(tool_budgt=5))
    assert "tool_budgt: unknown field" in message


def test_unknown_nested_field_is_an_error_that_names_its_path() -> None:
    message = _errors(_doc(Tier.A5, verification={"commands": [], "shell": True}))
    assert "verification.shell: unknown field" in message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tier", "A9"),
        ("mode", "free_for_all"),
        ("risk_tier", "extreme"),
        ("allowed_tool_classes", ["read", "exec"]),
        ("stop_conditions", ["never"]),
        ("required_outputs", ["poem"]),
        ("report_schema", "other_report.v9"),
        ("schema_version", "oss_agent_mission.v2"),
    ],
)
def test_unknown_enum_value_is_an_error_that_names_the_field(field: str, value: Any) -> None:
    assert field in _errors(_doc(**{field: value}))


@pytest.mark.parametrize(
    ("field", "value"),
    [("write_allowed", "false"), ("critical_path_read_allowed", 1), ("objective", 42)],
)
def test_no_type_coercion(field: str, value: Any) -> None:
    assert field in _errors(_doc(**{field: value}))


def test_blank_objective_is_refused() -> None:
    assert "objective is blank" in _errors(_doc(objective="   "))


def test_duplicate_tool_class_is_refused() -> None:
    assert "'read' is listed twice" in _errors(_doc(allowed_tool_classes=["read", "read"]))


def test_empty_tool_classes_are_refused() -> None:
    assert "allowed_tool_classes" in _errors(_doc(allowed_tool_classes=[]))


@pytest.mark.parametrize("mission_id", ["", "-x", "a/b", "x" * 65, "a b"])
def test_mission_id_must_be_a_safe_name(mission_id: str) -> None:
    assert "mission_id" in _errors(_doc(mission_id=mission_id))


@pytest.mark.parametrize("path", ["/etc", "../up", "a/../../b", "C:/x", "a\\b", "a\x00b"])
def test_scope_paths_must_stay_in_the_project(path: str) -> None:
    assert "allowed_roots" in _errors(_doc(allowed_roots=[path]))


def test_scope_paths_are_normalised() -> None:
    mission = compile_mission(_doc(allowed_roots=["./src/", "docs//api/../guide"])).mission
    assert mission.allowed_roots == ["src", "docs/guide"]
    assert normalise_scope_path("./") == "."


def test_is_within_respects_path_segments() -> None:
    assert is_within("src/a.py", "src") and is_within("src", "src")
    assert not is_within("srcx/a.py", "src")
    assert is_within("anything", ".")


def test_too_many_scope_entries_are_refused() -> None:
    assert "allowed_roots" in _errors(_doc(allowed_roots=[f"d{i}" for i in range(65)]))


def test_several_errors_are_all_reported() -> None:
    with pytest.raises(MissionContractError) as info:
        compile_mission(_doc(Tier.A3, tier="A9", tool_budget=-1, bogus=1))
    fields = " ".join(info.value.errors)
    assert "tier" in fields and "tool_budget" in fields and "bogus" in fields


def test_non_object_input_is_a_clear_error() -> None:
    assert "mission" in _errors([1, 2])  # type: ignore[arg-type]


def test_compiled_mission_is_frozen() -> None:
    mission = compile_mission(_doc()).mission
    with pytest.raises(ValueError):
        mission.tier = Tier.A5  # type: ignore[misc]


def test_json_schema_names_every_field_and_forbids_extras() -> None:
    schema = mission_json_schema()
    assert set(schema["properties"]) == set(MissionV1.model_fields)
    assert schema["additionalProperties"] is False
    assert schema["$id"] == "oss_agent_mission.v1"
    assert set(schema["required"]) >= {"schema_version", "mission_id", "tier", "objective"}
    json.dumps(schema)  # the export is plain JSON


# The handoff example of the origin document (the README users come from), verbatim.
ORIGIN_HANDOFF = Path(__file__).parents[1] / "fixtures" / "origin-handoff.md"


def test_the_origin_documents_handoff_validates_verbatim() -> None:
    compiled = compile_mission(extract_handoff_from_text(ORIGIN_HANDOFF.read_text()))
    mission = compiled.mission
    assert [c.value for c in mission.stop_conditions] == [
        "valid_report",
        "budget_exhausted",
        "deadline_reached",
    ]
    assert "confidence" in [o.value for o in mission.required_outputs]
    assert (mission.tool_budget, mission.time_budget_seconds) == (3, 60)
    assert mission.required_source_paths == ("bridge.py",)


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("stop_conditions", ["never"], "'valid_report'"),
        ("stop_conditions", ["never"], "'deadline_reached'"),
        ("required_outputs", ["poem"], "'confidence'"),
        ("tier", "A9", "'A2'"),
    ],
)
def test_an_unknown_enum_value_lists_the_allowed_ones(field: str, value: Any, allowed: str) -> None:
    message = _errors(_doc(**{field: value}))
    assert field in message and allowed in message


def test_required_sources_default_to_named_files_only_without_roots() -> None:
    named = compile_mission(_doc(allowed_roots=[], allowed_paths=["a.py", "b.py"])).mission
    rooted = compile_mission(_doc(allowed_roots=["src"], allowed_paths=["a.py"])).mission
    narrowed = _doc(allowed_roots=[], allowed_paths=["a.py", "b.py"], required_sources=["a.py"])
    none = _doc(allowed_roots=[], allowed_paths=["a.py"], required_sources=[])
    assert named.required_source_paths == ("a.py", "b.py")
    assert rooted.required_source_paths == ()
    assert compile_mission(narrowed).mission.required_source_paths == ("a.py",)
    assert compile_mission(none).mission.required_source_paths == ()


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        (["other.py"], "required_sources entry 'other.py' is outside the scope"),
        (["src/secret/key.txt"], "lies in a forbidden root"),
        (["../x"], "escapes the project"),
        (["src/a.py", "src/a.py"], "listed twice"),
    ],
)
def test_required_sources_stay_strict(sources: list[str], message: str) -> None:
    doc = _doc(allowed_roots=["src"], forbidden_roots=["src/secret"], required_sources=sources)
    assert message in _errors(doc)


def test_every_schema_field_is_described_and_budgets_state_their_limits() -> None:
    properties = mission_json_schema()["properties"]
    undocumented = [name for name, prop in properties.items() if not prop.get("description")]
    assert undocumented == []
    for name in BUDGET_FIELDS:
        description = properties[name]["description"]
        assert str(ABUSIVE_LIMIT[name]) in description
        a3 = TIER_BUDGETS[Tier.A3][name]
        if a3 is not None:
            assert f"A3 {a3[0]} (cap {a3[1]})" in description
    assert (
        "deadline_reached: the time budget is a stop condition"
        in (properties["stop_conditions"]["description"])
    )
