"""The claim recorder: what one pytest session learns about claims, and the artifacts it writes.

The plugin's hooks feed it: which tests carry which ``claim`` marker (collection), how each
test ended (reports), and, under pytest-xdist, what each worker collected. At the end of the
session the controller turns that into one artifact per claim plus a run manifest. The pytest
objects stay in ``plugin.py``; this module sees plain values, so it is tested directly.
"""

from __future__ import annotations

import platform
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bridge.claims import (
    MANIFEST_SCHEMA,
    VERDICT_SUPPORTED,
    ClaimError,
    Registry,
    TestOutcome,
    build_artifact,
    check_claim_name,
    claim_verdict,
    file_sha256,
    write_artifact,
    write_manifest,
)
from bridge.tree_hashes import DEFAULT_TREES, git_commit, tree_hashes

USER_PROPERTY = "opencode_claim"
# A test may name a data file its proof relies on (a canary, a fixture) with
# ``record_property(PROOF_FILE_PROPERTY, "canaries/x/script.json")``; editing it stales the claim.
PROOF_FILE_PROPERTY = "opencode_proof_file"

# Worst outcome wins when a test's setup, call and teardown reports are folded together.
_RANK = {"passed": 0, "xpassed": 1, "xfailed": 2, "skipped": 3, "failed": 4, "error": 5}


@dataclass(frozen=True)
class PhaseReport:
    """The parts of a pytest ``TestReport`` the recorder needs."""

    nodeid: str
    when: str
    outcome: str
    duration: float
    claims: tuple[str, ...]
    wasxfail: bool = False
    detail: str = ""
    proof_files: tuple[str, ...] = ()


@dataclass
class _TestResult:
    outcome: str
    duration: float
    detail: str
    claims: tuple[str, ...]
    proof_files: set[str]


def phase_outcome(report: PhaseReport) -> str:
    """The outcome one phase contributes (setup/teardown failures are errors)."""
    if report.outcome == "failed":
        return "failed" if report.when == "call" else "error"
    if report.outcome == "skipped":
        return "xfailed" if report.wasxfail else "skipped"
    if report.wasxfail:
        return "xpassed"
    return "passed"


def claim_names(marker_args: Sequence[tuple[tuple[Any, ...], Mapping[str, Any]]], nodeid: str):
    """Claim names from the ``(args, kwargs)`` of each ``claim`` marker on a test."""
    names: list[str] = []
    for args, kwargs in marker_args:
        if len(args) != 1 or kwargs:
            raise ClaimError(f"{nodeid}: use @pytest.mark.claim('name') with exactly one name")
        names.append(check_claim_name(args[0], f"{nodeid}: @pytest.mark.claim"))
    return tuple(dict.fromkeys(names))


