"""``codex-oss mission template|compile|schema`` and ``validate-handoff``: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from runtime.handoff import CLOSE_TAG, OPEN_TAG
from runtime.mission import MissionV1, Tier, template


def _run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.output


def _mission(**overrides: object) -> dict[str, object]:
    return {**template(Tier.A3, "Find the retry policy", "m-cli"), **overrides}


@pytest.mark.parametrize("tier", ["A2", "A3"])
def test_template_prints_a_valid_mission(tier: str) -> None:
    code, output = _run("mission", "template", "--tier", tier, "--mission-id", "m-7")
    assert code == 0
    document = json.loads(output)
    assert MissionV1.model_validate(document).tier.value == tier
    assert document["mission_id"] == "m-7"


def test_template_of_a_patch_tier_needs_owned_paths() -> None:
    code, output = _run("mission", "template", "--tier", "A4")
    assert code == 2 and "--owned-path" in output
    code, output = _run("mission", "template", "--tier", "A5", "--owned-path", "src/a.py")
    assert code == 0 and json.loads(output)["owned_paths"] == ["src/a.py"]


def test_template_refuses_a_root_outside_the_project() -> None:
    code, output = _run("mission", "template", "--tier", "A3", "--root", "../elsewhere")
    assert code == 2 and "escapes the project" in output


def test_template_handoff_round_trips_through_validate_handoff(tmp_path: Path) -> None:
    code, output = _run("mission", "template", "--tier", "A3", "--handoff")
    assert code == 0 and output.startswith(OPEN_TAG) and CLOSE_TAG in output
    path = tmp_path / "handoff.txt"
    path.write_text("Please do this:\n" + output)
    code, output = _run("validate-handoff", str(path))
    assert code == 0 and output.startswith("OK: mission mission-1 (A3")


def test_unknown_tier_is_a_usage_error() -> None:
    assert _run("mission", "template", "--tier", "A9")[0] == 2


def test_compile_reports_clamps(tmp_path: Path) -> None:
    path = tmp_path / "mission.json"
    path.write_text(json.dumps(_mission(tool_budget=500)))
    code, output = _run("mission", "compile", str(path))
    assert code == 0 and "clamped tool_budget: 500 -> 40" in output
    code, output = _run("mission", "compile", str(path), "--json")
    document = json.loads(output)
    assert document["ok"] is True and document["mission"]["tool_budget"] == 40
    assert {"field": "tool_budget", "requested": 500, "applied": 40, "reason": "tier_cap"} in (
        document["clamps"]
    )


def test_compile_from_stdin() -> None:
    code, _ = _run("mission", "compile", "-", stdin=json.dumps(_mission()))
    assert code == 0


def test_invalid_mission_exits_1_and_names_the_fields(tmp_path: Path) -> None:
    path = tmp_path / "mission.json"
    path.write_text(json.dumps(_mission(tier="A9", surprise=True)))
    code, output = _run("mission", "compile", str(path), "--json")
    assert code == 1
    document = json.loads(output)
    assert document["ok"] is False and document["code"] == "invalid_mission"
    assert any(e.startswith("tier:") for e in document["errors"])
    assert any(e.startswith("surprise: unknown field") for e in document["errors"])


def test_compile_of_non_json_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "mission.json"
    path.write_text("not json")
    code, output = _run("mission", "compile", str(path))
    assert code == 1 and "malformed_json" in output
    code, output = _run("mission", "compile", str(path), "--json")
    assert code == 1
    assert json.loads(output)["errors"][0].startswith("the file is not JSON")


def test_compile_from_handoff_reads_a_block(tmp_path: Path) -> None:
    path = tmp_path / "request.txt"
    path.write_text(f"text {OPEN_TAG}{json.dumps(_mission())}{CLOSE_TAG} more")
    assert _run("mission", "compile", str(path), "--from-handoff")[0] == 0
    assert _run("mission", "compile", str(path))[0] == 1  # not mission JSON


def test_compile_handoff_prints_the_compiled_mission_as_a_block(tmp_path: Path) -> None:
    path = tmp_path / "mission.json"
    path.write_text(json.dumps(_mission(tool_budget=500)))
    code, output = _run("mission", "compile", str(path), "--handoff")
    assert code == 0
    assert output.startswith(OPEN_TAG) and output.rstrip().endswith(CLOSE_TAG)
    block = json.loads(output.strip()[len(OPEN_TAG) : -len(CLOSE_TAG)])
    assert block["mission_id"] == "m-cli" and block["tool_budget"] == 40  # clamped
    handoff = tmp_path / "handoff.md"
    handoff.write_text("Investigate this:\n" + output)
    code, output = _run("validate-handoff", str(handoff))
    assert code == 0 and output.startswith("OK: mission m-cli (A3")


def test_compile_handoff_of_an_invalid_mission_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "mission.json"
    path.write_text(json.dumps(_mission(tier="A9")))
    code, output = _run("mission", "compile", str(path), "--handoff")
    assert code == 1 and OPEN_TAG not in output and "tier:" in output


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    assert _run("mission", "compile", str(tmp_path / "nope.json"))[0] == 2
    assert _run("validate-handoff", str(tmp_path / "nope.txt"))[0] == 2


def test_schema_is_json_schema_of_mission_v1() -> None:
    code, output = _run("mission", "schema")
    schema = json.loads(output)
    assert code == 0 and schema["$id"] == "oss_agent_mission.v1"
    assert "tier" in schema["properties"] and schema["additionalProperties"] is False


def test_validate_handoff_reads_a_responses_body(tmp_path: Path) -> None:
    block = f"{OPEN_TAG}{json.dumps(_mission())}{CLOSE_TAG}"
    body = {
        "model": "mission-a3-kimi",
        "input": [
            {
                "type": "message",
                "role": "developer",
                "content": [{"type": "input_text", "text": "x"}],
            },
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": block}]},
        ],
    }
    path = tmp_path / "request.json"
    path.write_text(json.dumps(body))
    code, output = _run("validate-handoff", str(path), "--json")
    assert code == 0 and json.loads(output)["mission"]["mission_id"] == "m-cli"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no block", "no_handoff"),
        (f"{OPEN_TAG}{{}}{CLOSE_TAG}{OPEN_TAG}{{}}{CLOSE_TAG}", "multiple_handoffs"),
        (f"{OPEN_TAG}{{oops{CLOSE_TAG}", "malformed_json"),
        (f"{OPEN_TAG}[1]{CLOSE_TAG}", "not_an_object"),
        (f"{OPEN_TAG}{'x' * 70000}{CLOSE_TAG}", "oversized_handoff"),
    ],
)
def test_validate_handoff_errors_exit_1_with_their_code(text: str, expected: str) -> None:
    code, output = _run("validate-handoff", "-", "--json", stdin=text)
    assert code == 1
    document = json.loads(output)
    assert (
        document == {"ok": False, "stage": "handoff", "code": expected, **document}
        and (document["errors"])
    )


def test_validate_handoff_with_an_invalid_mission_exits_1() -> None:
    text = f"{OPEN_TAG}{json.dumps(_mission(mode='patch_proposal'))}{CLOSE_TAG}"
    code, output = _run("validate-handoff", "-", stdin=text)
    assert code == 1 and "mode 'patch_proposal' does not match tier A3" in output
