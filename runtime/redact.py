"""Secret redaction: every text bound for the model, the disk or the client passes through here.

Three layers, cheapest and most certain first:

1. exact values: the configured keys (``Settings.secret_values()``) are replaced wherever they
   appear, whatever they look like;
2. known formats: a compiled rule set (private key blocks, AWS, GitHub, OpenAI/Anthropic
   ``sk-`` keys, Slack, JWTs, bearer tokens, credentials in URLs, ``password=``/``api_key:``
   assignments with secret-looking values) plus detect-secrets' own format detectors;
3. high entropy: detect-secrets' Base64/Hex entropy measure on quoted strings, with its
   heuristics (UUIDs, sequences) and ours (git object ids, paths) to keep ordinary text intact.

Every detection becomes a span; overlapping spans merge; each span is replaced by
``[REDACTED:<kind>]`` followed by as many newlines as it covered, so line numbers after a
redacted multi-line block still match the file. Redacting redacted text changes nothing.
"""

from __future__ import annotations

import binascii
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import accumulate, pairwise
from typing import Any

from detect_secrets.filters.heuristic import is_potential_uuid, is_sequential_string
from detect_secrets.plugins.artifactory import ArtifactoryDetector
from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.high_entropy_strings import (
    Base64HighEntropyString,
    HexHighEntropyString,
)
from detect_secrets.plugins.jwt import JwtTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.npm import NpmDetector
from detect_secrets.plugins.openai import OpenAIDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

__all__ = ["MARKER_PREFIX", "Redacted", "Redactor", "marker"]

MARKER_PREFIX = "[REDACTED:"
# Configured values shorter than this would match ordinary words; Settings already drops them.
MIN_EXACT_VALUE_LENGTH = 6
# Short texts (keys, tool names, paths, phases) come back again and again in a mission; their
# results are remembered, up to this many.
MEMO_MAX_CHARS = 256
MEMO_ENTRIES = 4096


def marker(kind: str) -> str:
    """The text a secret of ``kind`` is replaced with."""
    return f"{MARKER_PREFIX}{kind}]"


@dataclass(frozen=True)
class Redacted:
    """Text after redaction, how many secrets were replaced and of which kinds (sorted, unique)."""

    text: str
    count: int
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    kind: str


# Characters that continue a token: a secret is never the tail of a longer word ("ask-me",
# "risk-tier"). Checked in Python rather than with a look-behind, which would cost the regex
# engine its fast literal-prefix scan (about 30x slower on source text).
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_END = r"(?![A-Za-z0-9_\-])"

# (kind, pattern, group holding the secret, must start at a token boundary).
_FORMAT_RULES: tuple[tuple[str, re.Pattern[str], int, bool], ...] = (
    (
        "private_key",
        re.compile(
            r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----"
            r"(?:.*?-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|.*\Z)",
            re.DOTALL,
        ),
        0,
        False,
    ),
    (
        "private_key",
        re.compile(r"PuTTY-User-Key-File-\d+:.*?(?:Private-MAC:[^\n]*|\Z)", re.DOTALL),
        0,
        False,
    ),
    (
        "aws_access_key",
        re.compile(r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}" + _END),
        0,
        True,
    ),
    ("github_token", re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}" + _END), 0, True),
    ("github_token", re.compile(r"github_pat_[A-Za-z0-9_]{30,}" + _END), 0, True),
    ("gitlab_token", re.compile(r"glpat-[A-Za-z0-9_\-]{20,}" + _END), 0, True),
    ("anthropic_key", re.compile(r"sk-ant-[A-Za-z0-9_\-]{20,}" + _END), 0, True),
    # OpenAI-style keys, and the many OpenAI-compatible providers that copied the shape.
    ("api_key", re.compile(r"sk-[A-Za-z0-9_\-]{20,}" + _END), 0, True),
    ("slack_token", re.compile(r"xox[abposr]-[A-Za-z0-9\-]{10,}" + _END), 0, True),
    ("slack_webhook", re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9_/]+"), 0, False),
    ("google_api_key", re.compile(r"AIza[0-9A-Za-z_\-]{35}" + _END), 0, True),
    ("stripe_key", re.compile(r"[sr]k_(?:live|test)_[0-9A-Za-z]{16,}" + _END), 0, True),
    ("huggingface_token", re.compile(r"hf_[A-Za-z0-9]{30,}" + _END), 0, True),
    ("npm_token", re.compile(r"npm_[A-Za-z0-9]{36}" + _END), 0, True),
    (
        "jwt",
        re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}" + _END),
        0,
        True,
    ),
    # scheme://user:password@host: only the password goes.
    ("url_credentials", re.compile(r"://[^\s:/@'\"]+:([^\s/@'\"]+)@"), 1, False),
)

