"""Claims: the registry of required claims, claim artifacts, and their status.

A claim artifact (``.codex-oss/claims/<claim>.json``) records that the tests backing one claim
passed on a given source tree. ``evaluate_claim`` turns an artifact, the registry entry and the
hashes of the code on disk into SUPPORTED / STALE / FAILING / MISSING; it is pure, so the
rules are tested without files. Reading and atomic writing sit at the bottom of the module.

Only the standard library and two stdlib-only helpers (``bridge.source_hash``,
``runtime.atomic``) are imported: ``codex-oss claim-status`` must answer in well under a
second with a thousand artifacts present.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from bridge.tree_hashes import DEFAULT_TREES, combined_hash, tree_hashes
from runtime.atomic import atomic_write_text

ARTIFACT_SCHEMA = "opencode_claim_artifact.v1"
MANIFEST_SCHEMA = "opencode_claim_run.v1"
MANIFEST_NAME = "_run_manifest.json"
DEFAULT_CLAIMS_DIR = Path(".codex-oss/claims")
DEFAULT_REGISTRY = Path("proof_packs/claims.toml")
DEFAULT_MAX_AGE = timedelta(days=7)

# File-name safe, so a claim name is also its artifact's file name.
CLAIM_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

VERDICT_SUPPORTED = "supported"
VERDICT_FAILING = "failing"
PASSED = "passed"


class ClaimError(ValueError):
    """A registry, marker, duration or artifact that cannot be used; the message names it."""


class Status(StrEnum):
    """What ``claim-status`` says about one claim."""

    SUPPORTED = "SUPPORTED"
    STALE = "STALE"
    FAILING = "FAILING"
    MISSING = "MISSING"


# ---------------------------------------------------------------------------------------------
# The registry of claims


@dataclass(frozen=True)
class ClaimSpec:
    """One claim the project makes: its name, what it means, and the code it depends on."""

    name: str
    description: str
    depends_on: tuple[str, ...] = DEFAULT_TREES
    required: bool = True


@dataclass(frozen=True)
class Registry:
    """All claims of a project, by name (``proof_packs/claims.toml``)."""

    claims: Mapping[str, ClaimSpec] = field(default_factory=dict)
    suites: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def trees(self) -> tuple[str, ...]:
        """Every source tree some claim depends on, plus the default trees."""
        found = set(DEFAULT_TREES)
        for spec in self.claims.values():
            found.update(spec.depends_on)
        return tuple(sorted(found))

    def select(self, target: str) -> list[str]:
        """Claim names a target names: claims and suites, comma-separated; ``all``."""
        names: list[str] = []
        for part in (piece.strip() for piece in target.split(",")):
            if not part:
                continue
            if part == "all":
                names.extend(self.claims)
            elif part in self.claims:
                names.append(part)
            elif part in self.suites:
                names.extend(self.suites[part])
            else:
                known = ", ".join(sorted(self.claims)) or "(none registered)"
                suites = ", ".join(sorted(self.suites)) or "(none)"
                raise ClaimError(
                    f"--opencode-certify: unknown claim {part!r}; known: {known}; suites: {suites}"
                )
        if not names:
            raise ClaimError("--opencode-certify: name at least one claim (or 'all')")
        return sorted(set(names))


def parse_registry(data: Mapping[str, Any], source: str = "claims.toml") -> Registry:
    """Validate the parsed TOML of a registry; errors name the file and the field."""
    unknown_top = set(data) - {"claims", "suites"}
    if unknown_top:
        raise ClaimError(f"{source}: unknown top-level key(s) {sorted(unknown_top)}")
    table = data.get("claims", {})
    if not isinstance(table, Mapping):
        raise ClaimError(f"{source}: [claims] must be a table of claim tables")
    claims: dict[str, ClaimSpec] = {}
    for name, entry in table.items():
        where = f"{source}: claims.{name}"
        check_claim_name(name, where)
        if not isinstance(entry, Mapping):
            raise ClaimError(f"{where} must be a table")
        unknown = set(entry) - {"description", "depends_on", "required"}
        if unknown:
            raise ClaimError(f"{where}: unknown key(s) {sorted(unknown)}")
        description = entry.get("description")
        if not isinstance(description, str) or not description.strip():
            raise ClaimError(f"{where}.description must be a non-empty string")
        depends_on = entry.get("depends_on", list(DEFAULT_TREES))
        if (
            not isinstance(depends_on, list)
            or not depends_on
            or not all(isinstance(tree, str) and _is_tree_name(tree) for tree in depends_on)
        ):
            raise ClaimError(
                f"{where}.depends_on must be a non-empty list of top-level folder names"
            )
        required = entry.get("required", True)
        if not isinstance(required, bool):
            raise ClaimError(f"{where}.required must be true or false")
        claims[name] = ClaimSpec(
            name, description.strip(), tuple(sorted(set(depends_on))), required
        )
    return Registry(claims, _parse_suites(data.get("suites", {}), claims, source))


def _parse_suites(
    table: Any, claims: Mapping[str, ClaimSpec], source: str
) -> dict[str, tuple[str, ...]]:
    """``[suites]``: suite name -> the claims it runs (each a registered claim)."""
    if not isinstance(table, Mapping):
        raise ClaimError(f"{source}: [suites] must map suite names to lists of claim names")
    suites: dict[str, tuple[str, ...]] = {}
    for name, members in table.items():
        where = f"{source}: suites.{name}"
        if name == "all" or name in claims:
            raise ClaimError(f"{where}: a suite may not be named 'all' or like a claim")
        if not isinstance(members, list) or not members:
            raise ClaimError(f"{where} must be a non-empty list of claim names")
        unknown = [member for member in members if member not in claims]
        if unknown:
            raise ClaimError(f"{where}: unknown claim(s) {unknown}; known: {sorted(claims)}")
        suites[name] = tuple(members)
    return suites


def check_claim_name(name: object, where: str) -> str:
    """Return ``name`` if it is a valid claim name, else raise naming ``where``."""
    if not isinstance(name, str) or not CLAIM_NAME.match(name):
        raise ClaimError(
            f"{where}: claim name {name!r} must match {CLAIM_NAME.pattern} "
            "(lower case, digits, '.', '_' or '-')"
        )
    return name


def _is_tree_name(tree: str) -> bool:
    return bool(tree) and "/" not in tree and "\\" not in tree and tree not in (".", "..")


def _is_relative_file(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and "\\" not in path and ".." not in parts


# ---------------------------------------------------------------------------------------------
# Verdicts and artifacts


@dataclass(frozen=True)
class TestOutcome:
    """How one test backing a claim ended (``passed``, ``failed``, ``error``, ``skipped``,
    ``xfailed``, ``xpassed``), and how long its setup, call and teardown took together."""

    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    outcome: str
    duration_s: float
    detail: str = ""


def claim_verdict(tests: Sequence[TestOutcome]) -> tuple[str, str]:
    """``(verdict, reason)``: supported only if every backing test passed and none skipped."""
    if not tests:
        return VERDICT_FAILING, "no test backs this claim"
    bad = [test for test in tests if test.outcome != PASSED]
    if not bad:
        return VERDICT_SUPPORTED, f"all {len(tests)} backing test(s) passed"
    counts = Counter(test.outcome for test in bad)
    summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items()))
    return VERDICT_FAILING, f"{summary} of {len(tests)}: first {bad[0].nodeid}"


def build_artifact(
    claim: str,
    tests: Sequence[TestOutcome],
    *,
    depends_on: Iterable[str],
    source_hashes: Mapping[str, str],
    when: datetime,
    run_id: str,
    git_commit: str | None,
    python_version: str,
    pytest_version: str,
    max_age_seconds: float | None = None,
) -> dict[str, Any]:
    """The JSON-ready artifact for one claim (pure: every input is passed in)."""
    verdict, reason = claim_verdict(tests)
    trees = sorted(set(depends_on))
    return {
        "schema_version": ARTIFACT_SCHEMA,
        "claim": claim,
        "verdict": verdict,
        "reason": reason,
        "tests": [
            {
                "nodeid": test.nodeid,
                "outcome": test.outcome,
                "duration_s": round(test.duration_s, 6),
                **({"detail": test.detail} if test.detail else {}),
            }
            for test in sorted(tests, key=lambda test: test.nodeid)
        ],
        "when": when.astimezone(UTC).isoformat(),
        "run_id": run_id,
        "source_hash": combined_hash(source_hashes),
        "source_hashes": dict(sorted(source_hashes.items())),
        "depends_on": trees,
        "claim_source_hash": combined_hash(source_hashes, trees),
        "max_age_seconds": max_age_seconds,
        "git_commit": git_commit,
        "python_version": python_version,
        "pytest_version": pytest_version,
    }


def check_artifact(data: Any, expected_claim: str | None = None) -> dict[str, Any]:
    """Return ``data`` if it has the fields status evaluation relies on, else raise."""
    if not isinstance(data, dict):
        raise ClaimError("artifact is not a JSON object")
    if data.get("schema_version") != ARTIFACT_SCHEMA:
        raise ClaimError(f"schema_version is {data.get('schema_version')!r}, not {ARTIFACT_SCHEMA}")
    claim = data.get("claim")
    if expected_claim is not None and claim != expected_claim:
        raise ClaimError(f"claim is {claim!r} but the file is named for {expected_claim!r}")
    if data.get("verdict") not in (VERDICT_SUPPORTED, VERDICT_FAILING):
        raise ClaimError(f"verdict {data.get('verdict')!r} is not supported|failing")
    if not isinstance(data.get("source_hashes"), dict):
        raise ClaimError("source_hashes is missing")
    depends_on = data.get("depends_on")
    if not isinstance(depends_on, list) or not all(
        isinstance(tree, str) and _is_tree_name(tree) for tree in depends_on
    ):
        raise ClaimError("depends_on must be a list of top-level folder names")
    if not isinstance(data.get("tests"), list):
        raise ClaimError("tests is missing")
    proof_files = data.setdefault("proof_files", {})
    if not isinstance(proof_files, dict) or not all(
        isinstance(path, str) and _is_relative_file(path) for path in proof_files
    ):
        raise ClaimError("proof_files must map relative paths inside the project to hashes")
    _parse_when(data.get("when"))
    return data


def _parse_when(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ClaimError("when is missing")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise ClaimError(f"when {value!r} is not an ISO 8601 time") from error
    if moment.tzinfo is None:
        raise ClaimError(f"when {value!r} has no time zone")
    return moment


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"30m"``, ``"24h"``, ``"7d"``, ``"2w"`` -> timedelta."""
    match = _DURATION.match(text)
    if match is None:
        raise ClaimError(f"max age {text!r} must be a number and a unit s|m|h|d|w, e.g. '24h'")
    seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if seconds <= 0:
        raise ClaimError(f"max age {text!r} must be positive")
    return timedelta(seconds=seconds)


