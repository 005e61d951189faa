"""The patch step the mission loop calls when the model's action is ``propose_patch``.

One call handles one proposal: record it (redacted), validate it, and for A5/A6 apply it in an
isolated worktree and run the mission's verification commands there. Events are appended
through ``append`` as they happen, so a crash leaves an honest log of how far the step got.
A validated diff
and its rollback are stored as blobs of the run before PatchValidated names their hashes;
``patch.diff``, ``rollback.diff`` and ``review_packet.json`` are projections of the log
(runtime.patches.artifacts). The project's working tree, index and HEAD are never written:
only ``.codex-oss/`` changes.

Statuses: A4 ends VALIDATED or REJECTED; A5/A6 end VERIFIED, VERIFICATION_FAILED, REJECTED,
ESCALATE or FAILED. Any status may be ESCALATE (critical path) or FAILED (the runtime itself
could not finish, e.g. no git HEAD), always with the reason.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import git

from runtime.actions import Action
from runtime.blobs import blob_dir, write_blob
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
from runtime.patches.artifacts import report_section, review_packet
from runtime.patches.build import BuiltPatch
from runtime.patches.intent import IntentError, parse_intent
from runtime.patches.status import PatchStatus
from runtime.patches.validate import Validation, differing, run_git, validate_intent
from runtime.patches.verdict import NO_VERIFICATION_COMMANDS, PatchVerdict, verification_failures
from runtime.patches.verify import (
    allowed_commands,
    check_allowed,
    kill_orphaned_verifications,
    pgid_file_for,
    run_verification,
)
from runtime.patches.worktree import WorktreeError, create_worktree, remove_worktree
from runtime.projections import MISSIONS_DIR
from runtime.redact import Redactor


@dataclass
class PatchOutcome:
    """What became of one proposal.

    ``repairable`` is True when the model may fix the reasons in one repair round. ``diff``
    and ``rollback_diff`` are the validated patch's texts (also blobs of the run).
    """

    status: PatchStatus
    reasons: list[str]
    repairable: bool = False
    diff: str | None = None
    rollback_diff: str | None = None


async def run_patch_step(
    *,
    project_root: Path,
    mission: MissionV1,
    intent_data: Any,
    round: int,
    redactor: Redactor,
    report: dict[str, Any] | None,
    append: Callable[[Payload], Event],
) -> PatchOutcome:
    """Record, validate and (A5/A6) verify one patch proposal; see the module docstring."""
    step = _Step(project_root.resolve(), mission, redactor, append)
    try:
        return await step.run(intent_data, round, report)
    except (WorktreeError, OSError, subprocess.SubprocessError, git.GitCommandError) as exc:
        # The runtime could not finish (no HEAD, disk full, git missing): an honest FAILED.
        reason = redactor.redact(f"runtime_error: {exc}").text
        return step.finish(PatchStatus.FAILED, [reason])


@dataclass
class _Step:
    project_root: Path
    mission: MissionV1
    redactor: Redactor
    append: Callable[[Payload], Event]
    diff: str | None = None
    rollback_diff: str | None = None

    async def run(
        self, intent_data: Any, round: int, report: dict[str, Any] | None
    ) -> PatchOutcome:
        recorded, _ = self.redactor.redact_obj(intent_data)
        if not isinstance(recorded, dict):
            recorded = {"value": recorded}
        recorded_report = self.redactor.redact_obj(report)[0] if report is not None else None
        proposed = self.append(
            PatchIntentProposed(intent=recorded, round=round, report=recorded_report)
        )
        try:
            intent = parse_intent(intent_data)
        except IntentError as exc:
            reasons = [self._clean(f"invalid_intent: {error}") for error in exc.errors]
            self.append(PatchValidated(ok=False, reasons=reasons))
            return self.finish(PatchStatus.REJECTED, reasons, repairable=round == 1)
        validation = await asyncio.to_thread(
            validate_intent, self.project_root, self.mission, intent, self.redactor
        )
        reasons = [self._clean(r) for r in validation.reasons]
        built = validation.built
        if not validation.ok or built is None:
            self._record_validation(validation, reasons)
            status = PatchStatus.ESCALATE if validation.escalate else PatchStatus.REJECTED
            repairable = status == PatchStatus.REJECTED and round == 1
            return self.finish(status, reasons, repairable=repairable)
        # The texts go to the run's blobs before the event that names their hashes.
        blobs = blob_dir(self.project_root, proposed.run_id)
        write_blob(blobs, built.diff)
        write_blob(blobs, built.rollback_diff)
        self._record_validation(validation, reasons)
        self.diff, self.rollback_diff = built.diff, built.rollback_diff
        if self.mission.tier is Tier.A4:
            self._record_rollback()
            return self.finish(PatchStatus.VALIDATED, [])
        if not allowed_commands(self.mission):
            self._record_rollback()
            return self.finish(PatchStatus.ESCALATE, [NO_VERIFICATION_COMMANDS])
        return await self._verify_in_isolation(built)

    async def _verify_in_isolation(self, built: BuiltPatch) -> PatchOutcome:
        # A bridge killed mid-verification may have left a command running in a worktree.
        await asyncio.to_thread(kill_orphaned_verifications, self.project_root)
        worktree = await asyncio.to_thread(
            create_worktree, self.project_root, self.mission.mission_id, self.mission.owned_paths
        )
        try:
            applied = await asyncio.to_thread(
                run_git, ["apply", "--whitespace=nowarn", "-"], worktree.path, built.diff
            )
            wrong = (
                [] if applied.returncode else differing(worktree.path, built.changes, before=False)
            )
            if applied.returncode or wrong:
                why = applied.stderr.strip() or f"unexpected content in {wrong}"
                reason = self._clean(f"isolation_apply_failed: {why}")
                return self.finish(PatchStatus.FAILED, [reason])
            self.append(
                PatchAppliedInIsolation(
                    worktree=worktree.path.relative_to(self.project_root).as_posix(),
                    base_commit=worktree.base_commit,
                    diff_sha256=tagged_sha256(built.diff),
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
                ran = VerificationRan(
                    argv=result.argv,
                    exit_code=result.exit_code,
                    timed_out=result.timed_out,
                    duration_ms=result.duration_ms,
                    output=result.output,
                )
                self.append(ran)
                results.append(ran.model_dump())
            self._record_rollback()
            failed = verification_failures(results)
            if failed:
                return self.finish(PatchStatus.VERIFICATION_FAILED, failed)
            return self.finish(PatchStatus.VERIFIED, [])
        finally:
            await asyncio.to_thread(remove_worktree, self.project_root, worktree.path)

    def _record_validation(self, validation: Validation, reasons: list[str]) -> None:
        built = validation.built
        has_diff = built is not None and bool(built.diff)
        self.append(
            PatchValidated(
                ok=validation.ok,
                reasons=reasons,
                escalate=validation.escalate,
                diff_sha256=tagged_sha256(built.diff) if built and has_diff else None,
                rollback_sha256=tagged_sha256(built.rollback_diff) if built and has_diff else None,
                files_changed=[c.path for c in built.changes] if built else [],
                patch_bytes=len(built.diff.encode("utf-8")) if built else 0,
                base_sha256=validation.base_sha256,
                result_sha256=validation.result_sha256,
            )
        )

    def _record_rollback(self) -> None:
        # validate_intent proved the round trip in a scratch copy before we got here.
        assert self.diff is not None and self.rollback_diff is not None
        self.append(
            RollbackRecorded(
                diff_sha256=tagged_sha256(self.diff),
                rollback_sha256=tagged_sha256(self.rollback_diff),
                proven=True,
            )
        )

    def finish(
        self, status: PatchStatus, reasons: list[str], *, repairable: bool = False
    ) -> PatchOutcome:
        return PatchOutcome(
            status=status,
            reasons=reasons,
            repairable=repairable,
            diff=self.diff,
            rollback_diff=self.rollback_diff,
        )

    def _clean(self, text: str) -> str:
        return self.redactor.redact(text).text


class PatchPipeline:
    """The mission loop's patch step: runs :func:`run_patch_step` for one ``propose_patch``
    and judges the outcome with the review packet built from the loop's live record."""

    def __init__(self, project_root: Path, mission: MissionV1, redactor: Redactor):
        self.project_root = project_root
        self.mission = mission
        self.redactor = redactor

    async def __call__(self, *, action: Action, round: int, journal: Journal) -> PatchDecision:
        outcome = await run_patch_step(
            project_root=self.project_root,
            mission=self.mission,
            intent_data=action.patch,
            round=round,
            redactor=self.redactor,
            report=action.report,
            append=partial(journal.add, sync=True),  # a patch step acts on the world
        )
        verdict = PatchVerdict(outcome.status, outcome.reasons)
        folder = MISSIONS_DIR / self.mission.mission_id
        packet = review_packet(journal.record, verdict, outcome.diff, folder)
        return PatchDecision(
            status=outcome.status,
            reasons=outcome.reasons,
            repairable=outcome.repairable,
            extra_report=report_section(packet) if packet is not None else {},
        )
