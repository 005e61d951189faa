"""The patch step the mission loop calls when the model's action is ``propose_patch``.

One call handles one proposal: record it (redacted), validate it, and for A5/A6 apply it in an
isolated worktree and run the mission's verification commands there. Events are appended
through ``append`` as they happen, so a crash leaves an honest log of how far the step got;
the outcome lists the events it appended (they must not be appended again). The project's
working tree, index and HEAD are never written: only ``.codex-oss/`` changes.

Statuses: A4 ends VALIDATED or REJECTED; A5/A6 end VERIFIED, VERIFICATION_FAILED, REJECTED,
ESCALATE or FAILED. Any status may be ESCALATE (critical path) or FAILED (the runtime itself
could not finish, e.g. no git HEAD), always with the reason.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import git

from runtime.actions import Action
from runtime.canonical import tagged_sha256
from runtime.events import (
    Event,
    PatchAppliedInIsolation,
    PatchIntentProposed,
    PatchValidated,
    Payload,
    RollbackRecorded,
    VerificationRan,
)
from runtime.loop import Journal, PatchDecision
from runtime.mission import MissionV1, Tier
from runtime.patches.intent import IntentError, parse_intent
from runtime.patches.review import (
    PacketInput,
    VerificationSummary,
    build_review_packet,
    render_markdown,
)
from runtime.patches.status import PatchStatus
from runtime.patches.validate import Validation, differing, run_git, validate_intent
from runtime.patches.verdict import NO_VERIFICATION_COMMANDS, verification_failures
from runtime.patches.verify import (
    allowed_commands,
    check_allowed,
    kill_orphaned_verifications,
    pgid_file_for,
    run_verification,
)
from runtime.patches.worktree import WorktreeError, create_worktree, remove_worktree
from runtime.projections import atomic_write_text, mission_dir
from runtime.redact import Redactor

PATCH_FILE = "patch.diff"
ROLLBACK_FILE = "rollback.diff"
PACKET_FILE = "review_packet.json"


@dataclass
class PatchOutcome:
    """What became of one proposal.

    ``events`` were already appended (in order) through ``append``; ``repairable`` is True
    when the model may fix the reasons in one repair round.
    """

    status: PatchStatus
    reasons: list[str]
    events: list[Event] = field(default_factory=list)
    repairable: bool = False
    diff: str | None = None
    rollback_diff: str | None = None
    review_packet: dict[str, Any] | None = None
    review_markdown: str | None = None

    def report_extra(self) -> dict[str, Any]:
        """What the final report's ``patch`` section should carry beyond status and reasons."""
        packet = self.review_packet or {}
        return {
            "diff_sha256": packet.get("diff_sha256"),
            "rollback_sha256": packet.get("rollback_sha256"),
            "changed_paths": packet.get("changed_paths", []),
            "verification": packet.get("verification", []),
            "adequacy": packet.get("adequacy"),
            "artifacts": packet.get("artifacts", {}),
            "review_markdown": self.review_markdown,
        }


async def run_patch_step(
    *,
    project_root: Path,
    mission: MissionV1,
    intent_data: Any,
    round: int,
    redactor: Redactor,
    report: dict[str, Any] | None,
    evidence_refs: list[str],
    denials: list[dict[str, Any]],
    append: Callable[[Payload], Event],
    keep_worktree: bool = False,
) -> PatchOutcome:
    """Record, validate and (A5/A6) verify one patch proposal; see the module docstring."""
    step = _Step(project_root.resolve(), mission, redactor, append, keep_worktree)
    packet = PacketInput(
        mission=mission,
        status=PatchStatus.FAILED,
        reasons=[],
        report=report,
        evidence_refs=list(evidence_refs),
        denials=list(denials),
    )
    try:
        return await step.run(intent_data, round, packet)
    except (WorktreeError, OSError, subprocess.SubprocessError, git.GitCommandError) as exc:
        # The runtime could not finish (no HEAD, disk full, git missing): an honest FAILED.
        reason = redactor.redact(f"runtime_error: {exc}").text
        return step.finish(PatchStatus.FAILED, [reason], packet)