# ---------------------------------------------------------------------------------------------
# Status


@dataclass(frozen=True)
class ClaimStatus:
    """The status of one claim and why."""

    claim: str
    status: Status
    why: str
    required: bool
    when: str | None = None
    tests: int = 0
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``claim-status --json``."""
        data = asdict(self)
        data["status"] = self.status.value
        return data


def evaluate_claim(
    claim: str,
    spec: ClaimSpec | None,
    artifact: Mapping[str, Any] | None,
    current_hashes: Mapping[str, str],
    *,
    now: datetime,
    max_age: timedelta | None = None,
    artifact_error: str | None = None,
    file_hashes: Mapping[str, str | None] | None = None,
) -> ClaimStatus:
    """Status of one claim from its registry entry, artifact and the code on disk (pure).

    ``max_age`` overrides the age the artifact was proven with (``--opencode-max-age``), which
    in turn overrides :data:`DEFAULT_MAX_AGE`. A failing verdict stays FAILING whatever the
    code does since: only a new run can clear it. ``file_hashes`` holds the current SHA-256
    of the test modules the artifact lists under ``proof_files`` (None for a deleted one).
    """
    required = spec.required if spec is not None else False
    description = spec.description if spec is not None else ""
    if artifact is None:
        why = f"artifact unreadable: {artifact_error}" if artifact_error else "no artifact"
        why += "; run the burn-in (codex-oss burnin)"
        return ClaimStatus(claim, Status.MISSING, why, required, description=description)
    when_text = str(artifact["when"])
    tests = len(artifact["tests"])

    def status(state: Status, why: str) -> ClaimStatus:
        return ClaimStatus(claim, state, why, required, when_text, tests, description)

    if artifact["verdict"] != VERDICT_SUPPORTED:
        return status(Status.FAILING, str(artifact.get("reason") or "verdict failing"))
    trees = spec.depends_on if spec is not None else tuple(artifact["depends_on"])
    proven = artifact["source_hashes"]
    if changed := [tree for tree in trees if proven.get(tree) != current_hashes.get(tree)]:
        names = ", ".join(f"{tree}/" for tree in changed)
        return status(Status.STALE, f"{names} changed since it was proven")
    files = file_hashes or {}
    edited = [path for path, sha in artifact["proof_files"].items() if files.get(path) != sha]
    if edited:
        why = f"proof module {', '.join(sorted(edited))} changed since it was proven"
        return status(Status.STALE, why)
    limit = max_age or _artifact_max_age(artifact) or DEFAULT_MAX_AGE
    age = now - _parse_when(when_text)
    if age > limit:
        why = f"proven {_human(age)} ago, older than the max age {_human(limit)}"
        return status(Status.STALE, why)
    why = f"{tests} test(s) passed {_human(max(age, timedelta(0)))} ago"
    return status(Status.SUPPORTED, why)


def evaluate_all(
    registry: Registry,
    artifacts: Mapping[str, Mapping[str, Any] | str],
    current_hashes: Mapping[str, str],
    *,
    now: datetime,
    max_age: timedelta | None = None,
    file_hashes: Mapping[str, str | None] | None = None,
) -> list[ClaimStatus]:
    """Status of every registered claim and of every artifact not in the registry (pure).

    ``artifacts`` maps a claim name to its artifact, or to an error text when it could not be
    read. Registered claims come first in registry order, then unregistered ones by name.
    """
    names = list(registry.claims) + sorted(set(artifacts) - set(registry.claims))
    results = []
    for name in names:
        found = artifacts.get(name)
        results.append(
            evaluate_claim(
                name,
                registry.claims.get(name),
                found if isinstance(found, Mapping) else None,
                current_hashes,
                now=now,
                max_age=max_age,
                artifact_error=found if isinstance(found, str) else None,
                file_hashes=file_hashes,
            )
        )
    return results


def all_required_supported(statuses: Iterable[ClaimStatus]) -> bool:
    """True when every required claim is SUPPORTED (the exit-0 rule of ``claim-status``)."""
    return all(item.status is Status.SUPPORTED for item in statuses if item.required)


def _artifact_max_age(artifact: Mapping[str, Any]) -> timedelta | None:
    seconds = artifact.get("max_age_seconds")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds > 0:
        return timedelta(seconds=seconds)
    return None


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# ---------------------------------------------------------------------------------------------
# Files: reading, atomic writing, and the status of a project on disk


def load_registry(path: Path) -> Registry | None:
    """The registry at ``path``, or None when the project has none."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ClaimError(f"{path}: not valid TOML: {error}") from error
    return parse_registry(data, str(path))


