"""Read-only git queries (GitPython, optional locks off) for the git tools; :func:`numstat`
is pure."""

from __future__ import annotations

import os
from pathlib import Path

from runtime.tools.output import ToolRefused

__all__ = ["GitView", "numstat"]

# ``git diff`` as numstat rows that :func:`numstat` parses: no renames, no external diff
# drivers or textconv filters (a repository's config must not run programs for a query).
_NUMSTAT_DIFF = ("diff", "--numstat", "-z", "--no-renames", "--no-ext-diff", "--no-textconv")
_NUMSTAT_ROOT = ("diff-tree", "-r", "--root", "--numstat", "-z", "--no-renames", "--no-commit-id")


class GitView:
    """Read-only git queries for the repository holding the project (never writes a lock)."""

    def __init__(self, project_root: Path):
        import git  # GitPython: imported here so a mission without git tools never loads it

        self._git = git
        try:
            self.repo = git.Repo(project_root, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise ToolRefused(
                "not_a_git_repository", "The project is not inside a git repository."
            ) from None
        top = os.path.realpath(self.repo.working_tree_dir or project_root)
        prefix = os.path.relpath(project_root, top)
        self.prefix = "" if prefix == "." else Path(prefix).as_posix() + "/"

    def to_project(self, repo_path: str) -> str | None:
        """A repository-relative path as project-relative, or None if outside the project."""
        return repo_path.removeprefix(self.prefix) if repo_path.startswith(self.prefix) else None

    def _run(self, *argv: str) -> str:
        try:
            with self.repo.git.custom_environment(GIT_OPTIONAL_LOCKS="0", GIT_PAGER="cat"):
                return self.repo.git.execute(["git", *argv], strip_newline_in_stdout=False)
        except self._git.GitCommandError as exc:
            detail = (exc.stderr or "").strip().splitlines()
            raise ToolRefused(
                "git_error", f"git {argv[0]} failed: {detail[-1] if detail else exc.status}."
            ) from None

    def has_head(self) -> bool:
        """Whether HEAD names a commit (False in a repository with no commits yet)."""
        try:
            self.repo.head.commit  # noqa: B018 - resolving HEAD is the test
        except ValueError:
            return False
        return True

    def status(self) -> tuple[str, list[tuple[str, str]]]:
        """The branch line and (two-letter code, repository path) per changed entry."""
        out = self._run("status", "--porcelain=v1", "-z", "--branch", "--no-renames")
        records = out.split("\0")
        branch = records[0].removeprefix("## ") if records and records[0].startswith("##") else "?"
        entries = [(r[:2], r[3:]) for r in records[1:] if len(r) > 3]
        return branch, entries

    def log(self, limit: int) -> list[str]:
        """``sha date author: subject`` for the last ``limit`` commits from HEAD."""
        if not self.has_head():
            return []
        lines = []
        for commit in self.repo.iter_commits("HEAD", max_count=limit):
            when = commit.committed_datetime.isoformat(timespec="seconds")
            lines.append(f"{commit.hexsha} {when} {commit.author.name}: {commit.summary}")
        return lines

    def show_stat(self, rev: str) -> tuple[str, list[tuple[str, str, str]]]:
        """One commit's header text and its numstat rows against its first parent."""
        try:
            commit = self.repo.commit(rev)
        except (self._git.BadName, ValueError, self._git.GitCommandError):
            raise ToolRefused(
                "unknown_rev", f"rev {rev!r} does not name a commit in this repository."
            ) from None
        if commit.parents:
            out = self._run(*_NUMSTAT_DIFF, commit.parents[0].hexsha, commit.hexsha, "--")
        else:
            out = self._run(*_NUMSTAT_ROOT, commit.hexsha, "--")
        message = commit.message.strip()
        if len(message) > 2000:
            message = message[:2000] + " [message cut]"
        header = (
            f"commit {commit.hexsha}\n"
            f"Author: {commit.author.name}\n"
            f"Date:   {commit.committed_datetime.isoformat(timespec='seconds')}\n\n"
            + "".join(f"    {line}\n" for line in message.splitlines())
            + "\n"
        )
        return header, numstat(out)

    def diff_stat(self, relative: str) -> list[tuple[str, str, str]] | None:
        """Numstat rows of uncommitted changes under ``relative``; None with no HEAD yet."""
        if not self.has_head():
            return None
        # ``relative`` is normalised ("." for the project itself), never empty.
        pathspec = (self.prefix + ("" if relative == "." else relative)).rstrip("/") or "."
        out = self._run(*_NUMSTAT_DIFF, "HEAD", "--", ":(literal)" + pathspec)
        return numstat(out)


def numstat(out: str) -> list[tuple[str, str, str]]:
    """Parse ``--numstat -z`` output (renames off): added, deleted, path per record."""
    rows = (record.strip("\n").split("\t", 2) for record in out.split("\0"))
    return [(row[0], row[1], row[2]) for row in rows if len(row) == 3 and row[2]]
