"""Fixtures the plugin exposes: a scripted OpenAI-compatible upstream on a free port.

``scripted_upstream`` (async, function scope) is a running server with an empty script:
call ``scripted_upstream.set_script({...})`` (or ``add_turns``) before driving it, then point
clients at ``scripted_upstream.base_url``. ``scripted_upstream_thread`` is the same server on
its own event loop in a thread, for tests that drive subprocesses (the Codex CLI) and must
not block on the test's loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bridge.scripted_upstream import ScriptedUpstream

try:  # the plugin must load without the test extra; fixtures then need asyncio mode "auto"
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover
    _async_fixture = pytest.fixture

__all__ = ["scripted_upstream", "scripted_upstream_thread"]


@_async_fixture
async def scripted_upstream() -> AsyncIterator[ScriptedUpstream]:
    """A scripted upstream with an empty script, served on 127.0.0.1 for one test."""
    async with ScriptedUpstream() as upstream:
        yield upstream


@pytest.fixture
def scripted_upstream_thread() -> Iterator[ScriptedUpstream]:
    """A scripted upstream served from its own thread and event loop, for one test."""
    with ScriptedUpstream.in_thread() as upstream:
        yield upstream
