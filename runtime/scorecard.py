"""Capability scorecards: how each profile has done, per tier, in this project's missions.

A scorecard is a fold of RunRecords by profile (pure: :func:`fold_record`), kept under
``.codex-oss/scorecards/<profile>.json`` and updated as each mission closes (not fsynced: after a
power cut ``scorecard --rebuild`` refolds it from the logs). It counts missions
by status, the model's COMPLETE claims and how many the runtime upheld (COMPLETE precision),
the burn-in's canary replays of the profile's recorded missions (canary precision),
repairs, invalid actions, denials, fallbacks and delegation value. Runs closed for reasons
that are not the model's doing (a client that left, a process that died) are not counted.

Admission reads it (:func:`check_earned`): once a profile has run ``MIN_MISSIONS`` missions
at a tier, it keeps that tier only while its COMPLETE precision stays at ``MIN_PRECISION`` or
above and less than ``MAX_FAILED_SHARE`` of its missions there ended FAILED. A profile with
too few missions has not been judged and is admitted. Delegation value is shown, not gated on:
a cheap lookup is poor value without being a capability failure.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from runtime.atomic import atomic_write_text
from runtime.closure import NOT_THE_MODELS_DOING
from runtime.eventlog import RUNS_DIR, EventLogError, check_plain_name, load_events
from runtime.record import RunRecord, reduce
from runtime.registry import AdmissionError, Resolution
from runtime.usage import mission_usage

SCORECARDS_DIR = Path(".codex-oss") / "scorecards"
MIN_MISSIONS = 5
MIN_PRECISION = 0.5
MAX_FAILED_SHARE = 0.8


class TierScore(BaseModel):
    """One profile's record at one tier."""

    model_config = ConfigDict(extra="forbid")

    missions: int = 0
    by_status: dict[str, int] = Field(default_factory=dict)
    model_complete: int = 0  # the model closed its report COMPLETE
    complete_upheld: int = 0  # ... and the runtime's validation kept it COMPLETE
    repairs: int = 0
    invalid_actions: int = 0
    denials: int = 0
    fallbacks: int = 0
    delegation: dict[str, int] = Field(default_factory=dict)

    @property
    def complete_precision(self) -> float | None:
        """Share of the model's COMPLETE claims the runtime upheld (None before any)."""
        return self.complete_upheld / self.model_complete if self.model_complete else None


class Scorecard(BaseModel):
    """A profile's scorecard: its tiers, and the runs already folded in (so a fold is once)."""

    model_config = ConfigDict(extra="forbid")

    profile: str
    tiers: dict[str, TierScore] = Field(default_factory=dict)
    runs: list[str] = Field(default_factory=list)
    # The burn-in's canary replays of this profile's recorded missions: name -> whether the
    # current runtime still reaches the status GPT reviewed (not a run log: kept on rebuild).
    canaries: dict[str, bool] = Field(default_factory=dict)

    @property
    def canary_precision(self) -> float | None:
        """Share of this profile's canaries whose replay reaches the reviewed status."""
        return sum(self.canaries.values()) / len(self.canaries) if self.canaries else None

    def summary(self) -> dict[str, Any]:
        """The scorecard as ``codex-oss scorecard --json`` shows it (precision included)."""
        return {
            "profile": self.profile,
            "runs": len(self.runs),
            "canaries": dict(sorted(self.canaries.items())),
            "canary_precision": self.canary_precision,
            "tiers": {
                tier: {**score.model_dump(), "complete_precision": score.complete_precision}
                for tier, score in sorted(self.tiers.items())
            },
        }


def fold_record(card: Scorecard, record: RunRecord) -> Scorecard:
    """``card`` with the closed run ``record`` counted (unchanged if already counted)."""
    if record.run_id is None or record.run_id in card.runs or record.finalized_at is None:
        return card
    if record.closure_reason in NOT_THE_MODELS_DOING:
        return card
    tier = str((record.mission or {}).get("tier") or "?")
    score = card.tiers.get(tier, TierScore()).model_copy(deep=True)
    score.missions += 1
    score.by_status[record.status] = score.by_status.get(record.status, 0) + 1
    proposed = (record.last_report_proposed or {}).get("status")
    if isinstance(proposed, str) and proposed.upper() == "COMPLETE":
        score.model_complete += 1
        report = record.report.report if record.report else {}
        upheld = report.get("investigation_status", report.get("status"))
        score.complete_upheld += upheld == "COMPLETE"
    score.repairs += sum(1 for action in record.actions if action.repaired)
    score.invalid_actions += sum(1 for action in record.actions if not action.valid)
    score.denials += len(record.denials)
    score.fallbacks += record.model_calls.fallbacks
    value = mission_usage(record).delegation_value
    score.delegation[value] = score.delegation.get(value, 0) + 1
    return card.model_copy(
        update={"tiers": {**card.tiers, tier: score}, "runs": [*card.runs, record.run_id]}
    )


