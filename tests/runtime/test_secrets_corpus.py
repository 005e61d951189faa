"""The secrets corpus: every kind is caught, every look-alike survives, in the Redactor and over
a real mission (the scripted upstream's recorded requests and events.jsonl).

Before: a GitHub token split over two adjacent literals and a base64 ``sk_live_`` in a
Kubernetes Secret's ``data:`` reached the upstream and the log unredacted (so did the same
tricks with ``+`` and backslash continuations, and hex), and lockfile integrity digests were
redacted as high entropy. The figures: ``python -m tests.runtime.test_secrets_corpus``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_opencode_bridge.harness import final_action, make_git_project, tool_action
from runtime.redact import Redactor
from tests.runtime.secrets_corpus import LOOKALIKES, SECRETS, Secret, leaks, score

# Few enough files for an A3 mission's tool budget, each well inside one read window.
PER_FILE = 10


@pytest.mark.parametrize("case", SECRETS, ids=lambda case: case.kind)
def test_every_kind_of_secret_is_redacted(case: Secret):
    assert leaks(Redactor(), case) == []


@pytest.mark.parametrize("name", sorted(LOOKALIKES))
def test_every_lookalike_survives(name: str):
    text = LOOKALIKES[name]
    result = Redactor().redact(text)
    assert (result.text, result.count) == (text, 0)


def test_split_and_encoded_secrets_keep_line_numbers_and_surroundings():
    case = next(c for c in SECRETS if c.kind == "github_split_literals")
    result = Redactor().redact(case.text)
    assert result.text.count("\n") == case.text.count("\n")
    assert result.text.startswith("TOKEN = (\n")
    k8s = next(c for c in SECRETS if c.kind == "k8s_secret_base64")
    redacted = Redactor().redact(k8s.text).text
    assert "kind: Secret" in redacted and "STRIPE_KEY: [REDACTED:stripe_key_base64]" in redacted


def corpus_files() -> dict[str, str]:
    files: dict[str, str] = {}
    for start in range(0, len(SECRETS), PER_FILE):
        chunk = SECRETS[start : start + PER_FILE]
        files[f"notes/corpus_{start // PER_FILE}.md"] = "\n\n".join(c.text for c in chunk) + "\n"
    files["notes/lookalikes.md"] = "\n\n".join(LOOKALIKES.values()) + "\n"
    return files


async def test_no_secret_reaches_the_upstream_or_the_log_over_a_real_mission(
    tmp_path: Path, mission_runner
):
    files = corpus_files()
    project = make_git_project(tmp_path / "corpus", files)
    reads = [tool_action("read", reason="read the notes", path=path) for path in files]
    script = {"kimi-k2.6": [*reads, final_action(refs=["file:notes/lookalikes.md#L1-L1"])]}
    run = await mission_runner.run(project, script)

    observed = run.events_of("ToolObserved")
    assert len(observed) == len(files)  # every file was read, none denied
    upstream = run.upstream_text()
    log_text = run.log_path.read_text(encoding="utf-8")
    leaked = {
        case.kind
        for case in SECRETS
        for fragment in case.fragments
        if fragment in upstream or fragment in log_text
    }
    assert leaked == set()
    # The look-alikes reached the model intact (one line of each is enough to show it).
    for name, text in LOOKALIKES.items():
        assert _json_escaped(text.splitlines()[-1]) in upstream, name


def _json_escaped(line: str) -> str:
    import json

    return json.dumps(line)[1:-1]


if __name__ == "__main__":
    leaked, changed = score(Redactor())
    print(f"{len(SECRETS)} kinds of secret, {len(LOOKALIKES)} look-alikes")
    print(f"leaks: {len(leaked)} {leaked}")
    print(f"false positives: {len(changed)} {changed}")
