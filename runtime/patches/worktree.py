"""A5 isolation: a git worktree per mission, made from HEAD plus the owned files as they are.

The worktree lives at ``.codex-oss/worktrees/<mission_id>`` and is the only place a patch is
applied before promotion. Creating it touches the repository's object store and worktree
registry, never the project's working tree, index or HEAD. A worktree left behind by a killed
run is removed before a new one is made.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import git

from runtime.mission import is_within
from runtime.patches.validate import RESERVED_ROOTS

WORKTREES_DIR = Path(".codex-oss") / "worktrees"


class WorktreeError(RuntimeError):
    """The isolated worktree could not be made or used; the message says why."""


@dataclass(frozen=True)
class Worktree:
    """An isolated checkout of the project for one mission."""

    path: Path
    base_commit: str


def worktree_path(project_root: Path, mission_id: str) -> Path:
    """Where ``mission_id``'s worktree lives."""
    return project_root / WORKTREES_DIR / mission_id


def create_worktree(project_root: Path, mission_id: str, owned_paths: Iterable[str]) -> Worktree:
    """A detached worktree at HEAD with the workspace's current content of ``owned_paths``."""
    repo = open_repo(project_root)
    try:
        base = repo.head.commit.hexsha
    except ValueError:
        raise WorktreeError("the project has no commit; A5 isolation needs a git HEAD") from None
    path = worktree_path(project_root, mission_id)
    remove_worktree(project_root, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        repo.git.worktree("add", "--detach", str(path), base)
    except git.GitCommandError as exc:
        raise WorktreeError(f"git worktree add failed: {exc.stderr.strip()}") from None
    copy_owned(repo, project_root, path, list(owned_paths))
    return Worktree(path=path, base_commit=base)


def remove_worktree(project_root: Path, path: Path) -> None:
    """Remove the worktree at ``path`` (and its registration); absent is fine."""
    repo = open_repo(project_root)
    if path.exists():
        try:
            repo.git.worktree("remove", "--force", "--force", str(path))
        except git.GitCommandError:
            # Not registered (a half-made worktree from a killed run): delete the files.
            shutil.rmtree(path, ignore_errors=True)
    repo.git.worktree("prune")


def open_repo(project_root: Path) -> git.Repo:
    """The git repository whose top level is ``project_root``."""
    try:
        repo = git.Repo(project_root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise WorktreeError(
            f"{project_root} is not a git repository; A5 isolation needs one"
        ) from None
    if repo.working_tree_dir is None or Path(repo.working_tree_dir).resolve() != (
        project_root.resolve()
    ):
        raise WorktreeError("the project root must be the top level of its git repository")
    return repo


def copy_owned(repo: git.Repo, project_root: Path, worktree: Path, owned: list[str]) -> None:
    """Make the owned paths in ``worktree`` byte-equal to the workspace (deletions included).

    Only files git would see (tracked, or untracked and not ignored) are copied; symlinks are
    not followed, and runtime state is never copied into its own worktree.
    """
    if not owned:
        return
    # --no-optional-locks: listing must not refresh (rewrite) the project's index.
    listed = repo.git.execute(
        [
            "git",
            "--no-optional-locks",
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            *owned,
        ],
        strip_newline_in_stdout=False,
    )
    assert isinstance(listed, str)
    for relative in sorted(set(filter(None, listed.split("\x00")))):
        if any(is_within(relative, root) for root in RESERVED_ROOTS):
            continue
        source = project_root / relative
        target = worktree / relative
        if source.is_symlink() or not source.exists():
            if not source.exists() and target.is_file():
                target.unlink()  # deleted in the workspace, so deleted here too
            continue
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