def read_artifacts(claims_dir: Path) -> dict[str, dict[str, Any] | str]:
    """Every artifact in ``claims_dir`` by claim name; an unreadable one maps to its error."""
    found: dict[str, dict[str, Any] | str] = {}
    try:
        entries = list(os.scandir(claims_dir))
    except FileNotFoundError:
        return found
    for entry in entries:
        name = entry.name
        if not name.endswith(".json") or name.startswith(("_", ".")):
            continue
        claim = name[: -len(".json")]
        try:
            with open(entry.path, "rb") as handle:
                found[claim] = check_artifact(json.loads(handle.read()), claim)
        except (OSError, ValueError) as error:  # ClaimError and JSONDecodeError are ValueErrors
            found[claim] = f"{name}: {error}"
    return found


def write_artifact(claims_dir: Path, artifact: Mapping[str, Any]) -> Path:
    """Atomically write one artifact as ``<claims_dir>/<claim>.json``; return its path."""
    claim = check_claim_name(artifact.get("claim"), "artifact")
    return write_json(claims_dir / f"{claim}.json", artifact)


def write_manifest(claims_dir: Path, manifest: Mapping[str, Any]) -> Path:
    """Atomically write the run manifest beside the artifacts."""
    return write_json(claims_dir / MANIFEST_NAME, manifest)


def write_json(path: Path, data: Mapping[str, Any]) -> Path:
    """Atomically write ``data`` as indented JSON with sorted keys; return ``path``."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def project_status(
    root: Path,
    *,
    claims_dir: Path | None = None,
    registry_path: Path | None = None,
    max_age: timedelta | None = None,
    now: datetime | None = None,
) -> list[ClaimStatus]:
    """Status of every claim of the project at ``root`` (hashes its code once)."""
    registry = load_registry(root / (registry_path or DEFAULT_REGISTRY)) or Registry()
    artifacts = read_artifacts(root / (claims_dir or DEFAULT_CLAIMS_DIR))
    trees = set(registry.trees)
    files: set[str] = set()
    for artifact in artifacts.values():
        if isinstance(artifact, dict):
            trees.update(artifact["depends_on"])
            files.update(artifact["proof_files"])
    return evaluate_all(
        registry,
        artifacts,
        tree_hashes(root, trees),
        now=now or datetime.now(UTC),
        max_age=max_age,
        file_hashes={path: file_sha256(root / path) for path in files},
    )


def file_sha256(path: Path) -> str | None:
    """Hex SHA-256 of a file's bytes, or None when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
