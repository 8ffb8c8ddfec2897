"""Limit order books: L3 (order by order) and L2 (size per level)."""

from tickreplay.book.base import EMPTY_PRICE, BookError, TopN, Walk
from tickreplay.book.l2 import L2Book
from tickreplay.book.l3 import L3Book

__all__ = ["EMPTY_PRICE", "BookError", "TopN", "Walk", "L2Book", "L3Book"]
