"""Everything a patch must pass before any byte of it is applied anywhere.

Every reason is ``"<code>: <message>"`` so tests, the review packet and the repair prompt can
all use it. Pure checks (ownership, limits, diff shape, secrets, verification plan) are plain
functions; the I/O checks (loading the files through the scope policy, ``git apply --check``,
the forward-then-back round trip in a scratch directory) sit below them.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from runtime.canonical import sha256_hex
from runtime.mission import MissionV1, Tier, is_within
from runtime.patches.build import (
    BinaryContent,
    BuiltPatch,
    FileChange,
    added_lines,
    build_patch,
    decode_text,
)
from runtime.patches.intent import PatchIntentV1
from runtime.policy import ScopeDenied, ScopePolicy
from runtime.redact import Redactor

# Runtime state and git internals are never a patch target, whatever owned_paths says.
RESERVED_ROOTS = (".git", ".codex-oss")
# Scope denials that need a human rather than a repair round.
ESCALATE_CODES = frozenset({"critical_root"})
# Diff header lines the builder never writes; seeing one means something bypassed it.
FORBIDDEN_HEADERS = {
    "old mode ": "mode_change",
    "new mode ": "mode_change",
    "deleted file mode ": "deletion",
    "rename from ": "rename",
    "rename to ": "rename",
    "copy from ": "copy",
    "similarity index ": "rename",
    "GIT binary patch": "binary",
    "Binary files ": "binary",
}
GIT_TIMEOUT_SECONDS = 60


@dataclass
class Validation:
    """The verdict on one intent: the built patch (if any), reasons, and the hashes it pins."""

    built: BuiltPatch | None
    reasons: list[str] = field(default_factory=list)
    escalate: bool = False
    base_sha256: dict[str, str | None] = field(default_factory=dict)
    result_sha256: dict[str, str | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.reasons and self.built is not None and self.built.ok


def validate_intent(
    project_root: Path, mission: MissionV1, intent: PatchIntentV1, redactor: Redactor
) -> Validation:
    """Load the targets, build the diff and run every check; nothing is written."""
    reasons: list[str] = []
    for path in intent.paths():
        reasons.extend(check_target(path, mission))
    reasons.extend(check_verification_plan(intent.verification_plan, mission))
    loaded = load_targets(project_root, mission, intent.paths())
    reasons.extend(loaded.reasons)
    if reasons or loaded.escalate:
        return Validation(None, reasons, escalate=loaded.escalate)
    built = build_patch(intent.edits, loaded.originals)
    reasons.extend(built.reasons)
    if built.ok:
        reasons.extend(check_patch(built, mission, redactor))
    if not reasons:
        reasons.extend(git_apply_check(project_root, built.diff))
    if not reasons:
        reasons.extend(prove_round_trip(built))
    return Validation(
        built,
        reasons,
        base_sha256={c.path: text_sha256(c.before) for c in built.changes},
        result_sha256={c.path: text_sha256(c.after) for c in built.changes},
    )


def text_sha256(text: str | None) -> str | None:
    """Hex SHA-256 of ``text``'s UTF-8 bytes; None for an absent file."""
    return None if text is None else sha256_hex(text)


# --- pure checks -------------------------------------------------------------------------


def check_target(path: str, mission: MissionV1) -> list[str]:
    """Why ``path`` (already normalised) may not be patched by ``mission``; empty if it may."""
    reasons = []
    for root in RESERVED_ROOTS:
        if is_within(path, root):
            reasons.append(f"reserved_path: {path} is inside {root}/, which no patch may touch")
    if not any(is_within(path, owned) for owned in mission.owned_paths):
        reasons.append(
            f"not_owned: {path} is not under owned_paths {mission.owned_paths}; "
            "patch only the files the mission owns"
        )
    return reasons


