"""Grounding: whether the text a finding cites supports it, checked mechanically (pure).

A finding is grounded when its ``quote`` appears verbatim (whitespace aside) in the lines it
cites, as the model was shown them, or, without a quote, when enough of the claim's
distinctive words appear there. Degenerate text (one token over and over, or text that
compresses far better than prose does) is never a finding, whatever it cites. Quotes are
not judged so: a verbatim quote of repetitive code is still verbatim.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Iterable

MIN_QUOTE_CHARS = 8  # shorter quotes ("def", "x = 1") prove nothing; the words decide instead
# A claim-sized text of prose or code keeps over 60% of its size under zlib (and long code
# about 40%); a phrase repeated over and over compresses to a quarter or less. Below these
# ratios text is repetition, not a statement.
MIN_COMPRESSION_RATIO = 0.4
MIN_COMPRESSION_RATIO_LONG = 0.3
LONG_BYTES = 1024
MIN_BYTES_FOR_RATIO = 64  # zlib's own overhead hides the ratio of shorter text
MAX_TOP_TOKEN_SHARE = 0.6  # one token making up most words: "PATCH: PATCH: PATCH: ..."
MIN_WORDS_FOR_SHARE = 8
# Share of the claim's distinctive words the cited text must hold (and at least two, or all
# of them when the claim has fewer): loose enough for paraphrase, too tight for a guess.
MIN_TERM_SHARE = 0.25

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBERED = re.compile(r"^\d+\t", re.MULTILINE)
_STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        """
    about above after again against all also and any are because been before being below
    between both but can cannot could did does doing down during each few for from further
    had has have having here how into its itself just more most must not now only other our
    out over own same should some such than that the their them then there these they this
    those through too under until very was were what when where which while who whom why
    will with would you your yes file files line lines code project finding findings claim
    shows show shown see seen uses use used using one two first last part
    """,
    )
)


def squash(text: str) -> str:
    """``text`` with every run of whitespace made one space (how quotes are compared)."""
    return " ".join(text.split())


def cited_lines(output: str, start: int | None = None, end: int | None = None) -> str:
    """The text of a read observation's lines ``start``-``end`` without their line numbers.

    ``output`` is what the model was shown (``N<TAB>text`` per line for reads); other tools'
    output comes back whole when no range is asked for.
    """
    if start is None:
        return _NUMBERED.sub("", output)
    picked = []
    for line in output.splitlines():
        number, tab, rest = line.partition("\t")
        if tab and number.isdigit() and start <= int(number) <= (end or start):
            picked.append(rest)
    return "\n".join(picked)


def degenerate(text: str) -> str | None:
    """Why ``text`` is degenerate (a repeated token, far too compressible), or None."""
    words = [word for word in text.split() if any(c.isalnum() for c in word)]
    if len(words) >= MIN_WORDS_FOR_SHARE:
        token, count = Counter(word.lower() for word in words).most_common(1)[0]
        if count / len(words) >= MAX_TOP_TOKEN_SHARE:
            return f"the token {token[:20]!r} makes up {count} of its {len(words)} words"
    raw = squash(text).encode("utf-8")
    if len(raw) >= MIN_BYTES_FOR_RATIO:
        ratio = len(zlib.compress(raw, 9)) / len(raw)
        floor = MIN_COMPRESSION_RATIO if len(raw) < LONG_BYTES else MIN_COMPRESSION_RATIO_LONG
        if ratio < floor:
            return (
                f"it compresses to {ratio:.0%} of its size, as repetition does and prose does not"
            )
    return None


def distinctive_terms(text: str) -> set[str]:
    """The words of ``text`` that say something: no stopwords, no short words, crudely stemmed."""
    terms: set[str] = set()
    for word in _WORD.findall(text):
        for part in {word, *word.split("_")}:
            lowered = part.lower()
            if len(lowered) >= 3 and lowered not in _STOPWORDS:
                terms.add(_stem(lowered))
    return terms


def finding_problem(claim: str, quote: str | None, cited: Iterable[str]) -> str | None:
    """None when ``cited`` (the texts the finding's refs resolve to) supports the finding;
    otherwise the reason it is rejected, fit for the report.

    One cited range must carry the finding on its own (a pile of broad refs proves nothing):
    it holds the verbatim quote (what the claim makes of it is GPT's to judge), or, without a
    quote, enough of the claim's distinctive words.
    """
    if why := degenerate(claim):
        return f"degenerate claim: {why}"
    texts = [text for text in cited if text]
    if wanted := quoted_text(quote):
        if any(wanted in squash(text) for text in texts):
            return None
        return "the quote does not appear in the cited lines the runtime showed"
    terms = distinctive_terms(claim)
    if not terms:
        return "the claim names nothing the cited lines could confirm; add a verbatim quote"
    best = max((len(terms & distinctive_terms(text)) for text in texts), default=0)
    if best >= min(2, len(terms)) and best >= MIN_TERM_SHARE * len(terms):
        return None
    return (
        f"the cited lines hold {best} of the claim's {len(terms)} distinctive words in any one "
        "range; quote the lines that support it"
    )


def quoted_text(quote: str | None) -> str:
    """A quote as it is matched (line numbers dropped, whitespace squashed), or "" when what
    is left is too short to prove anything."""
    wanted = squash(_NUMBERED.sub("", quote or ""))
    return wanted if len(wanted) >= MIN_QUOTE_CHARS else ""


def citable_text(tool_name: str, output: str) -> str:
    """What an observation shows of the project, as a finding may cite it.

    grep's own framing is left out: a miss echoes the model's pattern ("No matches for ..."),
    which would let a model cite its own words, and a cut-off note is about the search.
    """
    if tool_name != "grep":
        return output
    if output.startswith("No matches for "):
        return ""
    return "\n".join(
        line for line in output.splitlines() if not (line.startswith("[") and "hits shown" in line)
    )


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word
