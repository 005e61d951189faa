"""The runtime's own overhead per tool step, excluding the model's time.

Runs a 10-step A3 mission against a zero-delay scripted upstream on 127.0.0.1 and times the
whole mission, minus the time spent waiting on the model client, per step: admission, the
log, the policy-checked loop, commentary, closing and projections all count. Beside it, the
baseline: the same ten tool calls run directly on the toolbox, with no log, policy-checked
loop, commentary or projections; and the marginal cost of one more step (a 20-step mission
against a 10-step one), which leaves out the fixed costs of opening and closing a mission.
Target: 1.5 ms or less of runtime overhead per step.

    .venv/bin/python benchmarks/mission_overhead.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
LONG_STEPS = 20  # the longer mission the marginal cost of a step is measured against
TARGET_MS = 1.5


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
        f"src/module_{n}.py": "".join(f"value_{i} = {i}\n" for i in range(80))
        for n in range(LONG_STEPS)
    }
    return make_git_project(root, files)


def script(steps: int) -> dict[str, Any]:
    turns = [
        tool_action("read", path=f"src/module_{n}.py", start_line=1, end_line=40)
        for n in range(steps)
    ]
    finding = final_action(
        refs=["file:src/module_0.py#L1-L10"], claim="value_3 is 3", quote="value_3 = 3"
    )
    return {"kimi-k2.6": [*turns, finding]}


async def one_mission(
    project: Path, upstream: ScriptedUpstream, name: str, steps: int
) -> tuple[float, float]:
    """Seconds the runtime spent on a ``steps``-step mission (the model's time taken out),
    and seconds spent waiting on the model."""
    upstream.set_script(script(steps))
    settings = Settings(UPSTREAM_BASE_URL=upstream.base_url, OPENCODE_GO_API_KEY="bench-key-123456")
    client = TimedClient(UpstreamClient(settings))
    resolution = ModelRegistry(settings).resolve("mission-a3-kimi")
    started = time.perf_counter()
    outcome = await run_mission(
        project_root=project,
        resolution=resolution,
        compiled=admit(handoff_text(mission_id=f"bench-{name}"), resolution),
        settings=settings,
        client=client,
    )
    total = time.perf_counter() - started
    await client.inner.aclose()
    assert outcome.status == "COMPLETE", outcome.report
    return total - client.waited, client.waited


def baseline(project: Path) -> float:
    mission = compile_mission(template(Tier.A3, "bench", "bench-base")).mission
    toolbox = ProjectToolBox(project, mission, Redactor())
    started = time.perf_counter()
    for n in range(STEPS):
        toolbox.run(n + 1, "read", {"path": f"src/module_{n}.py", "start_line": 1, "end_line": 40})
    return time.perf_counter() - started


def file_creation_us(folder: Path, count: int = 50) -> float:
    """Microseconds to create one empty file in ``folder``: a mission creates about twenty
    (its log, locks and projections), so a slow filesystem shows in the figures above."""
    folder.mkdir()
    started = time.perf_counter()
    for n in range(count):
        os.close(os.open(folder / f"f{n}", os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    return (time.perf_counter() - started) / count * 1e6


async def main(runs: int) -> None:
    short: list[tuple[float, float]] = []
    long: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "project")
        async with ScriptedUpstream() as upstream:
            await one_mission(project, upstream, "warm", STEPS)  # imports and connections
            for n in range(runs):
                short.append(await one_mission(project, upstream, f"{n}", STEPS))
                long.append(await one_mission(project, upstream, f"{n}-long", LONG_STEPS))
        base = [baseline(project) for _ in range(runs)]
        creation = file_creation_us(Path(tmp) / "creation")
    overhead = [runtime / STEPS * 1000 for runtime, _ in short]
    marginal = [
        (b[0] - a[0]) / (LONG_STEPS - STEPS) * 1000 for a, b in zip(short, long, strict=True)
    ]
    direct = [b / STEPS * 1000 for b in base]
    model = [waited / (STEPS + 1) * 1000 for _, waited in short]
    print(f"{STEPS}-step A3 mission, {runs} runs, zero-delay scripted upstream on 127.0.0.1")
    print(f"{'':36}{'median':>10}{'min':>10}{'max':>10}")
    for label, values in (
        ("runtime overhead per step (ms)", overhead),
        ("baseline: bare tool call (ms)", direct),
        ("marginal cost of one more step (ms)", marginal),
        ("model round trip per turn (ms)", model),
    ):
        print(
            f"{label:36}{statistics.median(values):>10.2f}{min(values):>10.2f}{max(values):>10.2f}"
        )
    print(f"creating a file in the temporary folder here: {creation:.0f} us")
    verdict = "met" if statistics.median(overhead) <= TARGET_MS else "MISSED"
    print(f"target: {TARGET_MS} ms or less of runtime overhead per step: {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))
