"""What the bridge adds over calling the upstream directly: latency, throughput, CPU, memory.

One run, interleaved: blocks of requests straight to a zero-delay upstream alternate with
blocks of the same work through the bridge, at concurrency 1 and 32, streaming and not. The
bridge requests carry a real Codex request (a 45 KB capture); the direct requests carry the
chat-completions body the bridge makes of it. The upstream and each bridge run in their own
processes, so the bridge's CPU time and peak resident memory are its own.

    .venv/bin/python benchmarks/bridge_bench.py [--requests 300] [--rounds 4]

For scale (the LiteLLM proxy measured the same way on this kind of machine): about 20 ms added
at p50 (40 ms streaming) at concurrency 1, about 65 req/s (23 streaming) at concurrency 32,
15-40 ms of CPU per request, 450 MiB resident. Targets: at most 2 ms added at p50 (3 ms
streaming), at least ten times LiteLLM's throughput at concurrency 32, at most 1.5 ms of CPU
per request, under 100 MiB resident.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CAPTURE = REPO / "tests/fixtures/codex-0.169.0/exec_command_turn1.full.json"
KEY = "bench-local-key-0123456789"
UPSTREAM_MODEL = "bench-model"
ALIAS = "ocg-" + UPSTREAM_MODEL

LITELLM = {"p50_ms": 20.0, "p50_stream_ms": 40.0, "rps": 65.0, "rps_stream": 23.0, "rss_mib": 450}
TARGET = {"p50_ms": 2.0, "p50_stream_ms": 3.0, "cpu_ms": 1.5, "rss_mib": 100}

ANSWER = "Done: the command printed hi-from-tool and exited 0."


# -- the zero-delay upstream (its own process) --------------------------------------------------


def _completion_bytes() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 0,
            "model": UPSTREAM_MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ANSWER},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 9000, "completion_tokens": 14, "total_tokens": 9014},
        }
    ).encode()


def _stream_bytes() -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": UPSTREAM_MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return "data: " + json.dumps(body) + "\n\n"

    words = ANSWER.split(" ")
    parts = [chunk({"role": "assistant", "content": ""})]
    parts += [chunk({"content": w + " "}) for w in words]
    parts.append(chunk({}, "stop", usage={"prompt_tokens": 9000, "completion_tokens": 14}))
    parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


def serve_upstream(port_file: Path) -> None:
    """A chat-completions server that answers at once without parsing the body."""
    from aiohttp import web

    completion, stream = _completion_bytes(), _stream_bytes()

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if b'"stream":true' in body or b'"stream": true' in body:
            return web.Response(body=stream, content_type="text/event-stream")
        return web.Response(body=completion, content_type="application/json")

    async def main() -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        port_file.write_text(str(port))
        await asyncio.Event().wait()

    asyncio.run(main())


# -- process helpers ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def peak_rss_mib(pid: int, field: str = "VmHWM") -> float:
    """Peak resident set size (``VmHWM``; ``VmRSS`` for the current one) of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load_average() -> str:
    """The machine's 1/5/15-minute load: figures from a busy machine read differently."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def wait_for_file(path: Path, process: subprocess.Popen, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        if process.poll() is not None:
            raise SystemExit(f"process exited with {process.returncode} before writing {path}")
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {path}")


def start_bridge(upstream_url: str, upstream_stream: bool, workdir: Path) -> tuple[Any, int]:
    project = workdir / ("project-stream" if upstream_stream else "project-json")
    (project / ".git").mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PROXY_API_KEY": KEY,
        "UPSTREAM_BASE_URL": upstream_url,
        "OPENCODE_GO_API_KEY": "bench-upstream-key-987654321",
        "UPSTREAM_STREAM": "true" if upstream_stream else "false",
        "MAX_GLOBAL_UPSTREAM_CONCURRENCY": "64",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from bridge.cli import main; main(prog_name='codex-oss')",
            "up",
            "--port",
            "0",
            "--project",
            str(project),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    port = int(wait_for_file(project / ".codex-oss/run/bridge.port", process))
    return process, port


# -- load --------------------------------------------------------------------------------------


@dataclass
class Series:
    """Latencies and wall time of one target in one configuration."""

    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0
    errors: int = 0

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0


async def run_block(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    count: int,
    concurrency: int,
    series: Series,
) -> None:
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            queue.pop()
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    series.errors += 1
            series.latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    series.wall += time.perf_counter() - started


async def measure(
    direct_url: str,
    bridge_url: str,
    bridge_pid: int,
    direct_body: bytes,
    bridge_body: bytes,
    concurrency: int,
    requests: int,
    rounds: int,
) -> tuple[Series, Series]:
    connector = aiohttp.TCPConnector(limit=0)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"}
    direct, bridged = Series(), Series()
    async with aiohttp.ClientSession(connector=connector) as session:
        warm = Series()
        await run_block(session, direct_url, direct_body, headers, 50, concurrency, warm)
        await run_block(session, bridge_url, bridge_body, headers, 50, concurrency, warm)
        per_block = max(1, requests // rounds)
        for _ in range(rounds):
            await run_block(
                session, direct_url, direct_body, headers, per_block, concurrency, direct
            )
            before = cpu_seconds(bridge_pid)
            await run_block(
                session, bridge_url, bridge_body, headers, per_block, concurrency, bridged
            )
            bridged.cpu += cpu_seconds(bridge_pid) - before
    return direct, bridged


# -- main --------------------------------------------------------------------------------------


def verdicts(results: list[dict[str, Any]], rss: dict[str, float]) -> list[str]:
    """One line per target: the worst measured figure beside it, and whether it holds."""

    def row(mode: str, concurrency: int) -> dict[str, Any]:
        return next(r for r in results if r["mode"] == mode and r["concurrency"] == concurrency)

    checks = [
        ("added p50, json, c=1", row("json", 1)["added_p50_ms"], "<=", TARGET["p50_ms"], "ms"),
        (
            "added p50, stream, c=1",
            row("stream", 1)["added_p50_ms"],
            "<=",
            TARGET["p50_stream_ms"],
            "ms",
        ),
        ("req/s, json, c=32", row("json", 32)["bridge_rps"], ">=", 10 * LITELLM["rps"], ""),
        (
            "req/s, stream, c=32",
            row("stream", 32)["bridge_rps"],
            ">=",
            10 * LITELLM["rps_stream"],
            "",
        ),
        (
            "CPU per request (worst)",
            max(r["cpu_ms_per_request"] for r in results),
            "<=",
            TARGET["cpu_ms"],
            "ms",
        ),
        ("peak RSS (worst)", max(rss.values()), "<", TARGET["rss_mib"], " MiB"),
    ]
    lines = []
    for name, value, op, bound, unit in checks:
        ok = value <= bound if op == "<=" else value >= bound if op == ">=" else value < bound
        figure = f"{value:.2f}{unit}" if unit else f"{value:.0f}"
        lines.append(
            f"  {name:<26}{figure:>11}   target {op} {bound:g}{unit}   {'ok' if ok else 'MISSED'}"
        )
    return ["targets:", *lines]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--capture", type=Path, default=DEFAULT_CAPTURE)
    parser.add_argument("--requests", type=int, default=400, help="per target and configuration")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved blocks per target")
    parser.add_argument("--serve-upstream", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return

    from bridge.translate import to_chat

    capture = json.loads(args.capture.read_text(encoding="utf-8"))
    request = capture.get("body", capture)
    workdir = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    port_file = workdir / "upstream.port"
    upstream = subprocess.Popen(
        [sys.executable, __file__, "--serve-upstream", str(port_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    processes = [upstream]
    try:
        upstream_url = f"http://127.0.0.1:{wait_for_file(port_file, upstream)}/v1"
        bridges = {}
        for streaming in (False, True):
            process, port = start_bridge(upstream_url, streaming, workdir)
            processes.append(process)
            bridges[streaming] = (process.pid, f"http://127.0.0.1:{port}/v1/responses")

        chat = to_chat(request).body
        idle = {
            ("stream" if s else "json"): peak_rss_mib(pid, "VmRSS")
            for s, (pid, _) in bridges.items()
        }
        print(f"load average: {load_average()}")
        print(
            f"Codex request: {len(json.dumps(request)) / 1024:.1f} KiB, "
            f"{len(request.get('input', []))} input items, {len(request.get('tools', []))} tools"
        )
        print(
            f"{'mode':<7}{'conc':>5}{'direct p50':>12}{'bridge p50':>12}{'added p50':>11}"
            f"{'added p99':>11}{'direct rps':>12}{'bridge rps':>12}{'CPU/req':>10}{'errors':>8}"
        )
        results = []
        for streaming in (False, True):
            pid, bridge_url = bridges[streaming]
            direct_body = json.dumps(
                {**chat, "model": UPSTREAM_MODEL, **({"stream": True} if streaming else {})}
            ).encode()
            bridge_body = json.dumps({**request, "model": ALIAS, "stream": streaming}).encode()
            for concurrency in (1, 32):
                direct, bridged = asyncio.run(
                    measure(
                        upstream_url + "/chat/completions",
                        bridge_url,
                        pid,
                        direct_body,
                        bridge_body,
                        concurrency,
                        args.requests,
                        args.rounds,
                    )
                )
                cpu_ms = bridged.cpu / len(bridged.latencies) * 1000
                row = {
                    "mode": "stream" if streaming else "json",
                    "concurrency": concurrency,
                    "direct_p50_ms": direct.p(0.5),
                    "bridge_p50_ms": bridged.p(0.5),
                    "added_p50_ms": bridged.p(0.5) - direct.p(0.5),
                    "added_p99_ms": bridged.p(0.99) - direct.p(0.99),
                    "direct_rps": direct.rps,
                    "bridge_rps": bridged.rps,
                    "cpu_ms_per_request": cpu_ms,
                    "errors": direct.errors + bridged.errors,
                }
                results.append(row)
                print(
                    f"{row['mode']:<7}{concurrency:>5}{row['direct_p50_ms']:>10.2f}ms"
                    f"{row['bridge_p50_ms']:>10.2f}ms{row['added_p50_ms']:>9.2f}ms"
                    f"{row['added_p99_ms']:>9.2f}ms{direct.rps:>12.0f}{bridged.rps:>12.0f}"
                    f"{cpu_ms:>8.2f}ms{row['errors']:>8}"
                )
        rss = {("stream" if s else "json"): peak_rss_mib(pid) for s, (pid, _) in bridges.items()}
        print(
            f"bridge RSS idle: json {idle['json']:.0f} MiB, stream {idle['stream']:.0f} MiB; "
            f"peak: json {rss['json']:.0f} MiB, stream {rss['stream']:.0f} MiB"
        )
        print(f"load average: {load_average()}")
        print(
            f"LiteLLM for scale: +{LITELLM['p50_ms']:.0f} ms p50 (+{LITELLM['p50_stream_ms']:.0f} "
            f"streaming) at c=1, {LITELLM['rps']:.0f} req/s ({LITELLM['rps_stream']:.0f} "
            f"streaming) at c=32, 15-40 ms CPU/req, {LITELLM['rss_mib']} MiB"
        )
        for line in verdicts(results, rss):
            print(line)
        print(json.dumps({"results": results, "peak_rss_mib": rss, "idle_rss_mib": idle}))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(10)


if __name__ == "__main__":
    main()
