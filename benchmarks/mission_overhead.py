"""The runtime's own overhead per tool step, excluding the model's time.

Runs a 10-step A3 mission against a zero-delay scripted upstream on 127.0.0.1 and times the
whole mission, minus the time spent waiting on the model client. Beside it, the baseline: the
same ten tool calls run directly on the toolbox, with no log, policy-checked loop, commentary
or projections. Target: under 5 ms of runtime overhead per step.

    .venv/bin/python benchmarks/mission_overhead.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bridge.scripted_upstream import ScriptedUpstream
from pytest_opencode_bridge.harness import final_action, handoff_text, make_git_project, tool_action
from runtime.admission import admit
from runtime.mission import Tier, compile_mission, template
from runtime.redact import Redactor
from runtime.registry import ModelRegistry
from runtime.runner import run_mission
from runtime.settings import Settings
from runtime.tools import ProjectToolBox
from runtime.upstream import UpstreamClient

STEPS = 10


class TimedClient:
    """Wraps the model client and adds up the time spent waiting on it."""

    def __init__(self, inner: UpstreamClient):
        self.inner = inner
        self.waited = 0.0

    async def complete(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await self.inner.complete(*args, **kwargs)
        finally:
            self.waited += time.perf_counter() - started


def make_project(root: Path) -> Path:
    files = {
        f"src/module_{n}.py": "".join(f"value_{i} = {i}\n" for i in range(80)) for n in range(STEPS)
    }
    return make_git_project(root, files)


def script() -> dict[str, Any]:
    turns = [
        tool_action("read", path=f"src/module_{n}.py", start_line=1, end_line=40)
        for n in range(STEPS)
    ]
    turns.append(
        final_action(
            refs=["file:src/module_0.py#L1-L10"], claim="value_3 is 3", quote="value_3 = 3"
        )
    )
    return {"kimi-k2.6": turns}


async def one_mission(project: Path, upstream: ScriptedUpstream, n: int) -> tuple[float, float]:
    upstream.set_script(script())
    settings = Settings(UPSTREAM_BASE_URL=upstream.base_url, OPENCODE_GO_API_KEY="bench-key-123456")
    client = TimedClient(UpstreamClient(settings))
    resolution = ModelRegistry(settings).resolve("mission-a3-kimi")
    started = time.perf_counter()
    outcome = await run_mission(
        project_root=project,
        resolution=resolution,
        compiled=admit(handoff_text(mission_id=f"bench-{n}"), resolution),
        settings=settings,
        client=client,
    )
    total = time.perf_counter() - started
    await client.inner.aclose()
    assert outcome.status == "COMPLETE", outcome.report
    return total, client.waited


def baseline(project: Path) -> float:
    mission = compile_mission(template(Tier.A3, "bench", "bench-base")).mission
    toolbox = ProjectToolBox(project, mission, Redactor())
    started = time.perf_counter()
    for n in range(STEPS):
        toolbox.run(n + 1, "read", {"path": f"src/module_{n}.py", "start_line": 1, "end_line": 40})
    return time.perf_counter() - started


async def main(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "project")
        async with ScriptedUpstream() as upstream:
            await one_mission(project, upstream, -1)  # warm imports and connections
            results = [await one_mission(project, upstream, n) for n in range(runs)]
        base = [baseline(project) for _ in range(runs)]
    overhead = [(total - waited) / STEPS * 1000 for total, waited in results]
    model = [waited / (STEPS + 1) * 1000 for _, waited in results]
    direct = [b / STEPS * 1000 for b in base]
    print(f"{STEPS}-step A3 mission, {runs} runs, zero-delay scripted upstream on 127.0.0.1")
    print(f"{'':34}{'median':>10}{'min':>10}{'max':>10}")
    for label, values in (
        ("runtime overhead per step (ms)", overhead),
        ("baseline: bare tool call (ms)", direct),
        ("model round trip per turn (ms)", model),
    ):
        print(
            f"{label:34}{statistics.median(values):>10.2f}{min(values):>10.2f}{max(values):>10.2f}"
        )
    verdict = "met" if statistics.median(overhead) < 5 else "MISSED"
    print(f"target: under 5 ms of runtime overhead per step: {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))
