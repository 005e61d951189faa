"""The delegation section ``codex-oss install`` keeps in a project's AGENTS.md.

The section sits between two HTML comment markers so a re-install replaces it in place and
leaves everything the user wrote around it alone. It names the handoff block's tags only in
words, never as a literal block: Codex forwards AGENTS.md into every child request, and a
literal block there would be a second handoff beside the real one.
"""

from __future__ import annotations

BEGIN_MARKER = (
    "<!-- codex-oss:begin delegation (managed by `codex-oss install`; edits here are replaced) -->"
)
END_MARKER = "<!-- codex-oss:end delegation -->"
_BEGIN_PREFIX = "<!-- codex-oss:begin delegation"

SECTION_BODY = """\
## Delegating to open-source subagents (OpenCode Bridge)

This project can hand bounded work to open-source models through the OpenCode Bridge
(`codex-oss up` serves it). The roles are in `.codex/agents/`:

| role | alias | use it for |
| --- | --- | --- |
| `oss_scout` | `mission-a2-flash` | a quick lookup: where is X defined, which files touch Y |
| `oss_investigator` | `mission-a3-kimi` | a read-only investigation, evidence-backed report |
| `oss_local_investigator` | `mission-a3-local` | the same on the local model (no account; weak) |
| `oss_patch_proposer` | `mission-a4-kimi` | a patch proposal, validated but never applied |
| `oss_implementer` | `mission-a5-kimi` | a bounded change in an isolated git worktree, verified |
| `oss_raw_worker` | `ocg-kimi-k2.6` | an ordinary read-only Codex worker on an open-source model |

How to delegate:

1. **One handoff block per spawned worker.** Call `spawn_agent` with `agent_type` set to
   the role and a `message` that holds exactly one OSS_HANDOFF_JSON block (the tag name in
   angle brackets, the MissionV1 JSON, then the closing tag). Never put two blocks in one
   message and never reuse a block for a second worker; give each its own `mission_id`.
   `codex-oss mission template` prints a valid starting document for a tier, and
   `codex-oss validate-handoff` checks a block before you spend a worker on it.
2. **No context fork.** Leave `fork_context` false (or omit it). The worker sees only the
   spawn message, so the mission JSON must carry everything it needs: the objective, the
   `allowed_roots` or `allowed_paths`, and for A4/A5 the `owned_paths`.
3. **Treat OSS output as evidence, not as truth.** The worker's final message holds a short
   summary and a machine report between OSS_REPORT_JSON tags. Check the findings against
   their evidence refs (`file:<path>#L<start>-<end>`, `event:<seq>`) before you rely on them.
   `PARTIAL`, `ESCALATE` or `FAILED` means: narrow the mission or do the work yourself.
4. **Nothing is promoted without you.** A4/A5 results are a review packet, not an edit:
   read `.codex-oss/missions/<mission_id>/review_packet.json` and `patch.diff`, and apply the
   change yourself only if it is sound. The full log is `.codex-oss/runs/<run_id>/events.jsonl`.
5. `oss_raw_worker` has no runtime behind it: give it a plain task (no handoff block) and
   review what it says like any other unverified answer.
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
