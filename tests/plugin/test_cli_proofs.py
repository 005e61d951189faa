"""``codex-oss claim-status``, ``burnin``, ``certify`` and ``refresh-proofs`` on a project."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from click.testing import CliRunner

from bridge.cli import main

if TYPE_CHECKING:
    from tests.plugin.conftest import ClaimsProject

pytest_plugins = ["pytester"]


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_claim_status_fails_while_claims_are_missing(claims_project: ClaimsProject) -> None:
    result = run("claim-status", "--project", str(claims_project.path))
    assert result.exit_code == 1
    assert "MISSING    alpha  no artifact" in result.output
    assert "0/2 supported" in result.output


def test_burnin_then_claim_status_reports_every_claim_supported(
    claims_project: ClaimsProject,
) -> None:
    assert run("burnin", "--project", str(claims_project.path), "-q").exit_code == 0
    result = run("claim-status", "--project", str(claims_project.path))
    assert result.exit_code == 0, result.output
    assert "2/2 supported" in result.output


def test_claim_status_json_names_status_and_why(claims_project: ClaimsProject) -> None:
    run("burnin", "--project", str(claims_project.path), "-q")
    claims_project.write("gate/door.py", "def opens():\n    return True  # edited\n")
    result = run("claim-status", "--project", str(claims_project.path), "--json")
    assert result.exit_code == 1
    document = json.loads(result.output)
    assert document["all_required_supported"] is False
    by_claim = {item["claim"]: item for item in document["claims"]}
    assert by_claim["alpha"]["status"] == "SUPPORTED"
    assert (by_claim["beta"]["status"], by_claim["beta"]["why"]) == (
        "STALE",
        "gate/ changed since it was proven",
    )


def test_claim_status_with_a_short_max_age_reports_stale(claims_project: ClaimsProject) -> None:
    run("burnin", "--project", str(claims_project.path), "-q")
    claims_project.write(
        ".codex-oss/claims/alpha.json",
        claims_project.claims_dir.joinpath("alpha.json")
        .read_text(encoding="utf-8")
        .replace('"when": "2', '"when": "1'),  # proven a millennium ago
    )
    result = run("claim-status", "--project", str(claims_project.path), "--max-age", "30d")
    assert result.exit_code == 1
    assert "older than the max age 30d" in result.output


def test_claim_status_refuses_a_bad_max_age(claims_project: ClaimsProject) -> None:
    result = run("claim-status", "--project", str(claims_project.path), "--max-age", "later")
    assert result.exit_code == 2
    assert "max age 'later'" in result.output


def test_certify_writes_only_the_target(claims_project: ClaimsProject) -> None:
    assert run("certify", "--project", str(claims_project.path), "beta", "-q").exit_code == 0
    assert claims_project.artifacts() == ["_run_manifest.json", "beta.json"]


def test_refresh_proofs_reruns_only_claims_that_are_not_supported(
    claims_project: ClaimsProject,
) -> None:
    run("burnin", "--project", str(claims_project.path), "-q")
    beta_before = claims_project.artifact("beta")["when"]
    claims_project.write("engine/core.py", "def answer():\n    return 6 * 7\n")
    result = run("refresh-proofs", "--project", str(claims_project.path), "-q")
    assert result.exit_code == 0, result.output
    assert "refreshing: alpha" in result.output
    assert "2/2 supported" in result.output
    assert claims_project.artifact("beta")["when"] == beta_before


def test_refresh_proofs_with_nothing_due_runs_nothing(claims_project: ClaimsProject) -> None:
    run("burnin", "--project", str(claims_project.path), "-q")
    result = run("refresh-proofs", "--project", str(claims_project.path))
    assert result.exit_code == 0
    assert "nothing to refresh" in result.output


def test_certify_target_option_and_json(claims_project: ClaimsProject) -> None:
    result = run("certify", "--project", str(claims_project.path), "--target", "beta", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["claims"] == ["beta"] and document["target"] == "beta"
    assert document["all_supported"] is True and document["exit_code"] == 0
    assert [item["status"] for item in document["statuses"]] == ["SUPPORTED"]
    assert claims_project.artifacts() == ["_run_manifest.json", "beta.json"]


def test_certify_of_an_unknown_target_is_a_usage_error(claims_project: ClaimsProject) -> None:
    result = run("certify", "--project", str(claims_project.path), "--target", "gamma")
    assert result.exit_code == 2
    assert "unknown claim 'gamma'" in result.output
    assert run("certify", "--project", str(claims_project.path)).exit_code == 2


def test_certify_exits_1_when_its_claim_fails(claims_project: ClaimsProject) -> None:
    claims_project.write("engine/core.py", "def answer():\n    return 41\n")
    result = run("certify", "--project", str(claims_project.path), "--target", "alpha", "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["pytest_exit_code"] == 1
    assert document["statuses"][0]["status"] == "FAILING"


def test_burnin_suite_runs_the_suites_claims(claims_project: ClaimsProject) -> None:
    registry = claims_project.path / "proof_packs" / "claims.toml"
    registry.write_text(registry.read_text() + '\n[suites]\nquick = ["alpha"]\n')
    result = run("burnin", "--project", str(claims_project.path), "--suite", "quick", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["suite"] == "quick" and document["claims"] == ["alpha"]
    assert claims_project.artifacts() == ["_run_manifest.json", "alpha.json"]


def test_refresh_proofs_suite_all_json(claims_project: ClaimsProject) -> None:
    result = run(
        "refresh-proofs", "--project", str(claims_project.path), "--suite", "all", "--json"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["refreshed"] == ["alpha", "beta"]
    assert {item["status"] for item in document["statuses"]} == {"SUPPORTED"}
    again = json.loads(
        run("refresh-proofs", "--project", str(claims_project.path), "--json").stdout
    )
    assert again["refreshed"] == [] and again["exit_code"] == 0
