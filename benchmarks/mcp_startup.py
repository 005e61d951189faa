"""Benchmark: ``codex-oss mcp`` answers ``initialize`` then ``tools/list`` (a cold start).

Codex starts every registered MCP server on each ``codex exec`` and waits for its tool list,
so this start-up is paid by every session. Target (issue 11): under 1 s here. Each sample
starts a fresh server process, speaks JSON-RPC to it over its stdin/stdout as Codex does,
and stops the clock when the tool list arrives; beside it, ``python -c pass`` measured in the
same run is the floor of any Python process.

    .venv/bin/python benchmarks/mcp_startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 1.0
SERVER = [sys.executable, "-c", "from bridge.cli import main; main()", "mcp"]
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "codex-mcp-client", "version": "0.169.0"},
    },
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}
TOOLS_LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}


def one_start(project: Path) -> tuple[float, int]:
    """Seconds from spawn to the tools/list answer, and how many tools it listed."""
    started = time.perf_counter()
    server = subprocess.Popen(
        [*SERVER, "--project", str(project)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=project,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        server.stdin.write((json.dumps(INITIALIZE) + "\n").encode())
        server.stdin.flush()
        json.loads(server.stdout.readline())
        rest = json.dumps(INITIALIZED) + "\n" + json.dumps(TOOLS_LIST) + "\n"
        server.stdin.write(rest.encode())
        server.stdin.flush()
        answer = json.loads(server.stdout.readline())
        elapsed = time.perf_counter() - started
    finally:
        server.stdin.close()
        server.wait(10)
    return elapsed, len(answer["result"]["tools"])


def python_floor() -> float:
    """Seconds for ``python -c pass``."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        one_start(project)  # warm the file cache, as a second Codex session finds it
        samples, tools = [], 0
        floors = []
        for _ in range(args.repeat):
            seconds, tools = one_start(project)
            samples.append(seconds)
            floors.append(python_floor())
    median = statistics.median(samples)
    print(f"codex-oss mcp, initialize + tools/list ({tools} tools), {args.repeat} cold starts:")
    print(f"  median {median:.3f} s   min {min(samples):.3f} s   max {max(samples):.3f} s")
    print(f"  baseline python -c pass: median {statistics.median(floors):.3f} s")
    verdict = "meets" if median < TARGET_SECONDS else "MISSES"
    print(f"  target < {TARGET_SECONDS:.1f} s: {verdict}")


if __name__ == "__main__":
    main()
