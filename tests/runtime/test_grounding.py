import pytest

from runtime.grounding import cited_lines, degenerate, distinctive_terms, finding_problem

SHOWN = (
    "3\t    for i in range(len(items) - 1):\n4\t        result += items[i]\n5\t    return result\n"
)


@pytest.mark.parametrize(
    "text",
    [
        "PATCH: " * 30,
        "the the the the bug is here the the the",
        "This project is a bridge " * 4,
    ],
)
def test_degenerate_text_is_named(text):
    assert degenerate(text)


@pytest.mark.parametrize(
    "text",
    [
        "OpenCode Bridge lets Codex hand bounded work to open-source models through a local "
        "Responses-compatible server on 127.0.0.1:4000.",
        "total() skips the last item because range(len(items) - 1) stops one early",
        "| alias | what runs |\n| --- | --- |\n| `mission-a2-<profile>` | a quick lookup |",
    ],
)
def test_prose_code_and_tables_are_not_degenerate(text):
    assert degenerate(text) is None


def test_cited_lines_drop_line_numbers_and_keep_only_the_range():
    assert cited_lines(SHOWN, 4, 5) == "        result += items[i]\n    return result"
    assert cited_lines(SHOWN).startswith("    for i in range")


def test_a_verbatim_quote_grounds_a_finding_whatever_the_whitespace():
    quote = "range(len(items)   - 1):\n result += items[i]"
    assert finding_problem("off by one", quote, [cited_lines(SHOWN, 3, 4)]) is None


def test_a_forged_quote_is_rejected_even_when_the_words_match():
    claim = "the loop uses range(len(items) - 1) and skips the last item"
    problem = finding_problem(claim, "for i in range(len(items)):", [cited_lines(SHOWN, 3, 4)])
    assert problem == "the quote does not appear in the cited lines the runtime showed"


def test_without_a_quote_enough_distinctive_words_must_be_shown():
    shown = [cited_lines(SHOWN, 3, 4)]
    assert finding_problem("the loop over range(len(items) - 1) skips an item", None, shown) is None
    problem = finding_problem("the database connection pool leaks sockets", None, shown)
    assert problem is not None and "0 of the claim's" in problem


def test_a_claim_of_stopwords_only_cannot_be_checked():
    assert "names nothing" in finding_problem("this is it", None, [SHOWN])


def test_a_degenerate_claim_is_rejected_before_anything_else():
    assert finding_problem("PATCH: " * 20, "for i in range", [SHOWN]).startswith("degenerate claim")


def test_terms_skip_stopwords_and_split_identifiers():
    assert distinctive_terms("The stream_mission function") == {
        "stream_mission",
        "stream",
        "mission",
        "function",
    }


def test_a_quote_of_line_numbers_alone_grounds_nothing() -> None:
    reason = finding_problem(
        "The retry loop never terminates", "10\t\n11\t\n12\t", ["def foo():\n    return None"]
    )
    assert reason is not None and "distinctive words" in reason


def test_one_cited_range_must_carry_the_claim_not_a_pile_of_them() -> None:
    claim = "the parser retries the upload with exponential backoff"
    scattered = ["parser = make()", "retries = 3", "upload(file)", "exponential(x)", "backoff()"]
    assert finding_problem(claim, None, scattered) is not None
    assert finding_problem(claim, None, [" ".join(scattered)]) is None


def test_a_grep_miss_is_not_citable_text() -> None:
    from runtime.grounding import citable_text

    miss = "No matches for 'the auth module has SQL injection' under '.'."
    assert citable_text("grep", miss) == ""
    hits = "src/a.py:3:retry(3)\n[40 hits shown; stopped at max_results=40, there may be more]\n"
    assert citable_text("grep", hits) == "src/a.py:3:retry(3)"
    assert citable_text("read", miss) == miss
