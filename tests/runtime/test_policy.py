"""ScopePolicy: every escape route is refused with its own reason code, on real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runtime.mission import Tier, compile_mission, template
from runtime.policy import BLOCKED_REASON_CODES, DEFAULT_CRITICAL_ROOTS, ScopeDenied, ScopePolicy


def mission(**fields):
    return compile_mission(template(Tier.A3, "investigate", "m-policy", **fields)).mission


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "core.py").write_text("print('core')\n")
    (root / "docs").mkdir()
    (root / "docs" / "guide.md").write_text("# guide\n")
    (root / ".env").write_text("OPENCODE_GO_API_KEY=sk-secret-value-123456789\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (root / ".codex-oss" / "env").mkdir(parents=True)
    (root / ".codex-oss" / "env" / "opencode-go.env").write_text("key\n")
    (root / "deploy").mkdir()
    (root / "deploy" / "run.sh").write_text("deploy\n")
    (root / "vendor").mkdir()
    (root / "vendor" / "lib.py").write_text("vendored\n")
    (tmp_path / "outside.txt").write_text("outside\n")
    return root


def policy_for(root: Path, **fields) -> ScopePolicy:
    return ScopePolicy(root, mission(**fields))


def denied(policy: ScopePolicy, path: str) -> ScopeDenied:
    with pytest.raises(ScopeDenied) as info:
        policy.resolve(path)
    return info.value


def test_resolves_a_file_in_scope_to_a_project_relative_posix_path(project: Path):
    resolved = policy_for(project).resolve("./src/pkg/../pkg/core.py")
    assert resolved.relative == "src/pkg/core.py"
    assert resolved.absolute == Path(os.path.realpath(project / "src/pkg/core.py"))


def test_dot_dot_escape_is_refused(project: Path):
    error = denied(policy_for(project), "../outside.txt")
    assert error.reason_code == "path_escape"
    assert "../outside.txt" in error.message


def test_absolute_path_outside_the_project_is_refused(project: Path):
    error = denied(policy_for(project), str(project.parent / "outside.txt"))
    assert error.reason_code == "path_escape"


def test_absolute_path_inside_the_project_is_accepted_as_relative(project: Path):
    resolved = policy_for(project).resolve(str(project / "docs" / "guide.md"))
    assert resolved.relative == "docs/guide.md"


def test_symlink_out_of_the_project_is_refused(project: Path):
    (project / "src" / "escape.txt").symlink_to(project.parent / "outside.txt")
    error = denied(policy_for(project), "src/escape.txt")
    assert error.reason_code == "path_escape"


def test_symlink_into_a_sibling_whose_name_extends_the_project_s_is_refused(project: Path):
    sibling = project.parent / (project.name + "-other")
    (sibling / "src").mkdir(parents=True)
    (sibling / "src" / "secret.py").write_text("x = 1\n")
    (project / "src" / "near.py").symlink_to(sibling / "src" / "secret.py")
    error = denied(policy_for(project), "src/near.py")
    assert error.reason_code == "path_escape"


@pytest.mark.parametrize("swapped", ["the root", "its parent"])
def test_a_project_root_swapped_for_a_link_elsewhere_is_refused(tmp_path: Path, swapped: str):
    # The walk below the root trusts the root only while it names the directory it did.
    for top in ("home", "other"):
        (tmp_path / top / "project" / "src").mkdir(parents=True)
        (tmp_path / top / "project" / "src" / "a.py").write_text(f"{top}\n")
    project = tmp_path / "home" / "project"
    policy = policy_for(project)
    link = project if swapped == "the root" else project.parent
    link.rename(tmp_path / "moved")
    link.symlink_to(tmp_path / "other" / link.relative_to(tmp_path / "home"))
    assert denied(policy, "src/a.py").reason_code == "path_escape"
    assert denied(policy, "src").reason_code == "path_escape"


def test_resolving_walks_from_the_root_to_the_same_answer_as_realpath(project: Path):
    (project / "src" / "alias").symlink_to(project / "src" / "pkg")
    policy = policy_for(project)
    for path in (".", "src", "src/pkg/core.py", "src/alias/core.py", "src/missing/x.py"):
        resolved = policy.resolve(path, must_exist=False)
        assert str(resolved.absolute) == os.path.realpath(project / path)


def test_symlink_into_git_internals_is_refused(project: Path):
    (project / "src" / "cfg").symlink_to(project / ".git" / "config")
    error = denied(policy_for(project), "src/cfg")
    assert error.reason_code == "git_internals"
    assert ".git/config" in error.message


def test_symlink_to_env_file_is_refused(project: Path):
    (project / "docs" / "notes.txt").symlink_to(project / ".env")
    assert denied(policy_for(project), "docs/notes.txt").reason_code == "secret_path"


def test_symlinked_directory_inside_scope_is_followed(project: Path):
    (project / "src" / "alias").symlink_to(project / "src" / "pkg")
    resolved = policy_for(project).resolve("src/alias/core.py")
    assert resolved.relative == "src/pkg/core.py"


def test_symlink_from_scope_to_outside_scope_is_refused(project: Path):
    (project / "src" / "vendored.py").symlink_to(project / "vendor" / "lib.py")
    error = denied(policy_for(project, allowed_roots=["src"]), "src/vendored.py")
    assert error.reason_code == "outside_scope"


def test_nul_byte_is_refused(project: Path):
    assert denied(policy_for(project), "src/pkg/core.py\x00.txt").reason_code == "nul_byte"


def test_env_file_is_refused_whatever_its_case(project: Path):
    policy = policy_for(project)
    assert denied(policy, ".env").reason_code == "secret_path"
    assert denied(policy, ".ENV").reason_code == "secret_path"
    assert denied(policy, "config/.Env.production").reason_code == "secret_path"


def test_git_directory_is_refused_whatever_its_case(project: Path):
    policy = policy_for(project)
    assert denied(policy, ".git/config").reason_code == "git_internals"
    assert denied(policy, ".Git/config").reason_code == "git_internals"
    assert denied(policy, "src/../.git").reason_code == "git_internals"


def test_runtime_env_directory_is_a_secret_path(project: Path):
    error = denied(policy_for(project), ".codex-oss/env/opencode-go.env")
    assert error.reason_code == "secret_path"


def test_runtime_state_is_refused(project: Path):
    assert denied(policy_for(project), ".codex-oss/runs").reason_code == "runtime_state"


@pytest.mark.parametrize(
    "name", ["server.pem", "tls.KEY", "id_rsa", "id_ed25519.pub", "store.p12", ".netrc"]
)
def test_key_material_is_refused(project: Path, name: str):
    (project / "src" / name).write_text("material\n")
    assert denied(policy_for(project), f"src/{name}").reason_code == "secret_path"


def test_home_expansion_is_refused(project: Path):
    error = denied(policy_for(project), "~/.ssh/id_rsa")
    assert error.reason_code == "path_escape"
    assert "~" in error.message


def test_backslash_paths_are_refused(project: Path):
    assert denied(policy_for(project), "src\\pkg\\core.py").reason_code == "invalid_path"


def test_forbidden_root_is_refused_case_insensitively(project: Path):
    policy = policy_for(project, forbidden_roots=["vendor"])
    assert denied(policy, "vendor/lib.py").reason_code == "forbidden_root"
    assert denied(policy, "VENDOR/lib.py").reason_code == "forbidden_root"


def test_path_outside_allowed_roots_is_refused(project: Path):
    error = denied(policy_for(project, allowed_roots=["src"]), "docs/guide.md")
    assert error.reason_code == "outside_scope"
    assert "src" in error.message


def test_allowed_paths_admit_single_files(project: Path):
    policy = policy_for(project, allowed_roots=[], allowed_paths=["docs/guide.md"])
    assert policy.resolve("docs/guide.md").relative == "docs/guide.md"
    assert denied(policy, "src/pkg/core.py").reason_code == "outside_scope"


def test_critical_root_needs_permission(project: Path):
    assert "deploy" in DEFAULT_CRITICAL_ROOTS
    error = denied(policy_for(project), "deploy/run.sh")
    assert error.reason_code == "critical_root"
    assert "critical_path_read_allowed" in error.message


def test_critical_root_is_readable_with_permission_and_reason(project: Path):
    policy = policy_for(
        project, critical_path_read_allowed=True, critical_path_reason="audit the deploy script"
    )
    assert policy.resolve("deploy/run.sh").relative == "deploy/run.sh"


def test_critical_roots_are_configurable(project: Path):
    policy = ScopePolicy(project, mission(), critical_roots=["docs"])
    assert policy.resolve("deploy/run.sh").relative == "deploy/run.sh"
    with pytest.raises(ScopeDenied) as info:
        policy.resolve("docs/guide.md")
    assert info.value.reason_code == "critical_root"


def test_missing_file_in_scope_is_not_found(project: Path):
    assert denied(policy_for(project), "src/missing.py").reason_code == "not_found"


def test_missing_file_outside_scope_reports_scope_not_existence(project: Path):
    error = denied(policy_for(project, allowed_roots=["src"]), "docs/missing.md")
    assert error.reason_code == "outside_scope"


def test_scope_ancestor_is_listable_only_when_asked(project: Path):
    policy = policy_for(project, allowed_roots=["src/pkg"])
    assert denied(policy, "src").reason_code == "outside_scope"
    assert policy.resolve("src", allow_scope_ancestor=True).relative == "src"
    assert policy.resolve(".", allow_scope_ancestor=True).relative == "."


def test_visible_filters_denied_and_out_of_scope_names(project: Path):
    policy = policy_for(project, allowed_roots=["src"])
    assert policy.visible("src")
    assert policy.visible("src/pkg/core.py")
    assert not policy.visible("docs")
    assert not policy.visible(".git")
    assert not policy.visible("src/.env.local")


def test_is_denied_relative_names_the_reason(project: Path):
    policy = policy_for(project, forbidden_roots=["vendor"])
    assert policy.is_denied_relative("src/pkg/core.py") is None
    assert policy.is_denied_relative(".git/HEAD") == "git_internals"
    assert policy.is_denied_relative("a/b/.ssh/config") == "secret_path"
    assert policy.is_denied_relative("vendor/x") == "forbidden_root"
    assert policy.is_denied_relative(".github/workflows/ci.yml") == "critical_root"
    assert policy.is_denied_relative(".github/CODEOWNERS") is None


def test_every_name_based_denial_is_a_blocked_reason(project: Path):
    policy = policy_for(project, forbidden_roots=["vendor"])
    names = [".env", ".git/x", ".codex-oss/runs", "vendor/a", "deploy/a", "a/.ssh/k"]
    reasons = {policy.is_denied_relative(name) for name in names}
    assert None not in reasons
    assert reasons <= BLOCKED_REASON_CODES