def check_verification_plan(plan: list[list[str]], mission: MissionV1) -> list[str]:
    """Every planned command must equal one of the mission's allowlisted argv lists."""
    allowed = mission.verification.commands if mission.verification else []
    reasons = []
    for index, argv in enumerate(plan):
        if argv in allowed:
            continue
        if not allowed:
            reasons.append(
                f"not_allowlisted: verification_plan[{index}] {argv!r}: this mission allows no "
                "commands; leave verification_plan empty"
            )
        else:
            reasons.append(
                f"not_allowlisted: verification_plan[{index}] {argv!r} is not one of the "
                f"mission's commands {allowed!r}; copy one exactly"
            )
    return reasons


def check_patch(built: BuiltPatch, mission: MissionV1, redactor: Redactor) -> list[str]:
    """Limits, diff shape and secrets of a built patch."""
    reasons = []
    files = len(built.changes)
    if mission.max_files_changed is not None and files > mission.max_files_changed:
        reasons.append(
            f"too_many_files: the patch changes {files} files; the mission allows "
            f"{mission.max_files_changed}"
        )
    size = len(built.diff.encode("utf-8"))
    if mission.max_patch_bytes is not None and size > mission.max_patch_bytes:
        reasons.append(
            f"patch_too_large: the diff is {size} bytes; the mission allows "
            f"{mission.max_patch_bytes}"
        )
    reasons.extend(check_diff_shape(built.diff, built.changes))
    reasons.extend(scan_added_lines(built.diff, redactor))
    return reasons


def check_diff_shape(diff: str, changes: Iterable[FileChange]) -> list[str]:
    """No mode change, deletion, rename or binary hunk may appear in a forward diff."""
    reasons = []
    for change in changes:
        if change.after is None:
            reasons.append(f"deletion: {change.path} would be deleted; patches may not delete")
    for line in diff.splitlines():
        if line.startswith(("+", "-", " ", "@@", "\\")):
            continue
        for prefix, code in FORBIDDEN_HEADERS.items():
            if line.startswith(prefix):
                reasons.append(f"{code}: the diff carries {line.strip()!r}")
    return sorted(set(reasons), key=reasons.index)


def scan_added_lines(diff: str, redactor: Redactor) -> list[str]:
    """A reason if any added line holds something the redactor treats as a secret."""
    found = redactor.redact("\n".join(added_lines(diff)))
    if not found.count:
        return []
    return [
        f"secret: the added lines contain {found.count} value(s) that look like secrets "
        f"({', '.join(found.kinds)}); never write credentials into the project, read them "
        "from the environment instead"
    ]


# --- checks with I/O -----------------------------------------------------------------------


@dataclass
class LoadedTargets:
    """Current text of each target (None when absent), or why a target cannot be used."""

    originals: dict[str, str | None] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    escalate: bool = False


def load_targets(project_root: Path, mission: MissionV1, paths: Iterable[str]) -> LoadedTargets:
    """Resolve each path like a read would (scope policy, symlinks) and load its text."""
    loaded = LoadedTargets()
    policy = ScopePolicy(project_root, mission)
    root = project_root.resolve()
    for path in paths:
        try:
            resolved = policy.resolve(path, must_exist=False)
        except ScopeDenied as exc:
            if exc.reason_code in ESCALATE_CODES:
                loaded.escalate = True
            loaded.reasons.append(f"{exc.reason_code}: {exc.message}")
            continue
        # Reading a critical path may be allowed; writing one needs a human below A6.
        if policy.is_critical(resolved.relative) and mission.tier is not Tier.A6:
            loaded.escalate = True
            loaded.reasons.append(
                f"critical_path: {path} is on a critical path; a {mission.tier.value} patch "
                "may not change it, a human must decide"
            )
            continue
        problem = link_problem(root, path)
        if problem:
            loaded.reasons.append(problem)
            continue
        target = root / path
        if not target.exists():
            loaded.originals[path] = None
            continue
        if not target.is_file():
            loaded.reasons.append(f"not_regular_file: {path} is not a regular file")
            continue
        try:
            loaded.originals[path] = decode_text(path, target.read_bytes())
        except BinaryContent as exc:
            loaded.reasons.append(f"binary: {exc}")
    return loaded


