"""The pytest plugin, driven through pytester: options, the claim marker, artifacts, xdist."""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING

import pytest

from bridge.claims import Status

if TYPE_CHECKING:
    from tests.plugin.conftest import ClaimsProject

pytest_plugins = ["pytester"]


def test_plain_run_runs_tests_and_proof_packs_and_writes_no_artifact(
    claims_project: ClaimsProject,
) -> None:
    result = claims_project.pytester.runpytest()
    result.assert_outcomes(passed=4)
    assert claims_project.artifacts() == []


def test_burnin_writes_one_artifact_per_claim_and_a_manifest(
    claims_project: ClaimsProject,
) -> None:
    result = claims_project.pytester.runpytest("--opencode-burnin")
    result.assert_outcomes(passed=3)  # tests/test_dev.py is not part of the burn-in
    assert claims_project.artifacts() == ["_run_manifest.json", "alpha.json", "beta.json"]
    alpha = claims_project.artifact("alpha")
    assert alpha["verdict"] == "supported"
    assert [test["nodeid"] for test in alpha["tests"]] == [
        "proof_packs/test_alpha.py::test_answer_is_42",
        "proof_packs/test_alpha.py::test_answer_is_an_int",
    ]
    assert all(test["outcome"] == "passed" and test["duration_s"] >= 0 for test in alpha["tests"])
    assert alpha["depends_on"] == ["engine"]
    assert alpha["source_hash"].startswith("sha256:")
    assert set(alpha["source_hashes"]) >= {"engine", "gate", "runtime", "bridge", "proof_packs"}
    assert alpha["python_version"] == platform.python_version()
    assert alpha["pytest_version"] == pytest.__version__
    assert "proof_packs/test_alpha.py" in alpha["proof_files"]
    result.stdout.fnmatch_lines(["*opencode claims*", "SUPPORTED*alpha*", "SUPPORTED*beta*"])


def test_burnin_records_the_git_commit(claims_project: ClaimsProject) -> None:
    git = claims_project.pytester
    for argv in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
    ):
        assert git.run(*argv).ret == 0
    head = git.run("git", "rev-parse", "HEAD").outlines[0].strip()
    git.runpytest("--opencode-burnin")
    assert claims_project.artifact("alpha")["git_commit"] == head


def test_burnin_with_every_test_passing_makes_claims_supported(
    claims_project: ClaimsProject,
) -> None:
    claims_project.pytester.runpytest("--opencode-burnin")
    statuses = claims_project.status()
    assert {name: item.status for name, item in statuses.items()} == {
        "alpha": Status.SUPPORTED,
        "beta": Status.SUPPORTED,
    }


def test_a_failing_test_makes_its_claim_failing(claims_project: ClaimsProject) -> None:
    claims_project.write("engine/core.py", "def answer():\n    return 41\n")
    result = claims_project.pytester.runpytest("--opencode-burnin")
    result.assert_outcomes(passed=2, failed=1)
    alpha = claims_project.artifact("alpha")
    assert alpha["verdict"] == "failing"
    outcomes = {test["nodeid"].split("::")[1]: test["outcome"] for test in alpha["tests"]}
    assert outcomes == {"test_answer_is_42": "failed", "test_answer_is_an_int": "passed"}
    status = claims_project.status()
    assert status["alpha"].status is Status.FAILING
    assert "test_answer_is_42" in status["alpha"].why
    assert status["beta"].status is Status.SUPPORTED


def test_a_skipped_test_makes_its_claim_failing(claims_project: ClaimsProject) -> None:
    claims_project.write(
        "proof_packs/test_beta.py",
        'import pytest\n\n\n@pytest.mark.claim("beta")\ndef test_door():\n'
        '    pytest.skip("no door today")\n',
    )
    claims_project.pytester.runpytest("--opencode-burnin").assert_outcomes(passed=2, skipped=1)
    beta = claims_project.artifact("beta")
    assert beta["verdict"] == "failing"
    assert beta["tests"][0]["outcome"] == "skipped"
    assert beta["tests"][0]["detail"] == "Skipped: no door today"
    assert claims_project.status()["beta"].status is Status.FAILING


