"""What a served request leaves behind: nothing that only a full garbage collection frees.

Objects caught in a reference cycle outlive their request until the collector's oldest
generation is scanned, which in a process holding a large import graph is rare. A cycle per
upstream response (httpx.AsyncClient's response/stream pair) that reached the upstream request
and its 40 KB body once grew a loaded streaming bridge by ~30 MiB.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys

import httpx
import pytest
from bridge_helpers import LOCAL_KEY, bridge_settings

from bridge.raw import ChunkRelay, SseWriter
from bridge.responses import EventStream

AUTH = {"Authorization": f"Bearer {LOCAL_KEY}", "Content-Type": "application/json"}
BRIDGE_TYPES = (SseWriter, ChunkRelay, EventStream)


def _is_upstream_request(obj: object) -> bool:
    return isinstance(obj, httpx.Request) and obj.url.path.endswith("/chat/completions")


@pytest.mark.parametrize(
    ("stream", "upstream_stream"), [(False, False), (True, False), (True, True)]
)
async def test_served_requests_leave_no_reference_cycles(
    upstream, start_bridge, stream, upstream_stream
):
    base = await start_bridge(
        bridge_settings(upstream.base_url, UPSTREAM_STREAM=upstream_stream),
        heartbeat_seconds=0.05,
    )
    upstream.set_script({"test-model": {"turns": [{"content": "a b c d"}], "repeat_last": True}})
    body = json.dumps(
        {
            "model": "ocg-test-model",
            "stream": stream,
            "input": [{"role": "user", "content": "hello"}],
        }
    )
    async with httpx.AsyncClient(timeout=30) as http:
        await http.post(f"{base}/responses", content=body, headers=AUTH)  # warm the pools
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(3):
                response = await http.post(f"{base}/responses", content=body, headers=AUTH)
                assert response.status_code == 200
            gc.collect()
            left = [
                type(obj).__name__
                for obj in gc.garbage
                if isinstance(obj, BRIDGE_TYPES) or _is_upstream_request(obj)
            ]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert left == []


def test_serving_raw_aliases_does_not_import_the_mission_runtime(tmp_path):
    """Start-up imports cost resident memory in every bridge; the mission path loads on use."""
    script = f"""
import sys
from pathlib import Path
from bridge.app import create_app
from runtime.settings import Settings
settings = Settings(UPSTREAM_BASE_URL="http://127.0.0.1:9/v1", PROXY_API_KEY=None)
create_app(settings, Path({str(tmp_path)!r}))
print(" ".join(sorted(sys.modules)))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(done.stdout.split())
    assert "bridge.app" in loaded
    unwanted = {"detect_secrets", "runtime.redact", "bridge.missions", "runtime.runner", "git"}
    assert loaded & unwanted == set()
