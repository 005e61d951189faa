"""Pagination helpers for list endpoints."""

from pager.paginate import page_count, page_slice

__all__ = ["page_count", "page_slice"]
