"""Claims: registry validation, verdicts, status rules (pure), and artifact files."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.claims import (
    ClaimError,
    ClaimSpec,
    Registry,
    Status,
    TestOutcome,
    all_required_supported,
    atomic_write_text,
    build_artifact,
    claim_verdict,
    evaluate_all,
    evaluate_claim,
    parse_duration,
    parse_registry,
    read_artifacts,
    write_artifact,
)

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
HASHES = {"runtime": "sha256:r1", "bridge": "sha256:b1"}
SPEC = ClaimSpec("alpha", "alpha holds", ("runtime",))


def artifact(tests=None, *, when=NOW - timedelta(hours=1), hashes=HASHES, max_age=None):
    """An artifact proven on ``hashes`` at ``when``."""
    tests = tests if tests is not None else [TestOutcome("p/test_a.py::t", "passed", 0.1)]
    return build_artifact(
        "alpha",
        tests,
        depends_on=("runtime",),
        source_hashes=hashes,
        when=when,
        run_id="r",
        git_commit=None,
        python_version="3.11",
        pytest_version="9",
        max_age_seconds=max_age,
    ) | {"proof_files": {}}


def test_registry_reads_claims_with_defaults() -> None:
    registry = parse_registry({"claims": {"alpha": {"description": " holds "}}})
    spec = registry.claims["alpha"]
    assert (spec.description, spec.required) == ("holds", True)
    assert "runtime" in spec.depends_on


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"claim": {}}, "unknown top-level key"),
        ({"claims": {"Bad Name": {"description": "x"}}}, "claims.Bad Name: claim name"),
        ({"claims": {"a": {}}}, "claims.a.description must be a non-empty string"),
        ({"claims": {"a": {"description": "x", "depend_on": []}}}, "unknown key(s)"),
        ({"claims": {"a": {"description": "x", "depends_on": ["../etc"]}}}, "a.depends_on"),
        ({"claims": {"a": {"description": "x", "required": "yes"}}}, "a.required"),
    ],
)
def test_registry_errors_name_the_field(data: dict, message: str) -> None:
    with pytest.raises(ClaimError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_registry(data, "claims.toml")


def test_certify_target_selects_named_claims() -> None:
    registry = Registry({"a": SPEC, "b": SPEC})
    assert registry.select("b, a") == ["a", "b"]
    assert registry.select("all") == ["a", "b"]
    with pytest.raises(ClaimError, match="unknown claim 'c'"):
        registry.select("c")


def test_verdict_is_supported_only_when_every_test_passed() -> None:
    passed = TestOutcome("t1", "passed", 0.0)
    assert claim_verdict([passed])[0] == "supported"
    for outcome in ("failed", "error", "skipped", "xfailed", "xpassed"):
        verdict, reason = claim_verdict([passed, TestOutcome("t2", outcome, 0.0)])
        assert verdict == "failing"
        assert f"1 {outcome} of 2: first t2" in reason
    assert claim_verdict([]) == ("failing", "no test backs this claim")


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("24h", 86400), ("7d", 604800)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "soon", "5", "0h", "-1d", "3y"])
def test_parse_duration_refuses_bad_text(text: str) -> None:
    with pytest.raises(ClaimError, match="max age"):
        parse_duration(text)


def test_status_supported_when_code_unchanged_and_fresh() -> None:
    status = evaluate_claim("alpha", SPEC, artifact(), HASHES, now=NOW)
    assert status.status is Status.SUPPORTED
    assert status.why == "1 test(s) passed 1h ago"


def test_status_stale_when_a_dependency_tree_changed() -> None:
    current = {**HASHES, "runtime": "sha256:r2"}
    status = evaluate_claim("alpha", SPEC, artifact(), current, now=NOW)
    assert (status.status, status.why) == (Status.STALE, "runtime/ changed since it was proven")


def test_status_ignores_trees_the_claim_does_not_depend_on() -> None:
    current = {**HASHES, "bridge": "sha256:b2"}
    assert evaluate_claim("alpha", SPEC, artifact(), current, now=NOW).status is Status.SUPPORTED


def test_status_stale_when_older_than_max_age() -> None:
    old = artifact(when=NOW - timedelta(days=8))
    status = evaluate_claim("alpha", SPEC, old, HASHES, now=NOW)
    assert status.status is Status.STALE
    assert "older than the max age 7d" in status.why
    fresh_enough = evaluate_claim("alpha", SPEC, old, HASHES, now=NOW, max_age=timedelta(days=9))
    assert fresh_enough.status is Status.SUPPORTED


def test_status_uses_the_max_age_recorded_by_the_burnin() -> None:
    recorded = artifact(when=NOW - timedelta(hours=2), max_age=3600)
    assert evaluate_claim("alpha", SPEC, recorded, HASHES, now=NOW).status is Status.STALE


def test_status_stale_when_a_proof_file_changed() -> None:
    proven = artifact() | {"proof_files": {"proof_packs/test_a.py": "aa"}}
    same = evaluate_claim(
        "alpha", SPEC, proven, HASHES, now=NOW, file_hashes={"proof_packs/test_a.py": "aa"}
    )
    edited = evaluate_claim(
        "alpha", SPEC, proven, HASHES, now=NOW, file_hashes={"proof_packs/test_a.py": "bb"}
    )
    assert (same.status, edited.status) == (Status.SUPPORTED, Status.STALE)


def test_status_failing_when_verdict_failing_even_on_new_code() -> None:
    failed = artifact([TestOutcome("t", "failed", 0.0)])
    status = evaluate_claim("alpha", SPEC, failed, {"runtime": "sha256:new"}, now=NOW)
    assert status.status is Status.FAILING
    assert "1 failed of 1" in status.why


def test_status_missing_without_artifact_or_with_an_unreadable_one() -> None:
    assert evaluate_claim("alpha", SPEC, None, HASHES, now=NOW).status is Status.MISSING
    broken = evaluate_claim("alpha", SPEC, None, HASHES, now=NOW, artifact_error="bad JSON")
    assert broken.status is Status.MISSING
    assert "artifact unreadable: bad JSON" in broken.why


def test_only_required_claims_decide_the_exit() -> None:
    optional = ClaimSpec("beta", "beta", ("runtime",), required=False)
    registry = Registry({"alpha": SPEC, "beta": optional})
    statuses = evaluate_all(registry, {"alpha": artifact()}, HASHES, now=NOW)
    assert [(item.claim, item.status) for item in statuses] == [
        ("alpha", Status.SUPPORTED),
        ("beta", Status.MISSING),
    ]
    assert all_required_supported(statuses)
    assert not all_required_supported(evaluate_all(registry, {}, HASHES, now=NOW))


def test_artifacts_outside_the_registry_are_listed_as_optional() -> None:
    statuses = evaluate_all(Registry(), {"alpha": artifact()}, HASHES, now=NOW)
    assert [(item.claim, item.required) for item in statuses] == [("alpha", False)]


def test_read_artifacts_round_trips_and_reports_broken_files(tmp_path: Path) -> None:
    write_artifact(tmp_path, artifact())
    (tmp_path / "beta.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "gamma.json").write_text(json.dumps(artifact()), encoding="utf-8")
    (tmp_path / "_run_manifest.json").write_text("{}", encoding="utf-8")
    found = read_artifacts(tmp_path)
    assert found["alpha"]["verdict"] == "supported"
    assert isinstance(found["beta"], str) and found["beta"].startswith("beta.json:")
    assert "named for 'gamma'" in found["gamma"]
    assert set(found) == {"alpha", "beta", "gamma"}


def test_read_artifacts_refuses_paths_outside_the_project(tmp_path: Path) -> None:
    escaping = artifact() | {"depends_on": ["../.."]}
    (tmp_path / "alpha.json").write_text(json.dumps(escaping), encoding="utf-8")
    assert "depends_on" in read_artifacts(tmp_path)["alpha"]


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "claims" / "a.json"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text(encoding="utf-8") == "new"
    assert os.listdir(target.parent) == ["a.json"]


def test_atomic_write_keeps_the_old_file_when_the_rename_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "a.json"
    atomic_write_text(target, "old")

    def refuse(source: str, destination: str) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk went away"):
        atomic_write_text(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["a.json"]


def test_a_suite_names_claims_and_selects_them() -> None:
    data = {
        "claims": {"a": {"description": "a"}, "b": {"description": "b"}},
        "suites": {"quick": ["a"]},
    }
    registry = parse_registry(data, "claims.toml")
    assert registry.select("quick") == ["a"]
    assert registry.select("quick,b") == ["a", "b"]
    with pytest.raises(ClaimError, match=r"unknown claim 'slow'.*suites: quick"):
        registry.select("slow")


@pytest.mark.parametrize(
    ("suites", "message"),
    [
        ({"quick": ["c"]}, r"suites.quick: unknown claim\(s\) \['c'\]"),
        ({"quick": []}, "suites.quick must be a non-empty list"),
        ({"a": ["a"]}, "suites.a: a suite may not be named"),
        (["a"], r"\[suites\] must map suite names"),
    ],
)
def test_a_bad_suite_is_refused_naming_it(suites: object, message: str) -> None:
    data = {"claims": {"a": {"description": "a"}}, "suites": suites}
    with pytest.raises(ClaimError, match=message):
        parse_registry(data, "claims.toml")