@dataclass
class ClaimRecorder:
    """Collects claim evidence during a session and writes artifacts at its end."""

    root: Path
    claims_dir: Path
    registry: Registry | None
    writes: bool
    mode: str
    max_age_seconds: float | None = None
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    source_hashes: dict[str, str] = field(default_factory=dict)
    # claim -> nodeids that carry it after certify selection, before -k/-m deselection
    expected: dict[str, set[str]] = field(default_factory=dict)
    results: dict[str, _TestResult] = field(default_factory=dict)
    written: list[dict[str, Any]] = field(default_factory=list)
    withheld: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        """Hash the code under test once, at the start (the code that gets imported)."""
        self.source_hashes = tree_hashes(self.root, self._trees())

    def check_known(self, claims: Iterable[str], nodeid: str) -> None:
        """Refuse a claim the registry does not name (a typo would otherwise prove nothing)."""
        if self.registry is None:
            return
        for claim in claims:
            if claim not in self.registry.claims:
                known = ", ".join(sorted(self.registry.claims))
                raise ClaimError(
                    f"{nodeid}: claim {claim!r} is not in proof_packs/claims.toml; known: {known}"
                )

    def note_expected(self, tests: Iterable[tuple[str, tuple[str, ...]]]) -> None:
        """Record the tests that back each claim before any -k/-m deselection."""
        for nodeid, claims in tests:
            for claim in claims:
                self.expected.setdefault(claim, set()).add(nodeid)

    def merge_expected(self, data: Mapping[str, Iterable[str]]) -> None:
        """Merge what a pytest-xdist worker collected (each worker collects the same tests)."""
        for claim, nodeids in data.items():
            self.expected.setdefault(claim, set()).update(nodeids)

    def expected_json(self) -> dict[str, list[str]]:
        """The expectations in a form a worker can send to the controller."""
        return {claim: sorted(nodeids) for claim, nodeids in self.expected.items()}

    def record(self, report: PhaseReport) -> None:
        """Fold one phase report into its test's result (only tests that carry a claim)."""
        if not report.claims:
            return
        outcome = phase_outcome(report)
        result = self.results.get(report.nodeid)
        if result is None:
            self.results[report.nodeid] = _TestResult(
                outcome, report.duration, report.detail, report.claims, set(report.proof_files)
            )
            return
        if _RANK[outcome] > _RANK[result.outcome]:
            result.outcome, result.detail = outcome, report.detail
        result.duration += report.duration
        result.proof_files.update(report.proof_files)

    def outcomes(self) -> dict[str, list[TestOutcome]]:
        """Each claim's reported tests."""
        by_claim: dict[str, list[TestOutcome]] = {}
        for nodeid, result in self.results.items():
            for claim in result.claims:
                by_claim.setdefault(claim, []).append(
                    TestOutcome(nodeid, result.outcome, result.duration, result.detail)
                )
        return by_claim

    def finish(self, *, python_version: str, pytest_version: str) -> None:
        """Write one artifact per claim that can be decided, and the run manifest.

        A claim whose backing tests did not all run (deselected with -k/-m, or the session
        stopped early) is decided only if a test failed: a subset that passed proves nothing.
        """
        if not self.writes:
            return
        when = datetime.now(UTC)
        commit = git_commit(self.root)
        by_claim = self.outcomes()
        for claim in sorted(set(by_claim) | set(self.expected)):
            tests = by_claim.get(claim, [])
            missing = sorted(self.expected.get(claim, set()) - {test.nodeid for test in tests})
            verdict, _ = claim_verdict(tests)
            if missing and (verdict == VERDICT_SUPPORTED or not tests):
                self.withheld[claim] = (
                    f"{len(missing)} of {len(missing) + len(tests)} backing test(s) did not run"
                )
                continue
            artifact = build_artifact(
                claim,
                tests,
                depends_on=self._depends_on(claim),
                source_hashes=self.source_hashes,
                when=when,
                run_id=self.run_id,
                git_commit=commit,
                python_version=python_version,
                pytest_version=pytest_version,
                max_age_seconds=self.max_age_seconds,
            )
            artifact["proof_files"] = self._proof_files(tests)
            write_artifact(self.claims_dir, artifact)
            self.written.append(artifact)
        write_manifest(
            self.claims_dir,
            self._manifest(when, commit, python_version, pytest_version),
        )

    def unproven_required(self) -> list[str]:
        """Required registry claims that no test in this session backed."""
        if self.registry is None:
            return []
        backed = set(self.expected) | set(self.outcomes())
        return [
            name
            for name, spec in self.registry.claims.items()
            if spec.required and name not in backed
        ]

    def _trees(self) -> tuple[str, ...]:
        return self.registry.trees if self.registry is not None else DEFAULT_TREES

    def _depends_on(self, claim: str) -> tuple[str, ...]:
        if self.registry is not None and claim in self.registry.claims:
            return self.registry.claims[claim].depends_on
        return DEFAULT_TREES

    def _proof_files(self, tests: Sequence[TestOutcome]) -> dict[str, str]:
        """``{relative path: sha256}`` of what the claim's proof reads besides the code trees:
        the test modules, their conftest files, their syrupy snapshot files, and data files
        the tests named."""
        wanted: set[str] = set()
        for test in tests:
            module = test.nodeid.split("::", 1)[0]
            wanted.add(module)
            folder, _, name = module.rpartition("/")
            snapshot = f"{folder}/__snapshots__/{name.removesuffix('.py')}.ambr".lstrip("/")
            if (self.root / snapshot).is_file():
                wanted.add(snapshot)
            wanted.update(self._conftests(folder))
            wanted.update(self.results[test.nodeid].proof_files)
        files: dict[str, str] = {}
        for relative in sorted(wanted):
            digest = file_sha256(self.root / relative)
            if digest is not None:
                files[relative] = digest
        return files

    def _conftests(self, folder: str) -> list[str]:
        """``conftest.py`` files from ``folder`` up to the root, as relative paths."""
        found = []
        parts = folder.split("/") if folder else []
        for depth in range(len(parts), -1, -1):
            relative = "/".join([*parts[:depth], "conftest.py"])
            if (self.root / relative).is_file():
                found.append(relative)
        return found

    def _manifest(
        self, when: datetime, commit: str | None, python_version: str, pytest_version: str
    ) -> dict[str, Any]:
        counts = Counter(result.outcome for result in self.results.values())
        return {
            "schema_version": MANIFEST_SCHEMA,
            "run_id": self.run_id,
            "mode": self.mode,
            "started": self.started.isoformat(),
            "finished": when.isoformat(),
            "source_hashes": self.source_hashes,
            "git_commit": commit,
            "python_version": python_version,
            "pytest_version": pytest_version,
            "platform": platform.platform(),
            "tests": dict(counts),
            "claims": {artifact["claim"]: artifact["verdict"] for artifact in self.written},
            "withheld": dict(sorted(self.withheld.items())),
            "unproven_required": self.unproven_required(),
        }