@dataclass
class _Step:
    project_root: Path
    mission: MissionV1
    redactor: Redactor
    append: Callable[[Payload], Event]
    keep_worktree: bool
    events: list[Event] = field(default_factory=list)
    diff: str | None = None
    rollback_diff: str | None = None

    def record(self, payload: Payload) -> Event:
        event = self.append(payload)
        self.events.append(event)
        return event

    async def run(self, intent_data: Any, round: int, packet: PacketInput) -> PatchOutcome:
        recorded, _ = self.redactor.redact_obj(intent_data)
        if not isinstance(recorded, dict):
            recorded = {"value": recorded}
        self.record(PatchIntentProposed(intent=recorded, round=round))
        try:
            intent = parse_intent(intent_data)
        except IntentError as exc:
            reasons = [self._clean(f"invalid_intent: {error}") for error in exc.errors]
            self.record(PatchValidated(ok=False, reasons=reasons))
            return self.finish(PatchStatus.REJECTED, reasons, packet, repairable=round == 1)
        packet.intent = intent
        validation = await asyncio.to_thread(
            validate_intent, self.project_root, self.mission, intent, self.redactor
        )
        self._record_validation(validation)
        reasons = [self._clean(r) for r in validation.reasons]
        if not validation.ok or validation.built is None:
            status = PatchStatus.ESCALATE if validation.escalate else PatchStatus.REJECTED
            repairable = status == PatchStatus.REJECTED and round == 1
            return self.finish(status, reasons, packet, repairable=repairable)
        built = validation.built
        self.diff, self.rollback_diff = built.diff, built.rollback_diff
        packet.diff = built.diff
        packet.diff_sha256 = tagged_sha256(built.diff)
        packet.rollback_sha256 = tagged_sha256(built.rollback_diff)
        packet.changed_paths = [c.path for c in built.changes]
        packet.artifacts = self._write_diffs(built.diff, built.rollback_diff)
        if self.mission.tier is Tier.A4:
            self._record_rollback(packet)
            packet.caveats.append("A4: the patch was validated, not applied or run")
            return self.finish(PatchStatus.VALIDATED, [], packet)
        if not allowed_commands(self.mission):
            self._record_rollback(packet)
            return self.finish(PatchStatus.ESCALATE, [NO_VERIFICATION_COMMANDS], packet)
        return await self._verify_in_isolation(validation, packet)

    async def _verify_in_isolation(
        self, validation: Validation, packet: PacketInput
    ) -> PatchOutcome:
        assert validation.built is not None and self.diff is not None
        built = validation.built
        # A bridge killed mid-verification may have left a command running in a worktree.
        await asyncio.to_thread(kill_orphaned_verifications, self.project_root)
        worktree = await asyncio.to_thread(
            create_worktree, self.project_root, self.mission.mission_id, self.mission.owned_paths
        )
        kept = False
        try:
            applied = await asyncio.to_thread(
                run_git, ["apply", "--whitespace=nowarn", "-"], worktree.path, self.diff
            )
            wrong = (
                [] if applied.returncode else differing(worktree.path, built.changes, before=False)
            )
            if applied.returncode or wrong:
                why = applied.stderr.strip() or f"unexpected content in {wrong}"
                reason = self._clean(f"isolation_apply_failed: {why}")
                return self.finish(PatchStatus.FAILED, [reason], packet)
            packet.base_commit = worktree.base_commit
            self.record(
                PatchAppliedInIsolation(
                    worktree=worktree.path.relative_to(self.project_root).as_posix(),
                    base_commit=worktree.base_commit,
                    diff_sha256=packet.diff_sha256 or "",
                )
            )
            results = []
            spec = self.mission.verification
            assert spec is not None
            for argv in allowed_commands(self.mission):
                result = await run_verification(
                    check_allowed(argv, self.mission),
                    cwd=worktree.path,
                    timeout_seconds=spec.timeout_seconds,
                    redactor=self.redactor,
                    pgid_file=pgid_file_for(self.project_root, self.mission.mission_id),
                )
                summary = VerificationSummary(
                    result.argv,
                    result.exit_code,
                    result.timed_out,
                    result.duration_ms,
                    result.output,
                )
                self.record(VerificationRan(**asdict(summary)))
                results.append(summary)
            packet.verification = results
            self._record_rollback(packet)
            if self.keep_worktree:
                kept = True
                packet.worktree_kept = worktree.path.relative_to(self.project_root).as_posix()
            failed = verification_failures(asdict(r) for r in results)
            if failed:
                return self.finish(PatchStatus.VERIFICATION_FAILED, failed, packet)
            return self.finish(PatchStatus.VERIFIED, [], packet)
        finally:
            if not kept:
                await asyncio.to_thread(remove_worktree, self.project_root, worktree.path)

    def _record_validation(self, validation: Validation) -> None:
        built = validation.built
        has_diff = built is not None and bool(built.diff)
        self.record(
            PatchValidated(
                ok=validation.ok,
                reasons=[self._clean(r) for r in validation.reasons],
                escalate=validation.escalate,
                diff_sha256=tagged_sha256(built.diff) if built and has_diff else None,
                files_changed=[c.path for c in built.changes] if built else [],
                patch_bytes=len(built.diff.encode("utf-8")) if built else 0,
                base_sha256=validation.base_sha256,
                result_sha256=validation.result_sha256,
            )
        )

    def _record_rollback(self, packet: PacketInput) -> None:
        # validate_intent proved the round trip in a scratch copy before we got here.
        self.record(
            RollbackRecorded(
                diff_sha256=packet.diff_sha256 or "",
                rollback_sha256=packet.rollback_sha256 or "",
                proven=True,
            )
        )

    def _write_diffs(self, diff: str, rollback: str) -> dict[str, str]:
        folder = mission_dir(self.project_root, self.mission.mission_id)
        atomic_write_text(folder / PATCH_FILE, diff)
        atomic_write_text(folder / ROLLBACK_FILE, rollback)
        return {
            "patch": self._relative(folder / PATCH_FILE),
            "rollback": self._relative(folder / ROLLBACK_FILE),
            "review_packet": self._relative(folder / PACKET_FILE),
        }

    def finish(
        self,
        status: PatchStatus,
        reasons: list[str],
        packet: PacketInput,
        *,
        repairable: bool = False,
    ) -> PatchOutcome:
        packet.status = status
        packet.reasons = reasons
        folder = mission_dir(self.project_root, self.mission.mission_id)
        packet.artifacts.setdefault("review_packet", self._relative(folder / PACKET_FILE))
        review = build_review_packet(packet)
        atomic_write_text(folder / PACKET_FILE, json.dumps(review, indent=2, ensure_ascii=False))
        return PatchOutcome(
            status=status,
            reasons=reasons,
            events=list(self.events),
            repairable=repairable,
            diff=self.diff,
            rollback_diff=self.rollback_diff,
            review_packet=review,
            review_markdown=render_markdown(review),
        )

    def _clean(self, text: str) -> str:
        return self.redactor.redact(text).text

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.project_root).as_posix()


