"""Claim secret-containment: secrets stay out of the model's input, the disk and the answer."""

from __future__ import annotations

import pytest

from pytest_opencode_bridge.harness import UPSTREAM_TEST_KEY, final_action, tool_action

pytestmark = pytest.mark.claim("secret-containment")

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
DOTENV_SECRET = "dotenv-value-4f9c2a7e1b"


async def test_a_dotenv_file_is_never_read(buggy_project, mission_runner):
    script = {
        "kimi-k2.6": [
            tool_action("read", path=".env"),
            tool_action("grep", pattern="TOKEN", path="."),
            final_action(refs=["file:.env#L1-L1"]),
        ]
    }
    run = await mission_runner.run(buggy_project, script)

    assert run.outcome.status != "COMPLETE"
    assert run.events_of("ToolCallDenied")
    for text in (run.upstream_text(), run.disk_text(), run.outcome.final_text):
        assert DOTENV_SECRET not in text


async def test_a_committed_key_is_redacted_but_ordinary_words_survive(
    buggy_project, mission_runner
):
    script = {
        "kimi-k2.6": [
            tool_action("read", path="src/config.py"),
            final_action(refs=["file:src/config.py#L1-L2"], claim="a key is committed"),
        ]
    }
    run = await mission_runner.run(buggy_project, script)

    assert "REGION" in run.upstream_text()
    assert "AWS_ACCESS_KEY_ID" in run.upstream_text()
    for text in (run.upstream_text(), run.disk_text(), run.outcome.final_text):
        assert AWS_KEY not in text


async def test_the_upstream_key_never_reaches_the_disk(buggy_project, mission_runner):
    script = {
        "kimi-k2.6": [
            tool_action("read", path="src/app.py"),
            final_action(refs=["file:src/app.py#L3-L3"], claim=f"saw {UPSTREAM_TEST_KEY}"),
        ]
    }
    run = await mission_runner.run(buggy_project, script)

    # the claim holding the key did reach the disk, redacted
    assert "saw [REDACTED" in run.disk_text()
    assert UPSTREAM_TEST_KEY not in run.disk_text()
    assert UPSTREAM_TEST_KEY not in run.outcome.final_text