def test_an_error_in_setup_makes_its_claim_failing(claims_project: ClaimsProject) -> None:
    claims_project.write(
        "proof_packs/test_beta.py",
        "import pytest\n\n\n@pytest.fixture\ndef broken():\n    raise RuntimeError('no')\n\n\n"
        '@pytest.mark.claim("beta")\ndef test_door(broken):\n    pass\n',
    )
    claims_project.pytester.runpytest("--opencode-burnin").assert_outcomes(passed=2, errors=1)
    assert claims_project.artifact("beta")["tests"][0]["outcome"] == "error"


def test_an_xfail_does_not_support_a_claim(claims_project: ClaimsProject) -> None:
    claims_project.write(
        "proof_packs/test_beta.py",
        'import pytest\n\n\n@pytest.mark.claim("beta")\n@pytest.mark.xfail\n'
        "def test_door():\n    assert False\n",
    )
    claims_project.pytester.runpytest("--opencode-burnin")
    beta = claims_project.artifact("beta")
    assert (beta["verdict"], beta["tests"][0]["outcome"]) == ("failing", "xfailed")


def test_editing_a_source_file_makes_only_the_claims_on_that_tree_stale(
    claims_project: ClaimsProject,
) -> None:
    claims_project.pytester.runpytest("--opencode-burnin")
    claims_project.write("engine/core.py", "def answer():\n    return 42  # edited\n")
    statuses = claims_project.status()
    assert statuses["alpha"].status is Status.STALE
    assert "engine/" in statuses["alpha"].why
    assert statuses["beta"].status is Status.SUPPORTED
    claims_project.pytester.runpytest("--opencode-burnin")
    assert claims_project.status()["alpha"].status is Status.SUPPORTED


def test_editing_a_proof_module_makes_its_claim_stale(claims_project: ClaimsProject) -> None:
    claims_project.pytester.runpytest("--opencode-burnin")
    claims_project.write("proof_packs/test_beta.py", "# emptied\n")
    # proof_packs/ is not in beta's depends_on; the proof module's own hash catches the edit
    claims_project.write(
        "proof_packs/claims.toml",
        '[claims.beta]\ndescription = "beta holds"\ndepends_on = ["gate"]\n',
    )
    status = claims_project.status()["beta"]
    assert status.status is Status.STALE
    assert "proof_packs/test_beta.py" in status.why


def test_certify_runs_and_writes_only_the_target_claim(claims_project: ClaimsProject) -> None:
    result = claims_project.pytester.runpytest("--opencode-certify=beta")
    result.assert_outcomes(passed=1)
    assert claims_project.artifacts() == ["_run_manifest.json", "beta.json"]
    manifest = claims_project.claims_dir / "_run_manifest.json"
    assert '"mode": "certify:beta"' in manifest.read_text(encoding="utf-8")


TYPO_MARKER = 'import pytest\n\n\n@pytest.mark.claim("alhpa")\ndef test_x():\n    pass\n'
BARE_MARKER = "import pytest\n\n\n@pytest.mark.claim\ndef test_x():\n    pass\n"


@pytest.mark.parametrize(
    ("pack", "args", "message"),
    [
        pytest.param(
            None,
            ["--opencode-certify=gamma"],
            "*unknown claim 'gamma'*known: alpha, beta*",
            id="certify-unknown-claim",
        ),
        pytest.param(
            ("test_typo.py", TYPO_MARKER),
            [],
            "*test_typo.py::test_x: claim 'alhpa' is not in*",
            id="marker-names-unregistered-claim",
        ),
        pytest.param(
            ("test_bad.py", BARE_MARKER),
            [],
            "*test_bad.py::test_x: use @pytest.mark.claim('name')*",
            id="marker-without-one-name",
        ),
        pytest.param(
            None,
            ["--opencode-burnin", "--opencode-max-age=soon"],
            "*max age 'soon' must be a number and a unit*",
            id="bad-max-age",
        ),
    ],
)
def test_a_usage_error_names_the_problem(
    claims_project: ClaimsProject,
    pack: tuple[str, str] | None,
    args: list[str],
    message: str,
) -> None:
    if pack is not None:
        claims_project.write(f"proof_packs/{pack[0]}", pack[1])
    result = claims_project.pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_the_claim_marker_is_registered(claims_project: ClaimsProject) -> None:
    result = claims_project.pytester.runpytest("--strict-markers", "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.claim(name):*"])