class PatchPipeline:
    """The mission loop's patch step: runs :func:`run_patch_step` for one ``propose_patch``."""

    def __init__(
        self,
        project_root: Path,
        mission: MissionV1,
        redactor: Redactor,
        *,
        keep_worktree: bool = False,
    ):
        self.project_root = project_root
        self.mission = mission
        self.redactor = redactor
        self.keep_worktree = keep_worktree
        self.last: PatchOutcome | None = None

    async def __call__(self, *, action: Action, round: int, journal: Journal) -> PatchDecision:
        outcome = await run_patch_step(
            project_root=self.project_root,
            mission=self.mission,
            intent_data=action.patch,
            round=round,
            redactor=self.redactor,
            report=action.report,
            evidence_refs=report_evidence_refs(action.report),
            denials=[
                denial.model_dump(include={"tool_name", "reason_code", "message"})
                for denial in journal.record.denials
            ],
            append=journal.add,
            keep_worktree=self.keep_worktree,
        )
        self.last = outcome
        return PatchDecision(
            status=outcome.status,
            reasons=outcome.reasons,
            repairable=outcome.repairable,
            extra_report=outcome.report_extra(),
        )


def report_evidence_refs(report: dict[str, Any] | None) -> list[str]:
    """Every evidence reference the model's report cites, in order, without repeats."""
    refs: list[str] = []
    for finding in (report or {}).get("findings") or []:
        if isinstance(finding, dict):
            refs.extend(str(r) for r in finding.get("evidence_refs") or [] if isinstance(r, str))
    return list(dict.fromkeys(refs))
