"""Scope policy: which project paths a mission's tools may touch, decided before any byte is read.

A path the model names goes through :meth:`ScopePolicy.resolve`: refused outright if it holds a
NUL byte, starts with ``~`` or uses backslashes; normalised; checked by name (secrets, git
internals, runtime state, forbidden and critical roots) both as written and after every
symlink is resolved; required to stay inside the project and the mission's allowed scope. Name
checks compare case-folded text, so ``.ENV`` and ``.Git/config`` are caught on any file system.

The checks on names are pure (:meth:`ScopePolicy.is_denied_relative`, :meth:`in_scope`); only
``resolve`` touches the file system, and only to follow symlinks and test existence.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import stat
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runtime.mission import MissionV1, is_within

__all__ = [
    "BLOCKED_REASON_CODES",
    "DEFAULT_CRITICAL_ROOTS",
    "SECRET_NAME_PATTERNS",
    "ResolvedPath",
    "ScopeDenied",
    "ScopePolicy",
]

DEFAULT_CRITICAL_ROOTS: tuple[str, ...] = (
    ".github/workflows",
    "deploy",
    "infra",
    "migrations",
    "secrets",
)

# File names (compared case-folded) whose content is a credential or key material.
SECRET_NAME_PATTERNS: tuple[str, ...] = (
    ".env*",
    "*.env",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "*.ppk",
    "*.kdbx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    "_netrc",
    ".pgpass",
    ".htpasswd",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
)
# Directories (any depth) whose whole content is credentials.
SECRET_DIRS: tuple[str, ...] = (".ssh", ".aws", ".gnupg", ".docker")
RUNTIME_DIR = ".codex-oss"
_SECRET_NAME = re.compile("|".join(map(fnmatch.translate, SECRET_NAME_PATTERNS)))

# ScopeDenied reason codes that mean the model reached for something it must not see.
BLOCKED_REASON_CODES = frozenset(
    {
        "secret_path",
        "git_internals",
        "runtime_state",
        "forbidden_root",
        "critical_root",
        "path_escape",
        "outside_scope",
        "nul_byte",
        "invalid_path",
    }
)


class ScopeDenied(Exception):
    """A path the mission may not touch; ``message`` is a plain sentence for the model."""

    def __init__(self, reason_code: str, message: str):
        super().__init__(message)
        self.reason_code = reason_code
        self.message = message


@dataclass(frozen=True)
class ResolvedPath:
    """A path inside the project: POSIX project-relative (as evidence names it) and absolute."""

    relative: str
    absolute: Path


class ScopePolicy:
    """Scope decisions for one mission in one project."""

    def __init__(
        self,
        project_root: Path,
        mission: MissionV1,
        critical_roots: Sequence[str] = DEFAULT_CRITICAL_ROOTS,
    ):
        self.project_root = Path(os.path.realpath(project_root))
        self._given_root = Path(os.path.abspath(project_root))
        self._root_prefix = os.path.join(self.project_root, "")  # with one trailing separator
        # The root's identity: a walk down from it trusts it only while it names this directory.
        self._root_st = os.stat(self.project_root) if self.project_root.is_dir() else None
        self.scope: tuple[str, ...] = tuple(
            dict.fromkeys([*mission.allowed_roots, *mission.allowed_paths])
        )
        self._forbidden = tuple(_fold(root) for root in mission.forbidden_roots)
        self._critical = tuple(_fold(posixpath.normpath(root)) for root in critical_roots)
        self.critical_allowed = bool(
            mission.critical_path_read_allowed and (mission.critical_path_reason or "").strip()
        )

    # -- the one entry point that touches the file system -------------------------------

    def resolve(
        self, path: str, *, allow_scope_ancestor: bool = False, must_exist: bool = True
    ) -> ResolvedPath:
        """Resolve ``path`` (relative to the project) or raise :class:`ScopeDenied`.

        ``allow_scope_ancestor`` admits a directory above the scope (``ls .`` when the scope is
        ``src``); callers must then filter what they show with :meth:`visible`.
        ``must_exist=False`` lets a deleted path through (``git_diff_stat`` of a removed file).
        """
        relative = self._lexical(path)
        self._check_name(relative, path)
        # Resolve every symlink before looking at the target: the real path decides.
        real = self._real(relative)
        real_relative = self._inside_project(real, path)
        if real_relative != relative:
            self._check_name(real_relative, path, via_link=True)
        for candidate in {relative, real_relative}:
            if not self._scope_ok(candidate, allow_scope_ancestor):
                raise ScopeDenied(
                    "outside_scope",
                    f"{path!r} is outside this mission's scope; allowed: {', '.join(self.scope)}.",
                )
        if must_exist and not os.path.lexists(real):
            raise ScopeDenied("not_found", f"{path!r} does not exist in the project.")
        return ResolvedPath(relative=real_relative, absolute=Path(real))

    # -- pure decisions on project-relative names ---------------------------------------

    def is_denied_relative(self, relative: str) -> str | None:
        """The reason code denying normalised project-relative ``relative``, or None."""
        folded = _fold(relative)
        parts = folded.split("/")
        if ".git" in parts:
            return "git_internals"
        if parts[0] == RUNTIME_DIR:
            return (
                "secret_path" if len(parts) > 1 and parts[1].startswith("env") else "runtime_state"
            )
        if any(part in SECRET_DIRS for part in parts) or _SECRET_NAME.match(parts[-1]):
            return "secret_path"
        if any(is_within(folded, root) for root in self._forbidden):
            return "forbidden_root"
        if not self.critical_allowed and self.is_critical(relative):
            return "critical_root"
        return None

    def is_critical(self, relative: str) -> bool:
        """Whether ``relative`` lies in a critical root (whatever the mission allows)."""
        folded = _fold(relative)
        return any(is_within(folded, root) for root in self._critical)

    def in_scope(self, relative: str) -> bool:
        """Whether ``relative`` is one of the mission's allowed roots/paths or below one."""
        return any(is_within(relative, root) for root in self.scope)

    def is_scope_ancestor(self, relative: str) -> bool:
        """Whether directory ``relative`` lies above some allowed root/path (``.`` above all)."""
        return any(root != "." and is_within(root, relative) for root in self.scope)

    def visible(self, relative: str) -> bool:
        """Whether an entry may appear in a listing or search: in scope (or on the way to it)
        and not denied by name."""
        scoped = self.in_scope(relative) or self.is_scope_ancestor(relative)
        return scoped and self.is_denied_relative(relative) is None

    # -- helpers --------------------------------------------------------------------------

    def _lexical(self, path: str) -> str:
        if not isinstance(path, str):
            raise ScopeDenied("invalid_path", f"path must be a string, got {type(path).__name__}.")
        if "\x00" in path:
            raise ScopeDenied("nul_byte", f"{path!r} contains a NUL byte; paths cannot hold one.")
        text = path.strip() or "."
        if text.startswith("~"):
            raise ScopeDenied(
                "path_escape",
                f"{path!r} starts with '~'; home directories are not expanded. "
                "Use a path relative to the project.",
            )
        if "\\" in text:
            raise ScopeDenied(
                "invalid_path", f"{path!r} uses backslashes; use project-relative POSIX paths."
            )
        if posixpath.isabs(text):
            # An absolute path is accepted only when it names a place inside the project
            # (as the project's real path, or as the path it was given by).
            inside = _relative_to(posixpath.normpath(text), self.project_root, self._given_root)
            if inside is None:
                raise ScopeDenied(
                    "path_escape",
                    f"{path!r} is an absolute path outside the project; "
                    "use a path relative to the project.",
                )
            text = inside
        normal = posixpath.normpath(text)
        if normal == ".." or normal.startswith("../"):
            raise ScopeDenied("path_escape", f"{path!r} leads outside the project.")
        return normal

    def _real(self, relative: str) -> str:
        """``os.path.realpath`` of project path ``relative``, by lstat from the root down (not from
        ``/``) while no part below the root is a link and the root names the directory it did."""
        real = self._root_prefix[:-1]  # no trailing separator ("" for the root "/")
        try:
            for part in relative.split("/") if relative != "." else ():
                real += os.sep + part
                if stat.S_ISLNK(os.lstat(real).st_mode):
                    break
            else:  # no link below the root: whether it is still the same directory decides
                if self._root_st and os.path.samestat(os.stat(self._root_prefix), self._root_st):
                    return real or os.sep
        except OSError:
            pass  # a part is missing (or the root is): realpath says what the path names
        return os.path.realpath(os.path.join(self.project_root, relative))

    def _inside_project(self, real: str, path: str) -> str:
        # Both are real paths (absolute, normalised): a prefix test decides what relpath would.
        if real == str(self.project_root):
            return "."
        if not real.startswith(self._root_prefix):
            raise ScopeDenied(
                "path_escape",
                f"{path!r} resolves (through a symlink) to a place outside the project.",
            )
        return real[len(self._root_prefix) :].replace(os.sep, "/")

    def _check_name(self, relative: str, path: str, *, via_link: bool = False) -> None:
        reason = self.is_denied_relative(relative)
        if reason is None:
            return
        how = f" (it resolves to {relative!r})" if via_link else ""
        raise ScopeDenied(reason, f"{path!r}{how} {_WHY[reason]}")

    def _scope_ok(self, relative: str, allow_scope_ancestor: bool) -> bool:
        ancestor = allow_scope_ancestor and (relative == "." or self.is_scope_ancestor(relative))
        return self.in_scope(relative) or ancestor


_WHY: dict[str, str] = {
    "git_internals": "is inside .git/; use the git_* tools to ask about the repository.",
    "runtime_state": "is the bridge's own state (.codex-oss/) and is not readable by tools.",
    "secret_path": "may hold credentials or key material and is never read.",
    "forbidden_root": "is under a root this mission forbids.",
    "critical_root": (
        "is on a critical path; reading it needs critical_path_read_allowed and a "
        "critical_path_reason in the mission."
    ),
}


def _relative_to(absolute: str, *roots: Path) -> str | None:
    """``absolute`` relative to the first root it lies under, or None."""
    for root in roots:
        inside = os.path.relpath(absolute, root)
        if inside != ".." and not inside.startswith("../"):
            return inside
    return None


def _fold(text: str) -> str:
    """Case-folded, Unicode-normalised text: what name comparisons use."""
    return unicodedata.normalize("NFKC", text).casefold()