# What every match of a rule above contains: a text with none of these skips the rules.
_RULE_GATE = re.compile(
    r"-----BEGIN|PuTTY-User-Key-File-|A3T|AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|glpat-"
    r"|sk-|xox|hooks\.slack\.com|AIza|k_live_|k_test_|hf_|npm_|eyJ|://"
)

# `password = "..."`, `API_KEY: ...`, `"client_secret": "..."`, `--token=...`: a key holding a
# secret word, then the value, which _looks_secret must accept. Run on ASCII-lowered text
# (same length, so offsets carry over), because IGNORECASE disables the fast literal scan.
_ASSIGNMENT = re.compile(
    r"(?:passw(?:or)?d|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key"
    r"|auth[_\-]?key|credentials?)[a-z0-9_]*['\"]?\s*(?::=|=>|=|:)\s*"
    r"(['\"]?)([^\s'\"`,;()\[\]{}<>]{8,})\1"
)
_BEARER = re.compile(r"bearer\s+([a-z0-9_\-.~+/]{16,}=*)(?![a-z0-9_\-])")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_DOTTED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")
_PLACEHOLDER = re.compile(
    r"(?i)^(?:x+|\*+|\.+|-+|<.*>|\$\{?.*|%\(.*|\{\{.*|changeme|example\w*|placeholder|redacted"
    r"|none|null|true|false|undefined|your[_\-].*|test(?:ing)?|dummy\w*"
    r"|pass(?:word|wd)?|pwd|secret|token|key|user(?:name)?)$"
)

# String literals (one line each) and what may stand between two that are one string:
# blanks and newlines, and at most one concatenation operator (+, ., .., or a backslash).
_LITERAL = re.compile(r""""([^"\\\n]*(?:\\.[^"\\\n]*)*)"|'([^'\\\n]*(?:\\.[^'\\\n]*)*)'""")
_JOINER = re.compile(r"\s*(?:\+|\.\.?|\\)?\s*")
# Where two literals meet (quote, joiner, quote, then a token's start): without one, there is
# no chain to join, and the literal pass is skipped.
_ADJACENT_QUOTES = re.compile(r"""["'][ \t]*(?:\+|\.\.?|\\)?\s*["'][A-Za-z0-9_\-+/=.:]{4}""")
# Runs that may be an encoded secret: base64 (16+ chars, padded to a multiple of 4) or hex.
# Their boundaries are checked in Python: a look-behind would cost the engine its fast scan.
_ENCODED_RUN = re.compile(r"[A-Za-z0-9+/]{16}[A-Za-z0-9+/]*={0,2}")  # {16,}, but faster in sre
_ENCODED_NEIGHBOURS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-"
)
# A literal worth joining to its neighbour: a token's fragment, not prose.
_TOKENISH = re.compile(r"[A-Za-z0-9_\-+/=.:]{4,}")
# Subresource-integrity digests (lockfiles): high entropy by design, never a secret.
_SRI = re.compile(r"sha(?:1|256|384|512)-[A-Za-z0-9+/]+={0,2}")

# Quoted strings for the entropy check (the detect-secrets plugins' own charsets).
_BASE64 = Base64HighEntropyString()
_HEX = HexHighEntropyString()
_QUOTED = re.compile(r"(['\"])([A-Za-z0-9+/\-_=]{20,})\1")
_HEX_ONLY = re.compile(r"^[0-9a-fA-F]+$")
# Git object ids (SHA-1, SHA-256) and content digests: the model needs them verbatim.
_DIGEST_LENGTHS = frozenset({40, 64})

