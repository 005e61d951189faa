"""Checks for pager.paginate (run: python -m pytest -q checks/paginate_check.py)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from pager import page_count, page_slice


def test_exact_multiples_fill_whole_pages():
    assert page_count(10, 5) == 2


def test_a_partial_last_page_still_counts():
    assert page_count(11, 5) == 3


def test_no_items_no_pages():
    assert page_count(0, 5) == 0


def test_the_last_partial_page_is_served():
    assert page_slice(list(range(11)), 3, 5) == [10]


def test_past_the_end_is_empty():
    assert page_slice(list(range(10)), 3, 5) == []


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        page_count(3, 0)
    with pytest.raises(ValueError):
        page_slice([1], 0, 5)
