"""Pagination with bounded numbers for every list endpoint.

DRF's ``LimitOffsetPagination`` has no ``max_limit`` by default, so ``?limit=10**20`` reached
PostgreSQL as a LIMIT beyond bigint (a 500). Here the page size is clamped to ``max_limit`` and
an offset beyond any real list answers an empty page before any query is made."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination

MAX_PAGE_SIZE = 500
# Larger than any table will hold, smaller than PostgreSQL's bigint.
MAX_OFFSET = 10**15


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """``limit`` clamped to 1..500 (non-numbers give the default), ``offset`` to 0..10**15."""

    max_limit = MAX_PAGE_SIZE

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), MAX_OFFSET)