def check_earned(project_root: Path, resolution: Resolution) -> None:
    """Raise AdmissionError when the scorecard says the profile lost the alias's tier."""
    if resolution.kind != "mission" or resolution.tier is None:
        return
    card = read_scorecard(project_root, resolution.primary.name)
    score = card.tiers.get(resolution.tier.value) if card else None
    if score is None or score.missions < MIN_MISSIONS:
        return
    precision = score.complete_precision
    failed = score.by_status.get("FAILED", 0) / score.missions
    why = None
    if precision is not None and precision < MIN_PRECISION:
        why = (
            f"the runtime upheld {score.complete_upheld} of its {score.model_complete} "
            f"COMPLETE reports (precision {precision:.2f} < {MIN_PRECISION})"
        )
    elif failed >= MAX_FAILED_SHARE:
        why = f"{failed:.0%} of its {score.missions} missions there ended FAILED"
    if why:
        raise AdmissionError(
            "tier_not_earned",
            f"profile {resolution.primary.name!r} has not earned tier {resolution.tier.value} "
            f"in this project: {why}. Use a lower tier or another profile; `codex-oss "
            f"scorecard --reset {resolution.primary.name}` clears its record.",
        )


def record_mission(project_root: Path, record: RunRecord) -> None:
    """Fold a closed run into its profile's scorecard on disk (safe across processes)."""
    if profile := (record.route or {}).get("profile"):
        _update(project_root, profile, lambda card: fold_record(card, record))


def record_canary(project_root: Path, profile: str, canary: str, matched: bool) -> None:
    """Note a burn-in replay of ``canary`` on ``profile``'s scorecard (the latest verdict)."""

    def note(card: Scorecard) -> Scorecard:
        return card.model_copy(update={"canaries": {**card.canaries, canary: matched}})

    _update(project_root, profile, note, durable=True)


def _update(
    project_root: Path,
    profile: str,
    change: Callable[[Scorecard], Scorecard],
    durable: bool = False,
) -> None:
    """Write ``change(card)`` as the profile's card unless it is the card itself, holding the
    flock on ``<card>.lock`` that every writer of the card takes (filelock's lock on that file,
    without its 140 microseconds of bookkeeping)."""
    path = scorecard_path(project_root, profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        card = read_scorecard(project_root, profile) or Scorecard(profile=profile)
        if (updated := change(card)) is not card:
            atomic_write_text(path, updated.model_dump_json(indent=1) + "\n", durable=durable)
    finally:
        os.close(fd)  # which releases the flock


def rebuild_scorecards(project_root: Path) -> dict[str, Scorecard]:
    """Every profile's scorecard folded afresh from the project's run logs, and written
    (canary verdicts, which no run log holds, are kept)."""
    cards: dict[str, Scorecard] = {
        card.profile: Scorecard(profile=card.profile, canaries=card.canaries)
        for card in read_scorecards(project_root)
        if card.canaries
    }
    for record in closed_records(project_root):
        if profile := (record.route or {}).get("profile"):
            cards[profile] = fold_record(cards.get(profile) or Scorecard(profile=profile), record)
    for stale in (Path(project_root) / SCORECARDS_DIR).glob("*.json"):
        if stale.stem not in cards:
            stale.unlink()
    for profile, card in cards.items():
        _update(project_root, profile, lambda _, card=card: card)
    return cards


def read_scorecard(project_root: Path, profile: str) -> Scorecard | None:
    """The profile's scorecard, or None when it has none (or it is unreadable)."""
    try:
        return Scorecard.model_validate_json(scorecard_path(project_root, profile).read_bytes())
    except (OSError, ValueError):
        return None


def read_scorecards(project_root: Path) -> list[Scorecard]:
    """Every scorecard on disk, by profile name."""
    names = sorted(p.stem for p in (Path(project_root) / SCORECARDS_DIR).glob("*.json"))
    return [card for name in names if (card := read_scorecard(project_root, name))]


def reset_scorecard(project_root: Path, profile: str) -> bool:
    """Forget a profile's record; True if there was one."""
    path = scorecard_path(project_root, profile)
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed


def scorecard_path(project_root: Path, profile: str) -> Path:
    """``<project>/.codex-oss/scorecards/<profile>.json`` (ValueError for a name that is not
    a plain profile name, so no input can reach outside that folder)."""
    return Path(project_root) / SCORECARDS_DIR / f"{check_plain_name(profile, 'profile')}.json"


def closed_records(project_root: Path) -> Iterable[RunRecord]:
    """The RunRecord of every finalized run of the project, oldest first."""
    for log_path in sorted((Path(project_root) / RUNS_DIR).glob("*/events.jsonl")):
        try:
            record = reduce(load_events(log_path))
        except (EventLogError, ValueError):
            continue  # a damaged log is audit-mission's business, not the scorecard's
        if record.finalized_at is not None:
            yield record
