"""How fast the Redactor is on ordinary source text, beside detect-secrets' own line scan.

The mission loop redacts every observation (up to 16 KiB each) and every file a read or a
grep hit touches, so redaction must cost far less than a model turn. The baseline is the naive
use of detect-secrets: every plugin's ``analyze_line`` on every line.

Run: ``.venv/bin/python benchmarks/redact_bench.py``
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from detect_secrets.core.scan import get_plugins
from detect_secrets.settings import default_settings

from runtime.mission import Tier, compile_mission, template
from runtime.redact import Redactor
from runtime.tools import ProjectToolBox

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 16 * 1024


def corpus() -> str:
    """The project's own Python source: realistic code with keys, hashes and ids in it."""
    files = sorted((ROOT / "runtime").rglob("*.py")) + sorted((ROOT / "bridge").rglob("*.py"))
    return "\n".join(path.read_text(encoding="utf-8") for path in files)


def timed(work: Callable[[], object], rounds: int = 5) -> float:
    """Median seconds of ``rounds`` runs of ``work``."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def baseline_scan(text: str) -> int:
    """detect-secrets, plugin by plugin, line by line (no files, no baseline, no filters)."""
    found = 0
    with default_settings():
        plugins = list(get_plugins())
        for number, line in enumerate(text.splitlines(), 1):
            for plugin in plugins:
                found += len(plugin.analyze_line(filename="x.py", line=line, line_number=number))
    return found


def main() -> None:
    text = corpus()
    size = len(text.encode("utf-8"))
    chunks = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]
    redactor = Redactor(["configured-key-value-0123456789"])

    ours = timed(lambda: [redactor.redact(chunk) for chunk in chunks])
    base = timed(lambda: baseline_scan(text), rounds=3)
    found = sum(redactor.redact(chunk).count for chunk in chunks)

    print(f"corpus: {size / 1024:.0f} KiB of project source in {len(chunks)} chunks of 16 KiB")
    print(f"{'':28}{'total ms':>10}{'ms / 16 KiB':>13}{'MiB/s':>9}")
    for name, seconds in (("Redactor.redact", ours), ("detect-secrets per line", base)):
        per_chunk = seconds * 1000 / len(chunks)
        rate = size / seconds / (1024 * 1024)
        print(f"{name:28}{seconds * 1000:>10.1f}{per_chunk:>13.2f}{rate:>9.1f}")
    print(f"speed-up over the baseline: {base / ours:.1f}x; redactions in corpus: {found}")
    toolbox_figures(redactor)


def toolbox_figures(redactor: Redactor) -> None:
    """A read and a project-wide grep through the whole toolbox (policy, caps, redaction)."""
    mission = compile_mission(template(Tier.A3, "benchmark", "m-bench")).mission
    calls = [
        ("read", {"path": "runtime/eventlog.py"}),
        ("grep", {"pattern": r"def \w+\(", "max_results": 50}),
        ("grep", {"pattern": "no such text anywhere at all"}),
        ("ls", {"path": "runtime"}),
    ]
    print(f"\n{'toolbox call (fresh toolbox each run)':52}{'ms':>8}")
    for name, arguments in calls:

        def once(name: str = name, arguments: dict = arguments) -> None:
            box = ProjectToolBox(ROOT, mission, redactor, max_grep_results=50)
            box.run(1, name, arguments)

        label = f"{name} {arguments}"[:50]
        print(f"{label:52}{timed(once) * 1000:>8.1f}")


if __name__ == "__main__":
    main()
