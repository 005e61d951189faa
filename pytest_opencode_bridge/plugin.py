"""pytest plugin entry point (``pytest11``): options, markers and fixtures of OpenCode Bridge.

Hooks and options only; the work lives in ``recorder.py`` (claim evidence, artifacts) and
``claims.py`` (registry, status). Modes:

- plain ``pytest``: ``tests/`` and ``proof_packs/`` run as ordinary tests; no artifact is
  written, so a developer run never overwrites the claims.
- ``--opencode-burnin``: only the proof packs run; one artifact per claim is written to
  ``--opencode-claims-dir`` (default ``<rootdir>/.codex-oss/claims``) with a run manifest.
- ``--opencode-certify=TARGET``: like burn-in, for the named claims only (comma-separated).

Under pytest-xdist the workers tag each report with its claims and send what they collected
in ``workeroutput``; only the controller writes.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import pytest

from bridge.claims import (
    DEFAULT_CLAIMS_DIR,
    DEFAULT_REGISTRY,
    ClaimError,
    Registry,
    load_registry,
    parse_duration,
)
from pytest_opencode_bridge.harness import (
    git_project,
    mission_runner,
    running_bridge,
    scripted_upstream,
    scripted_upstream_thread,
)
from pytest_opencode_bridge.recorder import (
    PROOF_FILE_PROPERTY,
    USER_PROPERTY,
    ClaimRecorder,
    PhaseReport,
    claim_names,
)

# The fixtures, exposed to pytest.
__all__ = [
    "git_project",
    "mission_runner",
    "running_bridge",
    "scripted_upstream",
    "scripted_upstream_thread",
]

RECORDER = pytest.StashKey[ClaimRecorder]()
WORKER_OUTPUT_KEY = "opencode_claims_expected"
SINK_NAME = "opencode-claims-report-sink"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("opencode-bridge", "OpenCode Bridge claims and proof packs")
    group.addoption(
        "--opencode-burnin",
        action="store_true",
        default=False,
        help="run the proof packs and write one claim artifact per claim",
    )
    group.addoption(
        "--opencode-certify",
        metavar="TARGET",
        default=None,
        help="run the proof packs of the named claim(s) (comma-separated, or 'all') "
        "and write their artifacts",
    )
    group.addoption(
        "--opencode-claims-dir",
        metavar="DIR",
        default=None,
        help=f"where claim artifacts go (default <rootdir>/{DEFAULT_CLAIMS_DIR.as_posix()})",
    )
    group.addoption(
        "--opencode-max-age",
        metavar="AGE",
        default=None,
        help="how long the artifacts stay valid, e.g. 24h or 7d (claim-status reads it)",
    )
    parser.addini(
        "opencode_proof_packs",
        "folder of the proof packs, relative to rootdir",
        default="proof_packs",
    )
    parser.addini(
        "opencode_claims_registry",
        "the claim registry (TOML), relative to rootdir",
        default=DEFAULT_REGISTRY.as_posix(),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "claim(name): the test backs the named claim (see proof_packs/claims.toml)"
    )
    burnin = bool(config.getoption("opencode_burnin"))
    target = config.getoption("opencode_certify")
    try:
        registry = load_registry(config.rootpath / config.getini("opencode_claims_registry"))
        max_age = config.getoption("opencode_max_age")
        max_age_seconds = parse_duration(max_age).total_seconds() if max_age else None
        if target is not None:
            (registry or Registry()).select(target)  # an unknown claim is a usage error
    except ClaimError as error:
        raise pytest.UsageError(str(error)) from error
    claims_dir = config.getoption("opencode_claims_dir")
    writes = burnin or target is not None
    config.stash[RECORDER] = ClaimRecorder(
        root=config.rootpath,
        claims_dir=(
            config.invocation_params.dir / claims_dir
            if claims_dir
            else config.rootpath / DEFAULT_CLAIMS_DIR
        ),
        registry=registry,
        writes=writes and not hasattr(config, "workerinput"),
        mode=f"certify:{target}" if target is not None else ("burnin" if burnin else "off"),
        max_age_seconds=max_age_seconds,
    )
    if config.stash[RECORDER].writes:
        config.pluginmanager.register(_ReportSink(config.stash[RECORDER]), SINK_NAME)
    proof_dir = _proof_dir(config)
    if writes and config.args_source is pytest.Config.ArgsSource.TESTPATHS and proof_dir.is_dir():
        # A burn-in runs the proof packs only; do not even import the other test paths.
        config.args = [str(proof_dir)]


def pytest_unconfigure(config: pytest.Config) -> None:
    sink = config.pluginmanager.get_plugin(SINK_NAME)
    if sink is not None:
        config.pluginmanager.unregister(sink, SINK_NAME)


def pytest_sessionstart(session: pytest.Session) -> None:
    recorder = session.config.stash[RECORDER]
    if recorder.writes:
        recorder.start()


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if config.stash[RECORDER].mode == "off":
        return None
    proof_dir = _proof_dir(config)
    if _inside(collection_path, proof_dir) or collection_path in proof_dir.parents:
        return None
    return True


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> Any:
    # Claims are noted on the full collection (a test that ``-k`` deselects still counts as
    # expected), but this plugin deselects only after the other plugins have seen every item:
    # syrupy then knows the canary replay tests were deselected, not deleted, and does not
    # fail the run over "snapshot unused" when a certify target leaves canary replay out.
    recorder = config.stash[RECORDER]
    target = config.getoption("opencode_certify")
    wanted = set((recorder.registry or Registry()).select(target)) if target else None
    proof_dir = _proof_dir(config)
    unwanted: set[str] = set()
    backed: list[tuple[str, tuple[str, ...]]] = []
    for item in items:
        try:
            claims = claim_names(
                [(marker.args, marker.kwargs) for marker in item.iter_markers("claim")],
                item.nodeid,
            )
            recorder.check_known(claims, item.nodeid)
        except ClaimError as error:
            raise pytest.UsageError(str(error)) from error
        if recorder.mode != "off" and not _inside(item.path, proof_dir):
            unwanted.add(item.nodeid)
            continue
        if wanted is not None:
            claims = tuple(claim for claim in claims if claim in wanted)
            if not claims:
                unwanted.add(item.nodeid)
                continue
        item.user_properties.extend((USER_PROPERTY, claim) for claim in claims)
        backed.append((item.nodeid, claims))
    recorder.note_expected(backed)
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[WORKER_OUTPUT_KEY] = recorder.expected_json()
    result = yield
    dropped = [item for item in items if item.nodeid in unwanted]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item.nodeid not in unwanted]
    return result


class _ReportSink:
    """Registered on the controller of a writing session: feeds every test report (its own,
    or a worker's under xdist) to the recorder. A class because the hook gets no config."""

    def __init__(self, recorder: ClaimRecorder) -> None:
        self.recorder = recorder

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.recorder.record(phase_report(report))


def phase_report(report: pytest.TestReport) -> PhaseReport:
    """The recorder's view of a pytest report."""
    claims = tuple(value for key, value in report.user_properties if key == USER_PROPERTY)
    return PhaseReport(
        nodeid=report.nodeid,
        when=report.when or "call",
        outcome=report.outcome,
        duration=float(getattr(report, "duration", 0.0) or 0.0),
        claims=claims,
        wasxfail=hasattr(report, "wasxfail"),
        detail=_detail(report),
        proof_files=tuple(
            str(value) for key, value in report.user_properties if key == PROOF_FILE_PROPERTY
        ),
    )


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist: a worker finished; merge the claims it collected."""
    output = getattr(node, "workeroutput", None) or {}
    expected = output.get(WORKER_OUTPUT_KEY)
    if expected:
        node.config.stash[RECORDER].merge_expected(expected)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[RECORDER].finish(
        python_version=platform.python_version(), pytest_version=pytest.__version__
    )


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    recorder = config.stash[RECORDER]
    if not recorder.writes:
        return
    terminalreporter.write_sep("-", "opencode claims")
    for artifact in recorder.written:
        terminalreporter.write_line(
            f"{artifact['verdict'].upper():10} {artifact['claim']}: {artifact['reason']}"
        )
    for claim, why in sorted(recorder.withheld.items()):
        terminalreporter.write_line(f"{'NOT WRITTEN':10} {claim}: {why}")
    if recorder.mode == "burnin":
        for claim in recorder.unproven_required():
            terminalreporter.write_line(f"{'UNPROVEN':10} {claim}: no test backs this claim")
    terminalreporter.write_line(f"claim artifacts: {recorder.claims_dir}")


def _proof_dir(config: pytest.Config) -> Path:
    return (config.rootpath / config.getini("opencode_proof_packs")).resolve()


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _detail(report: pytest.TestReport) -> str:
    """A one-line reason for a test that did not pass (the skip reason, the crash line)."""
    if report.passed:
        return ""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])[:300]
    crash = getattr(longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if message:
        return str(message).splitlines()[0][:300]
    text = report.longreprtext.strip()
    return text.splitlines()[-1][:300] if text else ""
