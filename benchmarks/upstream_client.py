"""Throughput of the upstream client against a scripted upstream in its own process.

Prints requests per second for the UpstreamClient (caps, breaker, events on) beside a
baseline of bare ``httpx.AsyncClient.post`` calls over the same connection pool settings, at
the same concurrency. The scripted upstream runs as ``codex-oss scripted-upstream`` in a
subprocess so it does not share this process's event loop or GIL.

    python benchmarks/upstream_client.py [--requests 4000] [--concurrency 32] [--stream]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from runtime.events import ModelCalled
from runtime.registry import Profile
from runtime.settings import Settings
from runtime.upstream import UpstreamClient

BODY = {"messages": [{"role": "user", "content": "ping"}], "max_tokens": 8}


def start_upstream(workdir: Path) -> tuple[subprocess.Popen[str], str]:
    script = workdir / "script.json"
    script.write_text(json.dumps({"*": {"turns": [{"content": "pong"}], "repeat_last": True}}))
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from bridge.cli import main; main()",
            "scripted-upstream",
            str(script),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().split()[-1]


async def run_client(base_url: str, total: int, concurrency: int, stream: bool) -> float:
    settings = Settings(
        MAX_GLOBAL_UPSTREAM_CONCURRENCY=concurrency,
        MODEL_CONCURRENCY_JSON={},
        UPSTREAM_STREAM=stream,
    )
    chain = [Profile("bench", base_url, "k", "bench-model", False, 3)]
    events: list[ModelCalled] = []
    async with UpstreamClient(settings) as client:
        queue = iter(range(total))

        async def worker() -> None:
            for _ in queue:
                await client.complete(chain, BODY, on_event=events.append)

        await asyncio.gather(*(worker() for _ in range(concurrency)))  # warm the pool
        queue = iter(range(total))
        events.clear()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    assert len(events) == total and all(e.outcome == "ok" for e in events)
    return total / elapsed


async def run_baseline(base_url: str, total: int, concurrency: int) -> float:
    limits = httpx.Limits(
        max_connections=concurrency * 2 + 8, max_keepalive_connections=concurrency + 8
    )
    async with httpx.AsyncClient(limits=limits, timeout=None) as http:
        url = f"{base_url}/chat/completions"
        queue = iter(range(total))

        async def worker() -> None:
            for _ in queue:
                (await http.post(url, json={**BODY, "model": "bench-model"})).json()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        queue = iter(range(total))
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--stream", action="store_true", help="UPSTREAM_STREAM=true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        process, base_url = start_upstream(Path(workdir))
        try:
            baseline = asyncio.run(run_baseline(base_url, args.requests, args.concurrency))
            ours = asyncio.run(run_client(base_url, args.requests, args.concurrency, args.stream))
        finally:
            process.terminate()
            process.wait(timeout=10)
    mode = "stream" if args.stream else "json"
    print(f"concurrency {args.concurrency}, {args.requests} requests, upstream mode {mode}")
    print(f"baseline httpx.post:  {baseline:8.0f} req/s")
    print(f"UpstreamClient:       {ours:8.0f} req/s  ({ours / baseline:.0%} of baseline)")


if __name__ == "__main__":
    main()