def test_a_deselected_backing_test_withholds_a_passing_claim(
    claims_project: ClaimsProject,
) -> None:
    result = claims_project.pytester.runpytest("--opencode-burnin", "-k", "not an_int")
    result.assert_outcomes(passed=2, deselected=1)
    assert claims_project.artifacts() == ["_run_manifest.json", "beta.json"]
    result.stdout.fnmatch_lines(["NOT WRITTEN*alpha: 1 of 2 backing test(s) did not run"])


def test_claims_dir_and_max_age_options(claims_project: ClaimsProject) -> None:
    claims_project.pytester.runpytest(
        "--opencode-burnin", "--opencode-claims-dir=elsewhere", "--opencode-max-age=24h"
    )
    artifact = (claims_project.path / "elsewhere" / "alpha.json").read_text(encoding="utf-8")
    assert '"max_age_seconds": 86400.0' in artifact
    assert claims_project.artifacts() == []


def test_a_required_claim_without_a_test_is_reported_unproven(
    claims_project: ClaimsProject,
) -> None:
    claims_project.write(
        "proof_packs/claims.toml",
        (claims_project.path / "proof_packs/claims.toml").read_text(encoding="utf-8")
        + '\n[claims.gamma]\ndescription = "not proven yet"\n',
    )
    result = claims_project.pytester.runpytest("--opencode-burnin")
    result.stdout.fnmatch_lines(["UNPROVEN*gamma: no test backs this claim"])
    gamma = claims_project.status()["gamma"]
    assert gamma.status is Status.MISSING


def test_burnin_leaves_no_temporary_files(claims_project: ClaimsProject) -> None:
    claims_project.pytester.runpytest("--opencode-burnin")
    claims_project.pytester.runpytest("--opencode-burnin")
    leftovers = [name for name in claims_project.artifacts() if name.endswith(".tmp")]
    assert leftovers == []


def test_under_xdist_the_controller_writes_artifacts_with_every_workers_results(
    claims_project: ClaimsProject,
) -> None:
    for index in range(6):
        claims_project.write(
            f"proof_packs/test_more_{index}.py",
            f'import pytest\n\n\n@pytest.mark.claim("alpha")\ndef test_more_{index}():\n    pass\n',
        )
    result = claims_project.pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--opencode-burnin"
    )
    result.assert_outcomes(passed=9)
    alpha = claims_project.artifact("alpha")
    assert alpha["verdict"] == "supported"
    assert len(alpha["tests"]) == 8
    assert claims_project.artifacts() == ["_run_manifest.json", "alpha.json", "beta.json"]


def test_under_xdist_a_failure_on_a_worker_makes_its_claim_failing(
    claims_project: ClaimsProject,
) -> None:
    claims_project.write("gate/door.py", "def opens():\n    return False\n")
    result = claims_project.pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--opencode-burnin"
    )
    result.assert_outcomes(passed=2, failed=1)
    assert claims_project.artifact("beta")["verdict"] == "failing"
    assert claims_project.artifact("alpha")["verdict"] == "supported"


def test_editing_a_proof_conftest_makes_its_claims_stale(claims_project: ClaimsProject) -> None:
    claims_project.write("proof_packs/conftest.py", "# shared fixtures\n")
    claims_project.pytester.runpytest("--opencode-burnin")
    assert "proof_packs/conftest.py" in claims_project.artifact("alpha")["proof_files"]
    claims_project.write("proof_packs/conftest.py", "# shared fixtures, edited\n")
    status = claims_project.status()["alpha"]
    assert (status.status, "proof_packs/conftest.py" in status.why) == (Status.STALE, True)


SNAPSHOT_PACK = """\
import pytest


@pytest.mark.claim("beta")
def test_door_matches_its_snapshot(snapshot):
    assert {"door": "open"} == snapshot
"""


def test_certify_leaving_out_a_snapshot_test_does_not_fail_on_its_unused_snapshot(
    claims_project: ClaimsProject,
) -> None:
    claims_project.write("proof_packs/test_snap.py", SNAPSHOT_PACK)
    assert claims_project.pytester.runpytest("--snapshot-update").ret == 0
    result = claims_project.pytester.runpytest("--opencode-certify=alpha")
    result.assert_outcomes(passed=2)
    assert result.ret == 0, result.stdout.str()
    assert "snapshot unused" not in result.stdout.str()
    assert claims_project.pytester.runpytest("--opencode-certify=beta").ret == 0
