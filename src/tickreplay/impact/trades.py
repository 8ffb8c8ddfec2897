"""Signed trades from a tape's prints: who initiated each trade, its size, and the mid just before it.

A *print* is a tape event of a traded kind (:data:`tickreplay.tape.TRADED_KINDS`: ``EXECUTE_VISIBLE``,
``EXECUTE_HIDDEN`` — LOBSTER, Databento and generated L3 tapes — and ``TRADE`` — Binance). Its ``side`` is
the side of the *resting* order it filled, so the aggressor's sign is ``ε = -side``: +1 a buyer-initiated
trade (a resting sell was hit), -1 a seller-initiated one.

Grouping rule: several executions of one incoming order at one timestamp are one trade. Consecutive prints
(in tape order, counting prints only: the book events between them — e.g. LOBSTER's implied corrections —
do not separate them) with the same ``ts_ns`` and the same aggressor sign are one trade. Its size is the sum
of the prints' sizes; its price is the *last* print's price (the deepest level the aggressor reached; an
integer, unlike a VWAP). Two incoming orders of the same sign in the same nanosecond are not told apart.

Hidden executions (``EXECUTE_HIDDEN``) are trades whose sign is known (LOBSTER gives the hidden resting
order's direction), so by default they are kept and group with visible prints of the same incoming order;
``hidden=False`` leaves them out before grouping. Prints without a side (``side == 0``) cannot be signed:
they are left out and counted (``n_unsigned``).

The mid before a trade is the mid of the reconstructed book (the package's compiled book,
:func:`tickreplay.book.fast.compute_snapshots`) after the event just before the trade's first print; where a
side of the book is empty there, the last mid with both sides present is carried forward. Trades before the
book ever had both sides are left out and counted (``n_no_mid``). The mid is kept exact, as twice the mid
(``mid_x2``, integer price units: ask + bid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tickreplay.book.snapshots import Snapshots
from tickreplay.tape import K_EXECUTE_HIDDEN, TRADED_KINDS, Tape

if TYPE_CHECKING:
    from tickreplay.catalog import Entry


@dataclass(frozen=True)
class SignedTrades:
    """The trades of one tape, in time order (module docstring for the rules).

    ``ts_ns`` (int64, exchange time), ``sign`` (int8, aggressor: +1 buy, -1 sell), ``size`` (int64, tape
    size units, summed over the trade's prints), ``price`` (int64, the last print's price, tape price
    units), ``mid_x2`` (int64, ask + bid of the book just before the trade, tape price units),
    ``first_index`` (int64, tape index of the trade's first print). Counts: ``n_prints`` (prints grouped into
    the trades), ``n_hidden`` (hidden prints among them), ``n_unsigned`` and ``n_no_mid`` (left out),
    ``n_hidden_excluded`` (hidden prints left out by ``hidden=False``).
    """

    ts_ns: np.ndarray
    sign: np.ndarray
    size: np.ndarray
    price: np.ndarray
    mid_x2: np.ndarray
    first_index: np.ndarray
    n_prints: int
    n_hidden: int
    n_unsigned: int
    n_no_mid: int
    n_hidden_excluded: int

    def __len__(self) -> int:
        return len(self.ts_ns)

    def slice(self, start: int, stop: int) -> "SignedTrades":
        """Trades ``start:stop`` (the counts are those of the whole tape)."""
        cut = {f: getattr(self, f)[start:stop] for f in ("ts_ns", "sign", "size", "price", "mid_x2", "first_index")}
        return SignedTrades(**cut, n_prints=self.n_prints, n_hidden=self.n_hidden, n_unsigned=self.n_unsigned,
                            n_no_mid=self.n_no_mid, n_hidden_excluded=self.n_hidden_excluded)

    def counts(self) -> dict[str, int]:
        """What was grouped and what was left out, for reports."""
        return {"n_trades": len(self), "n_prints": self.n_prints, "n_hidden_prints": self.n_hidden,
                "n_unsigned_prints": self.n_unsigned, "n_trades_without_mid": self.n_no_mid,
                "n_hidden_prints_excluded": self.n_hidden_excluded}


def signed_trades(tape: Tape, snapshots: Snapshots, hidden: bool = True) -> SignedTrades:
    """Group ``tape``'s prints into signed trades with the mid before each (module docstring); vectorised.

    ``snapshots``: the book after every event of ``tape`` (top 1 is enough).
    """
    if len(snapshots) != len(tape):
        raise ValueError(f"{len(snapshots)} snapshot rows for a tape of {len(tape)} events")
    kind = tape.kind
    printed = np.isin(kind, np.array([int(k) for k in TRADED_KINDS], dtype=kind.dtype))
    is_hidden = kind == K_EXECUTE_HIDDEN
    n_hidden_excluded = 0 if hidden else int(np.count_nonzero(printed & is_hidden))
    if not hidden:
        printed &= ~is_hidden
    unsigned = printed & (tape.side == 0)
    idx = np.flatnonzero(printed & ~unsigned)
    ts = tape.ts_ns[idx]
    sign = (-tape.side[idx]).astype(np.int8)
    starts = np.flatnonzero(np.r_[True, (np.diff(ts) != 0) | (np.diff(sign) != 0)]) if len(idx) else idx
    ends = np.r_[starts[1:], len(idx)] - 1 if len(idx) else idx
    first = idx[starts]

    mid_x2 = snapshots.mid_x2()
    n = len(tape)
    last_valid = np.maximum.accumulate(np.where(mid_x2 > 0, np.arange(n), -1)) if n else np.zeros(0, np.int64)
    before = np.where(first > 0, last_valid[np.maximum(first - 1, 0)], -1)
    has_mid = before >= 0
    size = np.add.reduceat(tape.size[idx], starts) if len(idx) else np.zeros(0, np.int64)
    keep = has_mid  # trades with a mid before them
    return SignedTrades(
        ts_ns=ts[starts][keep], sign=sign[starts][keep], size=size[keep].astype(np.int64),
        price=tape.price[idx[ends]][keep], mid_x2=mid_x2[before[keep]].astype(np.int64),
        first_index=first[keep].astype(np.int64), n_prints=len(idx), n_hidden=int(np.count_nonzero(is_hidden[idx])),
        n_unsigned=int(np.count_nonzero(unsigned)), n_no_mid=int(np.count_nonzero(~has_mid)),
        n_hidden_excluded=n_hidden_excluded)


def entry_trades(entry: "Entry", hidden: bool = True) -> tuple[Tape, SignedTrades]:
    """(tape, signed trades) of a catalog entry; the top of book from the compiled book, or, for an entry whose
    stored snapshots are not the compiled book's (some older entries), from the stored snapshots."""
    from tickreplay.book.base import BookError
    from tickreplay.book.fast import compute_snapshots

    tape = entry.read_tape()
    try:
        top = compute_snapshots(tape, 1)
    except BookError:
        top = entry.read_snapshots()
    return tape, signed_trades(tape, top, hidden)
