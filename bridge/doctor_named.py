"""The doctor checks the origin document names, judged from the running bridge's ``/health``.

- ``bridge.source_hash``: the running bridge runs the code on disk (else: restart).
- ``runtime.identity``: the process answering is this installation's bridge (same version,
  the pid the run files name).
- ``bridge.project_root``: the bridge serves this project, not another checkout's.

``bridge.oss_inference`` (a live model call) is the doctor's ``--live-model`` check.
A check that cannot be judged because no bridge answers is ``skip``, never ``ok``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.source_hash import package_version

SOURCE_HASH = "bridge.source_hash"
IDENTITY = "runtime.identity"
PROJECT_ROOT = "bridge.project_root"
OSS_INFERENCE = "bridge.oss_inference"


def named_checks(
    project: Path,
    *,
    state: str,
    pid: int | None,
    health: dict[str, Any] | None,
    code_matches: bool | None,
    installed_version: str | None = None,
    port_health: dict[str, Any] | None = None,
) -> list[tuple[str, str, str]]:
    """``(name, status, detail)`` for the three bridge checks.

    ``health`` is this project's bridge's /health; ``port_health`` is whatever bridge answers on
    the port when this project's bridge is not running (another checkout's, say).
    """
    installed_version = installed_version or package_version()
    answering = health if health and health.get("status") == "ok" else None
    if answering is None:
        other = port_health if port_health and port_health.get("status") == "ok" else None
        why = "no bridge of this project answers /health; start it with 'codex-oss start'"
        if other is not None and _same_path(other.get("project"), project) is False:
            return [
                (SOURCE_HASH, "skip", why),
                (IDENTITY, "skip", why),
                (
                    PROJECT_ROOT,
                    "fail",
                    f"the bridge on the port serves {other.get('project')}, not {project}; "
                    "run 'codex-oss restart' from this project",
                ),
            ]
        return [(name, "skip", why) for name in (SOURCE_HASH, IDENTITY, PROJECT_ROOT)]
    return [
        _source_hash(answering, code_matches),
        _identity(answering, pid, installed_version, state),
        _project_root(answering, project),
    ]


def _source_hash(health: dict[str, Any], code_matches: bool | None) -> tuple[str, str, str]:
    running = health.get("source_hash")
    if code_matches is True:
        return SOURCE_HASH, "ok", f"the running code ({running}) matches the disk"
    if code_matches is False:
        return (
            SOURCE_HASH,
            "fail",
            f"the running code ({running}) differs from the disk; run 'codex-oss restart'",
        )
    return SOURCE_HASH, "warn", "the running bridge did not report its source hash"


def _identity(
    health: dict[str, Any], pid: int | None, installed_version: str, state: str
) -> tuple[str, str, str]:
    running = health.get("version")
    if state != "running" or pid is None:
        return IDENTITY, "fail", "a process answers on the port but the run files name none"
    if running != installed_version:
        return (
            IDENTITY,
            "fail",
            f"the bridge (pid {pid}) is version {running}, the installed one {installed_version}; "
            "run 'codex-oss restart'",
        )
    return IDENTITY, "ok", f"opencode-bridge {running}, pid {pid} as the run files record"


def _project_root(health: dict[str, Any], project: Path) -> tuple[str, str, str]:
    served = health.get("project")
    same = _same_path(served, project)
    if same is None:
        return PROJECT_ROOT, "warn", "the running bridge did not report its project"
    if not same:
        return (
            PROJECT_ROOT,
            "fail",
            f"the bridge serves {served}, not {project}; run 'codex-oss restart' from here",
        )
    return PROJECT_ROOT, "ok", f"serves {served}"


def _same_path(served: object, project: Path) -> bool | None:
    if not isinstance(served, str) or not served:
        return None
    return Path(served).resolve() == project.resolve()
