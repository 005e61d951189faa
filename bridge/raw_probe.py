"""Raw ``ocg-*`` routes proven end to end: one streamed Responses request through a real bridge
to the upstream model, recorded under ``.codex-oss/raw_probes/<alias>.json``.

A raw worker cannot prove its own routing from inside a task (the origin document), so the
bridge proves it: ``codex-oss raw-probe`` sends one short request through the project's
running bridge (or, when none runs, a bridge served in this process for the probe) and records
what came back; ``codex-oss raw-claim-status`` says which raw routes are proven on the code on
disk. A record is SUPPORTED only while it passed, is younger than the max age, and was made by
the code that is on disk now.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bridge.claims import write_json
from bridge.source_hash import source_hash
from runtime.redact import Redactor
from runtime.settings import Settings

PROBES_DIR = Path(".codex-oss/raw_probes")
SCHEMA = "raw_probe.v1"
PROMPT = "Reply with the single word: ready"
DEFAULT_MAX_AGE = timedelta(days=7)
EXCERPT_CHARS = 120


class RawProbeError(ValueError):
    """The alias is not a raw route (a usage error, nothing recorded)."""


@dataclass(frozen=True)
class RawProbeRecord:
    """What one probe of a raw alias saw."""

    alias: str
    upstream_model: str
    status: str  # "pass" | "fail"
    detail: str
    answer_excerpt: str
    elapsed_seconds: float
    when: str
    source_hash: str
    via: str  # "running bridge" | "bridge served for the probe"
    schema: str = SCHEMA

    def to_json(self) -> dict[str, Any]:
        """The record as written to disk."""
        return asdict(self)


@dataclass(frozen=True)
class RawClaim:
    """The status of one raw alias: SUPPORTED, STALE, FAILING or MISSING, and why."""

    alias: str
    status: str
    why: str
    when: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A plain dict for ``raw-claim-status --json``."""
        return asdict(self)


def probe_raw_alias(
    project: Path, alias: str, settings: Settings, *, timeout: float = 120.0
) -> RawProbeRecord:
    """Send one request for ``alias`` through a bridge of ``project`` and record the outcome."""
    from bridge.demo import MissionStreamError, stream_mission
    from runtime.registry import AdmissionError, ModelRegistry

    try:
        resolution = ModelRegistry(settings).resolve(alias)
    except AdmissionError as exc:
        raise RawProbeError(exc.message) from None
    if resolution.kind != "raw":
        raise RawProbeError(f"{alias} is not a raw route; raw aliases look like ocg-<model>")
    redactor = Redactor(settings.secret_values())
    started = time.monotonic()
    with _bridge(project, settings) as (base_url, via):
        try:
            answer = stream_mission(
                base_url, settings.PROXY_API_KEY, alias, PROMPT, timeout=timeout
            )
        except MissionStreamError as exc:
            status, detail, text = "fail", str(exc), ""
        else:
            text = (answer.final_text or "").strip()
            if answer.failure:
                status, detail = "fail", f"the bridge answered response.failed: {answer.failure}"
            elif not text:
                status, detail = "fail", "the stream completed with an empty answer"
            else:
                status, detail = "pass", "streamed answer completed through the bridge"
    record = RawProbeRecord(
        alias=alias,
        upstream_model=resolution.chain[0].upstream_model,
        status=status,
        detail=redactor.redact(detail).text[:500],
        answer_excerpt=redactor.redact(text).text[:EXCERPT_CHARS],
        elapsed_seconds=round(time.monotonic() - started, 3),
        when=datetime.now(UTC).isoformat(timespec="seconds"),
        source_hash=source_hash(),
        via=via,
    )
    write_record(project, record)
    return record


def write_record(project: Path, record: RawProbeRecord) -> Path:
    """Write ``record`` atomically under the project's probe folder."""
    return write_json(project / PROBES_DIR / f"{record.alias}.json", record.to_json())


def raw_claim_status(
    project: Path,
    aliases: list[str],
    *,
    max_age: timedelta = DEFAULT_MAX_AGE,
    current_hash: str | None = None,
    now: datetime | None = None,
) -> list[RawClaim]:
    """The status of each alias in ``aliases`` plus every alias that has a record."""
    folder = project / PROBES_DIR
    recorded = sorted(path.stem for path in folder.glob("*.json")) if folder.is_dir() else []
    names = list(dict.fromkeys([*aliases, *recorded]))
    current_hash = current_hash or source_hash()
    now = now or datetime.now(UTC)
    return [_claim(folder / f"{name}.json", name, max_age, current_hash, now) for name in names]


def _claim(path: Path, alias: str, max_age: timedelta, code: str, now: datetime) -> RawClaim:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return RawClaim(alias, "MISSING", f"never probed; run 'codex-oss raw-probe {alias}'")
    except (OSError, ValueError) as exc:
        return RawClaim(alias, "FAILING", f"unreadable record: {exc}")
    when = data.get("when") if isinstance(data, dict) else None
    try:
        proven = datetime.fromisoformat(str(when))
    except ValueError:
        return RawClaim(alias, "FAILING", "the record has no valid 'when'")
    if data.get("status") != "pass":
        return RawClaim(alias, "FAILING", f"last probe failed: {data.get('detail')}", when)
    if data.get("source_hash") != code:
        return RawClaim(alias, "STALE", "the bridge's code changed since the probe", when)
    if now - proven > max_age:
        return RawClaim(alias, "STALE", f"probed more than {max_age.days} day(s) ago", when)
    return RawClaim(alias, "SUPPORTED", f"{data.get('detail')} ({data.get('via')})", when)


@contextlib.contextmanager
def _bridge(project: Path, settings: Settings) -> Iterator[tuple[str, str]]:
    """The project's running bridge, else one served in this process for the probe."""
    from bridge.daemon import status

    current = status(project, settings)
    if current.state == "running" and (current.health or {}).get("status") == "ok":
        yield f"http://{current.host}:{current.port}/v1", "running bridge"
        return
    from bridge.app import ServerThread, create_app

    with ServerThread(lambda: create_app(settings, project)) as server:
        yield server.base_url, "bridge served for the probe"
