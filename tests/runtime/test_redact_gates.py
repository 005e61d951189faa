"""The gates in front of our format rules and detect-secrets' plugins never spare a text a
rule or a plugin would flag."""

from __future__ import annotations

import re
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.redact import (
    _DETECT_SECRETS_PLUGINS,
    _FORMAT_RULES,
    _PLUGIN_GATE,
    _RULE_GATE,
    Redactor,
    _ascii_lower,
    marker,
)

PATTERNS = [
    (kind, pattern, gates)
    for plugin, kind, gates in _DETECT_SECRETS_PLUGINS
    for pattern in plugin.denylist
]


@pytest.mark.parametrize(
    ("kind", "pattern", "gates"), PATTERNS, ids=[f"{k}-{n}" for n, (k, _, _) in enumerate(PATTERNS)]
)
def test_every_text_a_plugin_pattern_matches_passes_a_gate_of_its_plugin(
    kind: str, pattern: re.Pattern[str], gates: tuple[re.Pattern[str], ...]
):
    # Texts drawn from the plugin's own pattern (its flags too), with text around the match.
    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.from_regex(pattern))
    def passes(text: str) -> None:
        assert pattern.search(text)
        lowered = _ascii_lower(text)
        assert any(gate.search(lowered) for gate in gates), f"{kind} gates miss {text!r}"
        assert _PLUGIN_GATE.search(lowered), f"the plugins' gate misses {text!r}"

    passes()


@pytest.mark.parametrize(
    ("kind", "pattern"),
    [(kind, pattern) for kind, pattern, _, _ in _FORMAT_RULES],
    ids=[f"{kind}-{n}" for n, (kind, *_) in enumerate(_FORMAT_RULES)],
)
def test_every_text_a_format_rule_matches_passes_the_rules_gate(
    kind: str, pattern: re.Pattern[str]
):
    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.from_regex(pattern))
    def passes(text: str) -> None:
        assert pattern.search(text)
        assert _RULE_GATE.search(text), f"the rules' gate misses a {kind} in {text!r}"

    passes()


def test_the_letters_gating_case_blind_patterns_have_no_non_ascii_case_partner():
    # AWS's second pattern and Slack's ignore case; their gates find them by "aw" and "xox"
    # in text lowered as ASCII, which holds only if no other character matches those letters.
    every_other = "".join(map(chr, range(0x80, sys.maxunicode + 1)))
    assert re.findall("(?i)[awxo]", every_other) == []
    assert re.findall("(?i)[s]", every_other) == ["\u017f"]  # the check can see a partner


def test_ascii_lowering_keeps_offsets_and_leaves_other_characters():
    assert _ascii_lower("API_KEY=x") == "api_key=x"
    assert _ascii_lower("İK ÀB") == "İk Àb"


def test_a_slack_token_in_capitals_is_redacted():
    token = "XOXB-" + "123456789012-123456789012-ABCDEFGHIJKLMNOP"
    redacted = Redactor().redact(f'hook = "{token}"')
    assert redacted.text == f'hook = "{marker("slack_token")}"'
