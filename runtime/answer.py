"""The mission's last message: a short human summary and the machine report between tags.

Codex hands the parent only the child's last assistant message, so everything GPT needs to
judge the work must be in this one text.
"""

from __future__ import annotations

import json
from typing import Any

REPORT_OPEN = "<OSS_REPORT_JSON>"
REPORT_CLOSE = "</OSS_REPORT_JSON>"
MAX_FINDINGS_SHOWN = 8


def render_answer(report: dict[str, Any], *, review_markdown: str | None = None) -> str:
    """Summary lines, an optional review packet, then the report JSON between the tags."""
    closure = report.get("closure") or {}
    lines = [
        f"OSS mission {report.get('mission_id', '?')}: {report.get('status', '?')} "
        f"(confidence {report.get('confidence', '?')}; closed by "
        f"{closure.get('closed_by', '?')}: {closure.get('reason', '?')})"
    ]
    findings = report.get("findings") or []
    for finding in findings[:MAX_FINDINGS_SHOWN]:
        refs = ", ".join(finding.get("evidence_refs") or []) or "no resolvable evidence"
        lines.append(f"- {finding.get('claim', '')} [{refs}]")
    if len(findings) > MAX_FINDINGS_SHOWN:
        lines.append(f"- ... {len(findings) - MAX_FINDINGS_SHOWN} more in the report")
    if closure.get("detail"):
        lines.append(f"Runtime notes: {closure['detail']}")
    if review_markdown:
        lines += ["", review_markdown.strip()]
    body = json.dumps(report, ensure_ascii=False, sort_keys=True)
    return "\n".join([*lines, "", REPORT_OPEN + body + REPORT_CLOSE])


def extract_report(text: str) -> dict[str, Any] | None:
    """The report a final message carries, or None when it has no well-formed block."""
    start = text.rfind(REPORT_OPEN)
    end = text.rfind(REPORT_CLOSE)
    if start < 0 or end < start:
        return None
    try:
        data = json.loads(text[start + len(REPORT_OPEN) : end])
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None
