"""Promotion and rollback: the only code that writes a patch into the project's workspace,
and only when a human (or GPT) asks for it with ``codex-oss promote`` / ``codex-oss rollback``.

The event log is the authority: the patch's status, its diff hash, the base and result hash
of every file come from the run's RunRecord (``runtime.patches.verdict`` reads them off it),
and ``patch.diff`` / ``rollback.diff`` are used only when their bytes hash to what the log
recorded. Promotion refuses on a changed base or a conflict (no 3-way merge); rollback
refuses unless the files are exactly as promotion left them. Each success is recorded in the
run's log (``PatchPromoted`` / ``PatchRolledBack``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from runtime.blobs import blob_dir, read_blobs
from runtime.canonical import sha256_hex, tagged_sha256
from runtime.eventlog import (
    LOG_NAME,
    RUNS_DIR,
    EventLogError,
    MissionEventLog,
    first_mission_id,
    load_events,
)
from runtime.events import PatchPromoted, PatchRolledBack
from runtime.patches.artifacts import PATCH_FILE, ROLLBACK_FILE
from runtime.patches.status import PASSED, PatchStatus
from runtime.patches.validate import run_git
from runtime.patches.verdict import PatchState, patch_state
from runtime.projections import mission_dir, project_log
from runtime.record import ReduceError, reduce

LOCK_NAME = ".promote.lock"
# A6 is the origin document's "critical-path rehearsal ... proof/simulation only".
REHEARSAL_REFUSAL = (
    "an A6 mission is a critical-path rehearsal: its patch shows what would change and is never "
    "promoted (no flag overrides this); a human applies a critical-path change after review, "
    "or re-runs the task as an A5 mission outside critical paths"
)
MISSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class PromotionRefused(Exception):
    """Promotion or rollback would be unsafe; ``code`` names the rule, the message the fix."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class PromotionResult:
    """What promote or rollback did (or, with ``dry_run``, would do)."""

    mission_id: str
    run_id: str
    action: str  # "promote" | "rollback"
    files_changed: list[str]
    diff_sha256: str
    rollback_sha256: str
    dry_run: bool
    event_seq: int | None = None


def promote(
    project_root: Path,
    mission_id: str,
    *,
    dry_run: bool = False,
    allow_unverified: bool = False,
    force: bool = False,
) -> PromotionResult:
    """Apply the mission's verified patch to the workspace and record PatchPromoted.

    A patch whose review packet was judged inadequate needs ``force``; the log records it.
    """
    root = project_root.resolve()
    with FileLock(str(_lock_path(root, mission_id))):
        log_path, record = _latest_patch(root, mission_id)
        if record.tier == "A6":
            raise PromotionRefused("rehearsal_only", REHEARSAL_REFUSAL)
        status = record.verdict.status if record.verdict else "unfinished"
        if status not in (PASSED if allow_unverified else {PatchStatus.VERIFIED}):
            hint = (
                "; an A4 patch was never run: add --allow-unverified to promote it anyway"
                if status == PatchStatus.VALIDATED
                else ""
            )
            raise PromotionRefused(
                "not_verified", f"the mission's patch is {status}, not VERIFIED{hint}"
            )
        gaps = record.adequacy_gaps or []
        if gaps and not force:
            raise PromotionRefused(
                "inadequate_review",
                "the review packet is inadequate (" + "; ".join(gaps) + "): GPT cannot judge "
                "the patch from it; re-run the mission, or add --force to promote anyway "
                "(recorded in the log)",
            )
        if record.promoted:
            raise PromotionRefused(
                "already_promoted",
                f"the patch is already promoted; `codex-oss rollback {mission_id}` undoes it",
            )
        return _land(
            root,
            log_path,
            _result(mission_id, log_path, record, "promote", dry_run),
            _artifact(root, mission_id, log_path, PATCH_FILE, record.diff_sha256),
            (record.base_sha256, "changed_base", "changed since verification"),
            (record.result_sha256, "apply_mismatch", "not as verified after apply"),
            PatchPromoted(
                diff_sha256=record.diff_sha256 or "",
                rollback_sha256=record.rollback_sha256 or "",
                files_changed=record.files_changed,
                forced=bool(gaps),
                adequacy_gaps=gaps,
            ),
        )


def rollback(project_root: Path, mission_id: str, *, dry_run: bool = False) -> PromotionResult:
    """Undo the mission's promoted patch (exact prior bytes) and record PatchRolledBack."""
    root = project_root.resolve()
    with FileLock(str(_lock_path(root, mission_id))):
        log_path, record = _latest_patch(root, mission_id, promoted_only=True)
        if not record.promoted:
            raise PromotionRefused("not_promoted", "the mission's patch is not promoted")
        return _land(
            root,
            log_path,
            _result(mission_id, log_path, record, "rollback", dry_run),
            _artifact(root, mission_id, log_path, ROLLBACK_FILE, record.rollback_sha256),
            (record.result_sha256, "changed_since_promotion", "edited since"),
            (record.base_sha256, "apply_mismatch", "not restored by rollback"),
            PatchRolledBack(
                rollback_sha256=record.rollback_sha256 or "", files_changed=record.files_changed
            ),
        )


