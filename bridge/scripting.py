"""Scripted model turns and throwaway projects: what the scripted upstream plays and what it
plays against. The smoke check, the probes, the proof packs and the tests build their rigs
from these, so they live in the product; the pytest plugin imports them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def make_git_project(root: Path, files: Mapping[str, str], *, commit: bool = True) -> Path:
    """Write ``files`` under ``root``, make it a git repository and commit them."""
    import git

    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    repo = git.Repo.init(root)
    with repo.config_writer() as config:
        config.set_value("user", "name", "proof")
        config.set_value("user", "email", "proof@example.invalid")
    if commit and files:
        repo.index.add(sorted(files))
        repo.index.commit("initial")
    return root


def tool_action(name: str, reason: str = "look", **arguments: Any) -> dict[str, Any]:
    """A scripted turn whose Action calls tool ``name``."""
    return {
        "action": {
            "action_type": "tool_call",
            "tool_name": name,
            "arguments": arguments,
            "reason": reason,
            "phase": "EXPLORE",
        }
    }


def final_action(
    status: str = "COMPLETE",
    refs: list[str] | None = None,
    claim: str = "finding",
    confidence: str = "HIGH",
    quote: str | None = None,
) -> dict[str, Any]:
    """A scripted turn whose Action is the final report (``quote``: the finding's quote)."""
    finding: dict[str, Any] = {
        "claim": claim,
        "evidence_refs": refs or [],
        "confidence": confidence,
    }
    if quote is not None:
        finding["quote"] = quote
    findings = [finding]
    return {
        "action": {
            "action_type": "final_report",
            "reason": "done",
            "phase": "REPORT",
            "report": {"status": status, "confidence": confidence, "findings": findings},
        }
    }


def handoff_text(
    objective: str = "Investigate the project.",
    mission_id: str = "m-proof",
    tier: str = "A3",
    **fields: Any,
) -> str:
    """A user message holding one valid MissionV1 handoff block."""
    from runtime.mission import Tier, template

    mission = template(Tier(tier), objective, mission_id, **fields)
    return f"Please do this.\n<OSS_HANDOFF_JSON>{json.dumps(mission)}</OSS_HANDOFF_JSON>"
