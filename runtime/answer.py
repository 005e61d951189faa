"""The mission's last message: a short human summary and the machine report between tags.

Codex hands the parent only the child's last assistant message, so everything GPT needs to
judge the work must be in this one text. Much of that text is the model's (finding claims,
caveats, a patch rationale), so model text must never be able to open or close a report block
of its own: ``<`` and ``>`` are escaped inside the JSON, the markers are defused in the summary,
and :func:`extract_report` accepts only a message with exactly one block, at its end. A
first-match and a last-match parser then read the same, runtime-rendered block.
"""

from __future__ import annotations

import json
import re
from typing import Any

REPORT_OPEN = "<OSS_REPORT_JSON>"
REPORT_CLOSE = "</OSS_REPORT_JSON>"
MAX_FINDINGS_SHOWN = 8

# Any spelling a lenient parser might take for a block marker, report or handoff: the
# summary is read by people and models, so both kinds are defused there.
_MARKER = re.compile(r"<\s*(/?)\s*(OSS_(?:REPORT|HANDOFF)_JSON)\s*>", re.IGNORECASE)


def render_answer(
    report: dict[str, Any],
    *,
    review_markdown: str | None = None,
    note: str | None = None,
    delivery: str | None = None,
) -> str:
    """Summary lines, the review packet, then the report JSON between the tags.

    The review packet is ``review_markdown``, else the one a patch report carries. ``note`` is
    a line from the bridge placed first (e.g. that the answer was replayed from an earlier run).
    """
    closure = report.get("closure") or {}
    lines = [note] if note else []
    lines.append(
        f"OSS mission {report.get('mission_id', '?')}: {report.get('status', '?')} "
        f"(confidence {report.get('confidence', '?')}; closed by "
        f"{closure.get('closed_by', '?')}: {closure.get('reason', '?')})"
    )
    findings = report.get("findings") or []
    for finding in findings[:MAX_FINDINGS_SHOWN]:
        refs = ", ".join(finding.get("evidence_refs") or []) or "no resolvable evidence"
        lines.append(f"- {finding.get('claim', '')} [{refs}]")
    if len(findings) > MAX_FINDINGS_SHOWN:
        lines.append(f"- ... {len(findings) - MAX_FINDINGS_SHOWN} more in the report")
    if report.get("synthesis_status"):
        # A recovery report: preserved evidence, never to be read as the model's answer.
        lines.append(f"Synthesis status: {report['synthesis_status']}")
        for source in report.get("source_pack") or []:
            lines.append(f"- source {source.get('ref', '')} ({source.get('tool', '')})")
    if closure.get("detail"):
        lines.append(f"Runtime notes: {closure['detail']}")
    if delivery:
        lines.append(delivery)  # how the visible commentary reached (or not) the client
    review_markdown = review_markdown or (report.get("patch") or {}).get("review_markdown")
    if review_markdown:
        lines += ["", review_markdown.strip()]
    summary = defuse_markers("\n".join(lines))
    return f"{summary}\n\n{REPORT_OPEN}{report_json(report)}{REPORT_CLOSE}"


def report_json(report: dict[str, Any]) -> str:
    """The report as JSON in which no ``<`` or ``>`` appears (they are ``\\u003c``/``\\u003e``).

    Outside strings JSON has no ``<`` or ``>``, so escaping every one leaves the same value and
    leaves no way for a string inside to spell a closing tag.
    """
    text = json.dumps(report, ensure_ascii=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def defuse_markers(text: str) -> str:
    """``text`` with every report or handoff marker turned into ``[OSS_..._JSON]`` brackets."""
    return _MARKER.sub(lambda m: f"[{m.group(1)}{m.group(2)}]", text)


def extract_report(text: str) -> dict[str, Any] | None:
    """The report of a runtime-rendered final message, or None.

    The message must hold exactly one opening and one closing marker, with the block at the
    end: anything else is not a message the runtime wrote, and no guess is made about which
    block would be the real one.
    """
    body = text.rstrip()
    if body.count(REPORT_OPEN) != 1 or body.count(REPORT_CLOSE) != 1:
        return None
    if not body.endswith(REPORT_CLOSE):
        return None
    start = body.find(REPORT_OPEN)  # before the close: the close is the text's end
    try:
        data = json.loads(body[start + len(REPORT_OPEN) : -len(REPORT_CLOSE)])
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None
