"""The delegation section ``codex-oss install`` keeps in a project's AGENTS.md.

The section sits between two HTML comment markers so a re-install replaces it in place and
leaves everything the user wrote around it alone. It tells GPT to delegate through the MCP
tool ``run_mission`` and holds no handoff block, not even in words: Codex forwards AGENTS.md
into every child request, and a literal block there would be a second handoff beside the
real one.
"""

from __future__ import annotations

BEGIN_MARKER = (
    "<!-- codex-oss:begin delegation (managed by `codex-oss install`; edits here are replaced) -->"
)
END_MARKER = "<!-- codex-oss:end delegation -->"
_BEGIN_PREFIX = "<!-- codex-oss:begin delegation"

SECTION_BODY = """\
## Delegating to open-source models (OpenCode Bridge)

This project can hand bounded work to open-source models through the OpenCode Bridge. The
runtime, not the model, owns the tools, the scope, the budgets and the evidence log.

How to delegate (GPT sessions):

1. **Call `run_mission`** (MCP server `opencode_bridge`; the tools sit in the
   `mcp__opencode_bridge` namespace: if you do not see them, search for `run_mission` with
   your tool search). Its arguments are `mission`, a MissionV1 object whose schema the tool
   lists (tier, objective, `allowed_roots` or `allowed_paths`, and for A4/A5 `owned_paths`),
   and `model`, a mission alias whose tier is at least the mission's:

   | alias | use it for |
   | --- | --- |
   | `mission-a2-flash` | a quick lookup: where is X defined, which files touch Y |
   | `mission-a3-kimi` | a read-only investigation, evidence-backed report |
   | `mission-a3-local` | the same on the local model (no account; weak) |
   | `mission-a4-kimi` | a patch proposal, validated but never applied |
   | `mission-a5-kimi` | a bounded change in an isolated git worktree, verified |

   Give each mission its own `mission_id`, and state the objective fully: the worker sees
   nothing else of this conversation. A refused call names the field to fix; nothing ran.
2. **Treat OSS output as evidence, not as truth.** The answer is the mission's report:
   `status`, findings with evidence refs (`file:<path>#L<start>-<end>`, `event:<seq>`),
   caveats. Check the findings against their evidence before you rely on them. `PARTIAL`,
   `ESCALATE` or `FAILED` is an answer too: narrow the mission or do the work yourself.
   `mission_report`, `mission_summary` and `mission_trace` read a mission's evidence again.
3. **Nothing is promoted without you.** A4/A5 results are a review packet, not an edit. Read
   it, and land a VERIFIED A5 patch only with `promote_patch` (it asks for approval;
   `rollback_patch` undoes it). The full log is `.codex-oss/runs/<run_id>/events.jsonl`.

Agent roles (`.codex/agents/`) are for sessions whose own model is an OSS alias on the bridge
provider. A GPT session's `spawn_agent` does not reach the bridge: Codex sends a spawned
role's requests to the parent's provider (openai/codex#40858), so delegate with
`run_mission` instead.
"""


class AgentsMdError(ValueError):
    """AGENTS.md holds a damaged managed section (a begin marker without its end, or twice)."""


def managed_section() -> str:
    """The whole managed section, markers included, ending in a newline."""
    return f"{BEGIN_MARKER}\n{SECTION_BODY}{END_MARKER}\n"


def merge_agents_md(current: str | None) -> str:
    """``current`` AGENTS.md text with the managed section replaced in place or appended."""
    section = managed_section()
    if current is None or not current.strip():
        return section
    lines = current.splitlines(keepends=True)
    begins = [i for i, line in enumerate(lines) if line.lstrip().startswith(_BEGIN_PREFIX)]
    ends = [i for i, line in enumerate(lines) if line.strip() == END_MARKER]
    if not begins and not ends:
        separator = "" if current.endswith("\n\n") else ("\n" if current.endswith("\n") else "\n\n")
        return current + separator + section
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise AgentsMdError(
            "AGENTS.md: the codex-oss delegation section is damaged "
            f"({len(begins)} begin and {len(ends)} end markers); keep exactly one "
            f"{_BEGIN_PREFIX} ... {END_MARKER} pair, or delete both markers and the text "
            "between them, then install again"
        )
    start, end = begins[0], ends[0]
    return "".join(lines[:start]) + section + "".join(lines[end + 1 :])
