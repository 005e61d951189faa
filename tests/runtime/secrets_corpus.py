"""A corpus of secrets the Redactor must catch and look-alikes it must leave alone.

Each secret is written the way it turns up in a repository (a config line, a YAML manifest, a
header, a split literal), assembled from parts so this file holds none in a scannable form.
``fragments`` are the pieces that must not survive redaction (for a split secret, each
piece; for an encoded one, the encoding). :func:`score` counts leaks and false positives, the
figures the issue's note reports.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from runtime.redact import Redactor


@dataclass(frozen=True)
class Secret:
    """One kind of secret in its context, and the fragments that must not survive."""

    kind: str
    text: str
    fragments: tuple[str, ...]


def _secret(kind: str, before: str, value: str, after: str = "") -> Secret:
    return Secret(kind, before + value + after, (value,))


GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
STRIPE_LIVE = "sk_live_" + "51H8xYzAbCdEfGhIjKlMnOpQrStUv"
OPENAI = "sk-proj-" + "Zq8XvT3LmN0pR5sW7yA2bC4dE6fG"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
RSA_BODY = "MIIEowIBAAKCAQEAvY8wq3mJ2nQ5u7x8z9A0b1c2d3e4f5g6h7i8j9k0l1m2n3o4"
SSH_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


SECRETS: list[Secret] = [
    _secret("aws_access_key", "aws_access_key_id = ", "AKIA" + "Q3EXAMPLEZ7Y2WXK"),
    _secret("aws_secret", "aws_secret_access_key = ", "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzK3q"),
    _secret("github_classic", "GITHUB_TOKEN=", GITHUB),
    _secret("github_oauth", "token: ", "gho_" + "16C7e42F292c6912E7710c838347Ae178B4a"),
    _secret(
        "github_fine_grained",
        "pat = '",
        "github_pat_" + "11ABCDEFG0a1b2c3d4e5f6_g7h8i9J0k1L2m3N4o5P6",
        "'",
    ),
    _secret("gitlab", "private_token: ", "glpat-" + "x9Yz8WvU7tS6rQ5pO4nM"),
    _secret("openai", "OPENAI_API_KEY=", OPENAI),
    _secret("anthropic", "key ", "sk-ant-api03-" + "Hk2Jm4Nq6Rs8Tv0Wx2Yz4Ab6Cd8Ef", " end"),
    _secret(
        "slack_bot", "slack = ", "xoxb-" + "123456789012-123456789012-AbCdEfGhIjKlMnOpQrStUvWx"
    ),
    _secret(
        "slack_webhook",
        "url: ",
        "https://hooks.slack.com/services/" + "T0A1B2C3D/B4E5F6G7H/q8R9s0T1u2V3w4X5y6Z7a8B9",
    ),
    _secret("google_api", "maps_key: ", "AIza" + "SyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI"),
    _secret("stripe_live", "STRIPE_SECRET=", STRIPE_LIVE),
    _secret("stripe_restricted", "stripe.api_key = '", "rk_live_" + "51H8xYzAbCdEfGhIjKlMnOp", "'"),
    _secret("huggingface", "HF_TOKEN=", "hf_" + "abcdefghijklmnopqrstuvwxyzABCDEFGH"),
    _secret("npm", "//registry/:_authToken=", "npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
    _secret(
        "pypi",
        "password = ",
        "pypi-AgEIcHlwaS5vcmc" + "CJGI4ZWFkYzg2LWFmMjMtNDEwYy04NjM5LWI0ZWRhOGJlZjc3OQACKlszLCJmN",
    ),
    _secret("jwt", "Cookie: session=", JWT),
    Secret(
        "rsa_private_key",
        f"-----BEGIN RSA PRIVATE KEY-----\n{RSA_BODY}\n-----END RSA PRIVATE KEY-----",
        (RSA_BODY,),
    ),
    Secret(
        "openssh_private_key",
        f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SSH_BODY}\n-----END OPENSSH PRIVATE KEY-----",
        (SSH_BODY,),
    ),
    Secret(
        "putty_key",
        "PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nPrivate-Lines: 1\n"
        "AAAAgQCxq8vT3LmN0pR5sW7yA2bC4\nPrivate-MAC: 1234abcd",
        ("AAAAgQCxq8vT3LmN0pR5sW7yA2bC4",),
    ),
    _secret("bearer", "Authorization: Bearer ", "Zx81Qw7Er5Ty3Ui1Op9As"),
    _secret("url_credentials", "DATABASE_URL=postgres://admin:", "Pa55w0rdX9z", "@db:5432/app"),
    _secret("password_assignment", 'password = "', "hunter2-Correct!", '"'),
    _secret("client_secret_yaml", "client_secret: ", "Q9z8Y7x6W5v4U3t2"),
    _secret("token_flag", "curl --token=", "Zq8XvT3LmN0pR5sW7yA2"),
    _secret("twilio", "twilio_sid = '", "SK" + "0123456789abcdef0123456789abcdef", "'"),
    _secret(
        "sendgrid",
        "SENDGRID=",
        "SG." + "ngeVfQFYQlKU0ufo8x5d1A.TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr",
    ),
    _secret("mailchimp", "mc = '", "0123456789abcdef0123456789abcdef" + "-us12", "'"),
    _secret(
        "discord", "DISCORD=", "MTk4NjIyNDgzNDcxOTI1MjQ4" + ".Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs"
    ),
    _secret("telegram", "bot = '", "110201543:" + "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ", "'"),
    _secret(
        "azure_storage",
        "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=",
        "lJzRc1YdHaAA2KCNJJ1tkYwF/+mKK6Ygw0NGe170Xu592euJv2wYUtBlV8z+qnlcNQSnIYVTkLWntUO1F8j8rQ==",
    ),
    _secret("square", "square = ", "sq0csp-" + "xKpL9aT3mQ2vR7yN4bW8zC1dF6gH0jS5uE-_iO2kY3t"),
    _secret(
        "high_entropy_quoted", 'blob = "', "Zm9vYmFyYmF6cXV4MTIz" + "NDU2Nzg5MGFiY2RlZkdISUpL", '"'
    ),
    # The two the adversarial run found leaking, and their cousins.
    Secret(
        "github_split_literals",
        f'TOKEN = (\n    "{GITHUB[:20]}"\n    "{GITHUB[20:]}"\n)',
        (GITHUB[:20], GITHUB[20:]),
    ),
    Secret(
        "stripe_split_concatenation",
        f"const key = '{STRIPE_LIVE[:14]}' +\n  '{STRIPE_LIVE[14:]}';",
        (STRIPE_LIVE[:14], STRIPE_LIVE[14:]),
    ),
    Secret(
        "openai_split_backslash",
        f'KEY = "{OPENAI[:12]}" \\\n      "{OPENAI[12:]}"',
        (OPENAI[:12], OPENAI[12:]),
    ),
    Secret(
        "k8s_secret_base64",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: payments\ntype: Opaque\ndata:\n"
        f"  STRIPE_KEY: {_b64(STRIPE_LIVE)}\n",
        (_b64(STRIPE_LIVE),),
    ),
    Secret(
        "base64_github_token",
        f"auth: {_b64(GITHUB)}",
        (_b64(GITHUB),),
    ),
    Secret(
        "hex_encoded_openai_key",
        f"encoded_key = {OPENAI.encode().hex()}",
        (OPENAI.encode().hex(),),
    ),
]

# Text that looks a little like a secret and must come through byte for byte.
LOOKALIKES: dict[str, str] = {
    "risk_tier": "risk-tier: low, task-list: [], ask-me: yes",
    "sk_learn": "pip install scikit-learn  # imported as sklearn; the sk-learn docs",
    "git_sha1": "commit 3e5cd5f0a1b2c3d4e5f60718293a4b5c6d7e8f90",
    "git_sha256": "tree 8f14e45fceea167a5a36dedd4bea2543f14e45fceea167a5a36dedd4bea25430",
    "uuid": 'run_id = "123e4567-e89b-12d3-a456-426614174000"',
    "npm_integrity": '"integrity": "sha512-'
    + "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG9mcmVkd2lsbWFmbGlldHdpbGJ5cmtldg=="
    + '"',
    "pip_hash": "requests==2.32.3 --hash=sha256:"
    + "70761cfe03c773ceb22aa2f671b4757976145175cdfca038c02654d061d6dcc6",
    "docker_digest": "image: python@sha256:"
    + "5cf1f4a6c3b8b3e8a0d0f4a44c6b2d1d0a8c5fd1b4b6a3f8e2c1d0a9b8c7d6e5",
    "env_reference": "OPENCODE_GO_API_KEY=${OPENCODE_GO_API_KEY}",
    "settings_attribute": "api_key = settings.OPENAI_API_KEY",
    "password_none": "password = None",
    "token_budget": "token_budget: 1000000, max_tokens: 4096",
    "k8s_configmap_base64": "kind: ConfigMap\nbinaryData:\n  greeting: "
    + base64.b64encode(b"hello from the config map, nothing secret here").decode(),
    "adjacent_literals": (
        'message = (\n    "the mission has a risk-tier "\n    "and a task-list"\n)'
    ),
    "png_data_uri": "src: data:image/png;base64,"
    + "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAC"
    + "hwGA60e6kgAAAABJRU5ErkJggg==",
    "hex_color_and_bytes": "color: #1a2b3c; magic = 0x89504e470d0a1a0a",
    "long_path": "/usr/local/lib/python3.11/site-packages/detect_secrets/plugins/base.py",
}


def leaks(redactor: Redactor, case: Secret) -> list[str]:
    """The fragments of ``case`` still present after redaction."""
    text = redactor.redact(case.text).text
    return [fragment for fragment in case.fragments if fragment in text]


def score(redactor: Redactor) -> tuple[list[str], list[str]]:
    """(kinds that leak, look-alikes that were changed)."""
    leaked = [case.kind for case in SECRETS if leaks(redactor, case)]
    changed = [name for name, text in LOOKALIKES.items() if redactor.redact(text).text != text]
    return leaked, changed
