"""The git tools (``git_status``, ``git_log``, ``git_show_stat``, ``git_diff_stat``), read-only:
they show the paths the repository reports only when the mission may name them."""

from __future__ import annotations

import re
from typing import Any

from runtime.policy import ScopePolicy
from runtime.tools.caps import MAX_STATUS_ENTRIES
from runtime.tools.context import ToolContext
from runtime.tools.files import listable
from runtime.tools.output import Output, ToolRefused
from runtime.tools.repository import GitView

__all__ = ["check_rev", "git_diff_stat", "git_log", "git_show_stat", "git_status"]


def git_status(context: ToolContext, args: dict[str, Any], cap: int) -> Output:
    """The branch line and the changed/untracked files the mission may see."""
    view = context.repository()
    branch, entries = view.status()
    lines = [f"## {branch}"]
    hidden = 0
    for code, repo_path in entries:
        relative = view.to_project(repo_path)
        if relative is None or not listable(context.policy, relative):
            hidden += 1
            continue
        if len(lines) > MAX_STATUS_ENTRIES:
            lines.append(f"[stopped at {MAX_STATUS_ENTRIES} entries]")
            break
        lines.append(f"{code} {relative}")
    if len(lines) == 1:
        lines.append("(clean: no changes in scope)")
    if hidden:
        lines.append(f"({hidden} entries outside the mission's scope or policy not shown)")
    return Output("\n".join(lines) + "\n")


def git_log(context: ToolContext, args: dict[str, Any], cap: int) -> Output:
    """The last ``limit`` commits, one line each."""
    commits = context.repository().log(args["limit"])
    if not commits:
        return Output("(no commits yet)\n")
    return Output("\n".join(commits) + "\n")


def git_show_stat(context: ToolContext, args: dict[str, Any], cap: int) -> Output:
    """One commit's header and its per-file changes the mission may see."""
    rev = args["rev"]
    check_rev(rev)
    view = context.repository()
    header, stats = view.show_stat(rev)
    return Output(header + _stat_table(context.policy, view, stats))


def git_diff_stat(context: ToolContext, args: dict[str, Any], cap: int) -> Output:
    """Uncommitted per-file changes under ``path`` against HEAD."""
    target = context.policy.resolve(args["path"], allow_scope_ancestor=True, must_exist=False)
    view = context.repository()
    stats = view.diff_stat(target.relative)
    if stats is None:
        return Output("(no commits yet: nothing to diff against)\n")
    return Output(
        f"Uncommitted changes under {target.relative!r}:\n"
        + _stat_table(context.policy, view, stats)
    )


def _stat_table(policy: ScopePolicy, view: GitView, stats: list[tuple[str, str, str]]) -> str:
    lines = []
    hidden = 0
    for added, deleted, repo_path in stats:
        relative = view.to_project(repo_path)
        if relative is None or not listable(policy, relative):
            hidden += 1
            continue
        lines.append(f"{relative} | +{added} -{deleted}")
    lines.append(f"{len(lines)} files changed" if lines else "(no file changes in scope)")
    if hidden:
        lines.append(f"({hidden} files outside the mission's scope or policy not shown)")
    return "\n".join(lines) + "\n"


_REV = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/~^\-]*$")


def check_rev(rev: str) -> None:
    """Refuse (``invalid_rev``) anything but a single commit name; never an option."""
    if rev.startswith("-"):
        raise ToolRefused(
            "invalid_rev", f"rev {rev!r} starts with '-'; give a commit, branch or HEAD~n."
        )
    if not _REV.match(rev) or ".." in rev:
        raise ToolRefused(
            "invalid_rev",
            f"rev {rev!r} is not a single commit name; give a sha, a branch, a tag or HEAD~n.",
        )
