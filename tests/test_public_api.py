"""The packages' public APIs: pinned, resolvable, and loaded only on use."""

import subprocess
import sys

import pytest

import bridge
import runtime
import runtime.upstream

RUNTIME_API = [
    "HandoffError",
    "MissionContractError",
    "MissionEventLog",
    "MissionOutcome",
    "MissionV1",
    "ModelRegistry",
    "RunRecord",
    "Settings",
    "UpstreamClient",
    "compile_mission",
    "load_events",
    "load_settings",
    "reduce",
    "run_mission",
    "verify_log",
]
BRIDGE_API = ["ServerThread", "create_app", "main", "start_server"]
UPSTREAM_API = ["ChatResult", "UpstreamClient", "UpstreamError", "Usage", "merge_tool_call"]


@pytest.mark.parametrize(
    ("package", "names"),
    [(runtime, RUNTIME_API), (bridge, BRIDGE_API), (runtime.upstream, UPSTREAM_API)],
)
def test_public_names_are_pinned_and_resolve(package, names):
    assert package.__all__ == names
    for name in names:
        assert getattr(package, name) is not None


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        runtime.nothing  # noqa: B018


def test_importing_one_module_does_not_load_the_whole_runtime():
    code = "import sys, runtime.canonical; print('runtime.runner' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