def link_problem(root: Path, path: str) -> str | None:
    """Why a symlink on the way to ``root/path`` (or the file itself) forbids patching it."""
    current = root
    for part in Path(path).parts:
        current = current / part
        if current.is_symlink():
            return f"symlink: {path} goes through the symlink {current.relative_to(root)}"
        if not current.exists():
            return None
    if not current.resolve().is_relative_to(root):  # defence in depth against races
        return f"path_escape: {path} resolves outside the project"
    return None


def git_apply_check(project_root: Path, diff: str) -> list[str]:
    """``git apply --check`` of ``diff`` against the project's working tree."""
    result = run_git(["apply", "--check", "--whitespace=nowarn", "-"], project_root, diff)
    if result.returncode == 0:
        return []
    return [f"apply_check_failed: git apply --check: {result.stderr.strip()[:2000]}"]


def prove_round_trip(built: BuiltPatch) -> list[str]:
    """Apply the diff then the rollback to a scratch copy; both must give the exact bytes."""
    with tempfile.TemporaryDirectory(prefix="codex-oss-roundtrip-") as scratch:
        root = Path(scratch)
        write_state(root, built.changes, before=True)
        forward = run_git(["apply", "--whitespace=nowarn", "-"], root, built.diff)
        if forward.returncode != 0:
            return [f"apply_check_failed: the diff does not apply: {forward.stderr.strip()}"]
        wrong = differing(root, built.changes, before=False)
        if wrong:
            return [f"internal_error: the diff does not produce the intended {wrong}"]
        back = run_git(["apply", "--whitespace=nowarn", "-"], root, built.rollback_diff)
        if back.returncode != 0:
            return [f"internal_error: the rollback does not apply: {back.stderr.strip()}"]
        wrong = differing(root, built.changes, before=True)
        if wrong:
            return [f"internal_error: the rollback does not restore {wrong}"]
    return []


def write_state(root: Path, changes: Iterable[FileChange], *, before: bool) -> None:
    """Write each file's before (or after) text under ``root``; absent files are not written."""
    for change in changes:
        text = change.before if before else change.after
        if text is None:
            continue
        target = root / change.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))


def differing(root: Path, changes: Iterable[FileChange], *, before: bool) -> list[str]:
    """Paths under ``root`` whose bytes are not the before (or after) state."""
    wrong = []
    for change in changes:
        text = change.before if before else change.after
        target = root / change.path
        actual = target.read_bytes() if target.is_file() else None
        if actual != (None if text is None else text.encode("utf-8")):
            wrong.append(change.path)
    return wrong


@dataclass(frozen=True)
class GitResult:
    """Exit code and decoded output of one git call."""

    returncode: int
    stdout: str
    stderr: str


def run_git(args: list[str], cwd: Path, stdin: str | None = None) -> GitResult:
    """Run git in ``cwd`` without discovering a repository above it and without GIT_* leaks."""
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        input=None if stdin is None else stdin.encode("utf-8"),
        capture_output=True,
        env=git_env(cwd),
        timeout=GIT_TIMEOUT_SECONDS,
        check=False,
    )
    decode = lambda data: data.decode("utf-8", errors="replace")  # noqa: E731
    return GitResult(done.returncode, decode(done.stdout), decode(done.stderr))


def git_env(cwd: Path) -> dict[str, str]:
    """The environment for a git call in ``cwd``.

    Inherited GIT_* variables (set inside hooks, for example) could point git at another
    repository, so they are dropped; the ceiling keeps git from adopting a repository that
    merely contains ``cwd``, so paths in a diff stay relative to ``cwd``.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env["GIT_CEILING_DIRECTORIES"] = str(Path(cwd).resolve().parent)
    env["LC_ALL"] = "C"
    return env