# Each plugin, its findings' kind and its gates: patterns, one of which every match of the
# plugin's own contains, searched in the ASCII-lowered text. Each opens with a literal the regex
# engine scans fast (the plugins' own open with classes); a text no gate finds skips the plugin.
# Gates of the plugins that ignore case (AWS, Slack) hold no letter with a non-ASCII partner.
_DETECT_SECRETS_PLUGINS = tuple(
    (
        plugin(),
        re.sub(r"[^a-z0-9]+", "_", plugin.secret_type.lower()).strip("_"),
        tuple(map(re.compile, gates)),
    )
    for plugin, gates in {
        ArtifactoryDetector: (r"akc[a-z0-9]{10}", r"ap[\da-f][a-z0-9]{8}"),
        AWSKeyDetector: (r"a(?:3t|bia|cca|kia|sia|w)",),
        AzureStorageKeyDetector: ("accountkey=",),
        BasicAuthDetector: ("://",),
        DiscordBotTokenDetector: (r"\.[a-z\d_-]{6}\.[a-z\d_-]{27}",),
        GitHubTokenDetector: ("gh[pousr]_",),
        GitLabTokenDetector: ("g(?:l[a-z]+-|r1348941)",),
        JwtTokenDetector: ("eyj",),
        MailchimpDetector: ("-us[0-9]",),
        NpmDetector: ("/:_authtoken=",),
        OpenAIDetector: ("t3blbkfj",),
        PypiTokenDetector: ("pypi-age",),
        SendGridDetector: (r"sg\.",),
        SlackDetector: ("xox", "://"),
        SquareOAuthDetector: ("sq0csp-",),
        StripeDetector: ("k_live_",),
        TelegramBotTokenDetector: (":[0-9a-z_-]{35}",),
        TwilioKeyDetector: ("ac[a-z0-9]{32}", "sk[a-z0-9]{32}"),
    }.items()
)
# Any plugin's gate: most texts pass none, and one search rules out every plugin.
_PLUGIN_GATE = re.compile(
    "|".join(g.pattern for _, _, gates in _DETECT_SECRETS_PLUGINS for g in gates)
)


class Redactor:
    """Finds secrets in text and replaces them with ``[REDACTED:<kind>]`` markers."""

    def __init__(self, exact_values: Iterable[str] = ()):
        values = {
            v for v in exact_values if isinstance(v, str) and len(v) >= MIN_EXACT_VALUE_LENGTH
        }
        # Longest first, so a key that contains another key is replaced whole.
        self._exact = sorted(values, key=len, reverse=True)
        self._exact_pattern = (
            re.compile("|".join(re.escape(v) for v in self._exact)) if self._exact else None
        )
        self._remembered = functools.lru_cache(maxsize=MEMO_ENTRIES)(self._redact)

    def redact(self, text: str) -> Redacted:
        """``text`` with every detected secret replaced; count and kinds of what was replaced."""
        return self._remembered(text) if len(text) <= MEMO_MAX_CHARS else self._redact(text)

    def _redact(self, text: str) -> Redacted:
        spans = _merge(self._find(text))
        if not spans:
            return Redacted(text=text, count=0, kinds=())
        parts: list[str] = []
        cursor = 0
        for span in spans:
            parts.append(text[cursor : span.start])
            parts.append(marker(span.kind) + "\n" * text.count("\n", span.start, span.end))
            cursor = span.end
        parts.append(text[cursor:])
        kinds = tuple(sorted({span.kind for span in spans}))
        return Redacted(text="".join(parts), count=len(spans), kinds=kinds)

    def redact_obj(self, obj: Any) -> tuple[Any, int]:
        """A copy of ``obj`` with every string in dicts, lists and tuples redacted (keys too)."""
        if isinstance(obj, str):
            result = self.redact(obj)
            return result.text, result.count
        if isinstance(obj, dict):
            total = 0
            out: dict[Any, Any] = {}
            for key, value in obj.items():
                new_key, key_count = self.redact_obj(key) if isinstance(key, str) else (key, 0)
                new_value, value_count = self.redact_obj(value)
                out[new_key] = new_value
                total += key_count + value_count
            return out, total
        if isinstance(obj, list | tuple):
            pairs = [self.redact_obj(item) for item in obj]
            items = [item for item, _ in pairs]
            return (tuple(items) if isinstance(obj, tuple) else items), sum(n for _, n in pairs)
        return obj, 0

    def _find(self, text: str) -> Iterator[_Span]:
        if self._exact_pattern is not None:
            for match in self._exact_pattern.finditer(text):
                yield _Span(match.start(), match.end(), "configured_key")
        yield from _format_spans(text)
        lowered = _ascii_lower(text)
        for pattern, group, kind in ((_ASSIGNMENT, 2, "assignment"), (_BEARER, 1, "bearer_token")):
            for match in pattern.finditer(lowered):
                value = text[match.start(group) : match.end(group)]
                if _looks_secret(value):
                    yield _Span(match.start(group), match.end(group), kind)
        for match in _QUOTED.finditer(text):
            if _high_entropy(match.group(2)):
                yield _Span(match.start(2), match.end(2), "high_entropy")
        yield from _split_literal_spans(text)
        yield from _encoded_spans(text)


