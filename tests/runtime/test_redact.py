"""Redactor: secrets of every common shape go; ordinary words, ids and paths stay."""

from __future__ import annotations

import pytest

from runtime.redact import Redactor, marker

# Secrets are assembled from parts so this file itself never holds one in a scannable form.
AWS_ID = "AKIA" + "Q3EXAMPLEZ7Y2WXK"
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
OPENAI = "sk-proj-" + "Zq8XvT3LmN0pR5sW7yA2bC4dE6fG"
ANTHROPIC = "sk-ant-api03-" + "Hk2Jm4Nq6Rs8Tv0Wx2Yz4Ab6Cd8Ef"
SLACK = "xoxb-" + "123456789012-123456789012-AbCdEfGhIjKlMnOpQrStUvWx"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAvY8wq3mJ2nQ5u7x8z9A0b1c2d3e4f5g6h7i8j9k0l1m2n3o4\n"
    "p5q6r7s8t9u0v1w2x3y4z5A6B7C8D9E0F1G2H3I4J5K6L7M8N9O0P1Q2R3S4T5U6\n"
    "-----END RSA PRIVATE KEY-----"
)


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


@pytest.mark.parametrize(
    ("text", "secret", "kind"),
    [
        (f"aws_access_key_id = {AWS_ID}", AWS_ID, "aws_access_key"),
        (f"token: {GITHUB}", GITHUB, "github_token"),
        (f"OPENAI_API_KEY={OPENAI}", OPENAI, "api_key"),
        (f"key {ANTHROPIC} end", ANTHROPIC, "anthropic_key"),
        (f"slack {SLACK}", SLACK, "slack_token"),
        (f"auth {JWT}", JWT, "jwt"),
        ("Authorization: Bearer Zx81Qw7Er5Ty3Ui1Op9As", "Zx81Qw7Er5Ty3Ui1Op9As", "bearer_token"),
        ("db = 'postgres://admin:Pa55w0rdX@db:5432/app'", "Pa55w0rdX", "url_credentials"),
        ('password = "hunter2-Correct!"', "hunter2-Correct!", "assignment"),
        ("client_secret: Q9z8Y7x6W5v4U3t2", "Q9z8Y7x6W5v4U3t2", "assignment"),
        ('blob = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZkdISUpL"', "Zm9vYmFyYmF6cXV4MTIz", "high"),
    ],
)
def test_common_secret_formats_are_redacted(redactor: Redactor, text: str, secret: str, kind: str):
    result = redactor.redact(text)
    assert secret not in result.text
    assert result.count == 1
    assert any(k.startswith(kind) for k in result.kinds)
    assert "[REDACTED:" in result.text


def test_private_key_block_is_redacted_and_line_count_kept(redactor: Redactor):
    text = f"before\n{PRIVATE_KEY}\nafter\n"
    result = redactor.redact(text)
    assert "MIIEow" not in result.text
    assert "p5q6r7" not in result.text
    assert result.text.count("\n") == text.count("\n")
    assert result.text.splitlines()[-1] == "after"
    assert result.kinds == ("private_key",)


def test_private_key_without_end_marker_is_redacted_to_the_end(redactor: Redactor):
    text = PRIVATE_KEY.rsplit("\n", 1)[0]  # cut before END, as a capped read would
    result = redactor.redact("x\n" + text)
    assert "MIIEow" not in result.text
    assert result.text.startswith("x\n" + marker("private_key"))


def test_configured_values_are_replaced_exactly_wherever_they_appear():
    redactor = Redactor(["plain-looking-value", "plain-looking-value-longer"])
    result = redactor.redact("a plain-looking-value-longer b plain-looking-value c")
    assert result.text == f"a {marker('configured_key')} b {marker('configured_key')} c"
    assert result.count == 2


def test_short_configured_values_are_ignored_so_words_survive():
    assert Redactor(["ask"]).redact("ask-me").text == "ask-me"


@pytest.mark.parametrize(
    "text",
    [
        "risk-tier: low, task-list: [], ask-me: yes",
        "the mission has a risk-tier and a task-list; ask-me later",
        "use-the-force-luke and keep-it-simple-stupid are hyphenated identifiers",
        "commit 3e5cd5f0a1b2c3d4e5f60718293a4b5c6d7e8f90\nAuthor: Dev",
        "f3fd359a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e 2026-01-01T00:00:00+00:00 Dev: skeleton",
        'sha = "3e5cd5f0a1b2c3d4e5f60718293a4b5c6d7e8f90"',
        '"event_hash": "sha256:8f14e45fceea167a5a36dedd4bea2543f14e45fceea167a5a36dedd4bea25430"',
        'run_id = "123e4567-e89b-12d3-a456-426614174000"',
        'path = "src/runtime/policy_and_tools/resolve_in_scope.py"',
        "/usr/local/lib/python3.11/site-packages/detect_secrets/plugins/base.py",
        "tokens = tokenizer.encode(text)",
        "api_key = settings.OPENAI_API_KEY",
        "token_budget: 1000000",
        "password = None",
        'password = "changeme"',
        "OPENCODE_GO_API_KEY=${OPENCODE_GO_API_KEY}",
        "max_tokens: 4096, secret_values() returns keys",
        "def redact_secret_values_before_logging(token_count): pass",
        'CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")',
        "# a URL looks like scheme://user:password@host",
    ],
)
def test_ordinary_text_is_left_alone(redactor: Redactor, text: str):
    result = redactor.redact(text)
    assert result.text == text
    assert result.count == 0


def test_redaction_is_idempotent(redactor: Redactor):
    text = f"k={OPENAI}\n{PRIVATE_KEY}\npassword: 'Xy7#kL9$mN2p'\n{JWT}"
    once = redactor.redact(text)
    twice = redactor.redact(once.text)
    assert twice.text == once.text
    assert twice.count == 0


def test_several_secrets_on_one_line_are_counted_separately(redactor: Redactor):
    result = redactor.redact(f"{AWS_ID} and {GITHUB}")
    assert result.count == 2
    assert result.kinds == ("aws_access_key", "github_token")


def test_redact_obj_walks_nested_structures():
    redactor = Redactor(["configured-key-value"])
    obj = {"args": {"pattern": OPENAI, "items": ["configured-key-value", 3, None]}, "n": 1}
    clean, count = redactor.redact_obj(obj)
    assert count == 2
    assert OPENAI not in str(clean)
    assert clean["args"]["items"][1:] == [3, None]
    assert clean["n"] == 1
    assert obj["args"]["pattern"] == OPENAI  # the input is not modified


def test_empty_text(redactor: Redactor):
    assert redactor.redact("").count == 0


def test_remembered_results_belong_to_their_redactor():
    text = "the key is opaque-value-42 here"
    plain = Redactor()
    keyed = Redactor(["opaque-value-42"])
    for _ in range(2):  # the second call answers from each redactor's memo
        assert plain.redact(text).text == text
        assert keyed.redact(text).text == "the key is [REDACTED:configured_key] here"