def find_run_logs(project_root: Path, mission_id: str) -> list[Path]:
    """Event logs of ``mission_id``'s runs, newest first (run ids sort by time)."""
    logs = sorted((project_root / RUNS_DIR).glob(f"*/{LOG_NAME}"), reverse=True)
    return [path for path in logs if first_mission_id(path) == mission_id]


def _land(
    root: Path,
    log_path: Path,
    result: PromotionResult,
    diff: str,
    before: tuple[dict[str, str | None], str, str],
    after: tuple[dict[str, str | None], str, str],
    event: PatchPromoted | PatchRolledBack,
) -> PromotionResult:
    """Check that the files hash to ``before`` and that ``diff`` applies; then, unless a dry
    run, apply it, check the files now hash to ``after`` and record ``event``."""
    _expect_state(root, *before)
    _apply(root, diff, check_only=True)
    if result.dry_run:
        return result
    _apply(root, diff, check_only=False)
    _expect_state(root, *after)
    with MissionEventLog.open(log_path) as log:
        result.event_seq = log.append(event, "cli").seq
        project_log(root, log)  # the projections now say promoted / rolled back
    return result


def _latest_patch(
    root: Path, mission_id: str, *, promoted_only: bool = False
) -> tuple[Path, PatchState]:
    logs = find_run_logs(root, mission_id)
    if not logs:
        raise PromotionRefused("no_run", f"no run of mission {mission_id!r} in {RUNS_DIR}")
    for log_path in logs:
        try:
            state = patch_state(reduce(load_events(log_path)))
        except (EventLogError, ReduceError) as exc:
            raise PromotionRefused("log_invalid", f"{log_path.name}: {exc}") from None
        if state is None or (promoted_only and not state.promoted):
            continue
        return log_path, state
    what = "a promoted patch" if promoted_only else "a patch proposal"
    raise PromotionRefused("no_patch", f"no run of mission {mission_id!r} holds {what}")


def _artifact(root: Path, mission_id: str, log_path: Path, name: str, expected: str | None) -> str:
    """The text the log names by ``expected``: the mission's projected file (which must hash
    to it), or the run's blob of it while the run is not projected yet."""
    path = mission_dir(root, mission_id) / name
    if not path.exists():
        blob = read_blobs(blob_dir(root, log_path.parent.name), [expected]).get(expected or "")
        if blob is None:
            raise PromotionRefused("artifact_missing", f"neither {name} nor its blob is on disk")
        return blob
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PromotionRefused("artifact_missing", f"cannot read {name}: {exc}") from None
    if expected is None or tagged_sha256(text) != expected:
        raise PromotionRefused(
            "artifact_changed",
            f"{name} does not hash to {expected} as the log recorded; it was changed or "
            "belongs to another run",
        )
    return text


def _expect_state(root: Path, expected: dict[str, str | None], code: str, what: str) -> None:
    changed = [path for path, digest in expected.items() if _current_sha(root, path) != digest]
    if changed:
        raise PromotionRefused(code, f"{', '.join(sorted(changed))} {what}; refusing")


def _current_sha(root: Path, relative: str) -> str | None:
    target = root / relative
    if target.is_symlink():
        return "symlink"  # never equal to a recorded hash: a link is never patched through
    if not target.exists():
        return None
    if not target.is_file():
        return "not-a-regular-file"
    return sha256_hex(target.read_bytes())


def _apply(root: Path, diff: str, *, check_only: bool) -> None:
    args = ["apply", "--whitespace=nowarn", *(["--check"] if check_only else []), "-"]
    result = run_git(args, root, diff)
    if result.returncode != 0:
        raise PromotionRefused("conflict", f"git apply refused: {result.stderr.strip()[:2000]}")


def _result(
    mission_id: str, log_path: Path, record: PatchState, action: str, dry_run: bool
) -> PromotionResult:
    return PromotionResult(
        mission_id=mission_id,
        run_id=log_path.parent.name,
        action=action,
        files_changed=record.files_changed,
        diff_sha256=record.diff_sha256 or "",
        rollback_sha256=record.rollback_sha256 or "",
        dry_run=dry_run,
    )


def _lock_path(root: Path, mission_id: str) -> Path:
    if not MISSION_ID.match(mission_id):
        raise PromotionRefused(
            "invalid_mission_id", f"{mission_id!r} is not a mission id (letters, digits, ._-)"
        )
    folder = mission_dir(root, mission_id)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / LOCK_NAME