def _format_spans(text: str) -> Iterator[_Span]:
    """Spans of every known secret format in ``text``: our rules, then detect-secrets'."""
    for kind, pattern, group, at_boundary in _FORMAT_RULES if _RULE_GATE.search(text) else ():
        for match in pattern.finditer(text):
            start = match.start()
            if at_boundary and start > 0 and text[start - 1] in _TOKEN_CHARS:
                continue
            value = match.group(group)
            if MARKER_PREFIX not in value and not _PLACEHOLDER.match(value):
                yield _Span(match.start(group), match.end(group), kind)
    yield from _detect_secrets_spans(text)


def _split_literal_spans(text: str) -> Iterator[_Span]:
    """Secrets cut into adjacent string literals: ``"ghp_abc"`` then ``"def"`` on the next
    line, ``'sk_live_' + '...'``, ``"..." \\`` continuations.

    The literals of each chain are joined and scanned for known formats; a secret that
    crosses from one literal into the next takes every literal it touches. (A secret inside
    one literal was found by the plain scan already.)
    """
    if not any(
        _TOKENISH.fullmatch(text, max(0, m.start() - 4), m.start())
        for m in _ADJACENT_QUOTES.finditer(text)
    ):
        return
    chain: list[re.Match[str]] = []
    for match in _LITERAL.finditer(text):
        content = match.group(1) if match.group(1) is not None else match.group(2)
        if not _TOKENISH.fullmatch(content):
            yield from _chain_spans(chain)
            chain = []
            continue
        if chain and not _JOINER.fullmatch(text, chain[-1].end(), match.start()):
            yield from _chain_spans(chain)
            chain = []
        chain.append(match)
    yield from _chain_spans(chain)


def _chain_spans(chain: list[re.Match[str]]) -> Iterator[_Span]:
    if len(chain) < 2:
        return
    groups = [1 if m.group(1) is not None else 2 for m in chain]  # "..." or '...'
    pieces = [m.group(g) for m, g in zip(chain, groups, strict=True)]
    bounds = list(accumulate((len(piece) for piece in pieces[:-1]), initial=0))  # piece starts
    joined = "".join(pieces)
    for found in _format_spans(joined):
        touched = [
            index
            for index, start in enumerate(bounds)
            if start < found.end and start + len(pieces[index]) > found.start
        ]
        if len(touched) < 2:
            continue  # inside one literal: the plain scan has it
        for index in touched:
            group = groups[index]
            yield _Span(chain[index].start(group), chain[index].end(group), found.kind)


def _encoded_spans(text: str) -> Iterator[_Span]:
    """Base64 or hex tokens whose decoded text holds a known secret format (a Kubernetes
    ``kind: Secret``'s ``data:``, an encoded key in a config): the whole token goes."""
    for match in _ENCODED_RUN.finditer(text):
        start, end = match.span()
        if (start and text[start - 1] in _ENCODED_NEIGHBOURS) or (
            end < len(text) and text[end] in _ENCODED_NEIGHBOURS
        ):
            continue  # part of a longer word, path or identifier
        token = match.group()
        for decode, suffix in ((_from_base64, "base64"), (_from_hex, "hex")):
            decoded = decode(token)
            if decoded is None:
                continue
            found = next(_format_spans(decoded), None)
            if found is not None:
                yield _Span(start, end, f"{found.kind}_{suffix}")
                break


