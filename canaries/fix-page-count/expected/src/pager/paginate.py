"""Split a sequence into numbered pages (1-based), as list endpoints serve them."""

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def page_count(total_items: int, per_page: int) -> int:
    """How many pages ``total_items`` fill at ``per_page`` items a page (0 for no items)."""
    if per_page <= 0:
        raise ValueError(f"per_page must be positive, got {per_page}")
    if total_items < 0:
        raise ValueError(f"total_items cannot be negative, got {total_items}")
    # Round up: a partial last page is still a page.
    return (total_items + per_page - 1) // per_page


def page_slice(items: Sequence[T], page: int, per_page: int) -> Sequence[T]:
    """The items on 1-based ``page``; an empty slice past the last page."""
    if page < 1:
        raise ValueError(f"pages start at 1, got {page}")
    if page > page_count(len(items), per_page):
        return items[0:0]
    start = (page - 1) * per_page
    return items[start : start + per_page]