def _from_base64(token: str) -> str | None:
    if len(token) % 4:
        return None
    try:
        return _printable(binascii.a2b_base64(token, strict_mode=True))
    except (binascii.Error, ValueError):
        return None


def _from_hex(token: str) -> str | None:
    if len(token) < 24 or len(token) % 2 or not _HEX_ONLY.match(token):
        return None
    try:
        return _printable(bytes.fromhex(token))
    except ValueError:
        return None


def _printable(data: bytes) -> str | None:
    """``data`` as text if it is printable UTF-8 (an encoded secret), else None (a digest)."""
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not decoded.strip() or not all(c.isprintable() or c in "\n\r\t" for c in decoded):
        return None
    return decoded


def _detect_secrets_spans(text: str) -> Iterator[_Span]:
    """Spans of every value detect-secrets' format plugins report in ``text``."""
    lowered = _ascii_lower(text)
    if not _PLUGIN_GATE.search(lowered):
        return
    for plugin, kind, gates in _DETECT_SECRETS_PLUGINS:
        for gate in gates:  # a loop, not any(): most texts pass no gate, and any() costs more
            if gate.search(lowered):
                break
        else:
            continue
        for value in set(plugin.analyze_string(text)):
            # Plugins report values, not positions; short reports would match ordinary text.
            if len(value) < 8 or MARKER_PREFIX in value or _PLACEHOLDER.match(value):
                continue
            start = text.find(value)
            while start != -1:
                yield _Span(start, start + len(value), kind)
                start = text.find(value, start + len(value))


def _ascii_lower(text: str) -> str:
    """``text`` with only A-Z lowered, so offsets carry over (str.lower may lengthen others)."""
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def _merge(spans: Iterable[_Span]) -> list[_Span]:
    """Sort and merge overlapping spans; the first (earliest, then longest) kind wins."""
    ordered = sorted(spans, key=lambda s: (s.start, -s.end))
    merged: list[_Span] = []
    for span in ordered:
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            if span.end > last.end:
                merged[-1] = _Span(last.start, span.end, last.kind)
            continue
        merged.append(span)
    return merged


def _looks_secret(value: str) -> bool:
    """Whether an assigned value looks like a credential rather than code or a placeholder."""
    if _PLACEHOLDER.match(value) or _DOTTED_NAME.match(value) or MARKER_PREFIX[1:] in value:
        return False
    if value.isdigit() or is_sequential_string(value):
        return False
    classes = sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
            any(not c.isalnum() for c in value),
        )
    )
    # A lone lowercase word or a snake/kebab identifier ("task-list", "get_token") is code.
    if classes < 2 or re.fullmatch(r"[a-z]+(?:[_\-][a-z]+)*", value):
        return False
    if re.fullmatch(r"[A-Z]+(?:_[A-Z0-9]+)*", value):  # an environment variable's name
        return False
    return _BASE64.calculate_shannon_entropy(value) >= 2.5


def _mostly_sequential(value: str) -> bool:
    """Alphabet-like runs ("ABC...xyz0123"): an ordered charset in code, not a random key."""
    steps = sum(1 for a, b in pairwise(value) if ord(b) == ord(a) + 1)
    return steps >= 0.6 * (len(value) - 1)


def _high_entropy(value: str) -> bool:
    """detect-secrets' entropy test, minus the strings it is known to misjudge."""
    if is_potential_uuid(value) or is_sequential_string(value) or _mostly_sequential(value):
        return False
    if _SRI.fullmatch(value):
        return False
    if _HEX_ONLY.match(value):
        if len(value) in _DIGEST_LENGTHS or len(value) < 32:
            return False
        return _HEX.calculate_shannon_entropy(value) > _HEX.entropy_limit
    if value.count("/") >= 1 and all(
        re.fullmatch(r"[a-z0-9_.\-]*", part) for part in value.split("/")
    ):
        return False  # a lowercase path such as "src/runtime/tools-and-policy"
    if re.fullmatch(r"[a-z]+(?:[_\-][a-z0-9]+)+", value):
        return False  # a long kebab/snake identifier
    return _BASE64.calculate_shannon_entropy(value) > _BASE64.entropy_limit
