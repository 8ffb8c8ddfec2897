"""Per-tape precomputation shared by every run over one tape: :class:`ReplayData`.

A study replays the same day thousands of times, so everything a run needs
from the tape is derived once here, vectorised or in one numba pass, and a
run never loops over tape events in Python:

* the raw event columns (``ts_ns``, ``kind``, ``side``, ``price``, ``size``);
* the top-N book after every event (:class:`~tickreplay.book.snapshots.Snapshots`)
  and its touch and mid;
* ``add_idx``: for each event, the tape index of the ADD of the order id it
  references (the event's own index for an ADD; -1 when the id was never
  added, or on L2 tapes);
* ``level_delta`` / ``level_size``: the change of the visible size at the
  event's (side, price), and that size after the event, for every event that
  changes a level; a sorted per-level index of those events answers
  "size at (side, price) as of event i" and "next time the tape changes that
  level after event i" with two binary searches;
* cumulative traded volume and the last trade (for views, POV, burst latency);
* the halt state after every event and the trading session.

Index conventions: "as of exchange time T" means event index
``searchsorted(ts_ns, T, 'right') - 1`` — every event with ``ts_ns <= T``
has happened; -1 means before the first event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba as nb
import numpy as np

from tickreplay.book.snapshots import Snapshots
from tickreplay.tape import TRADED_KINDS, EventKind, Instrument, Tape
from tickreplay.tape import (
    K_ADD as _ADD, K_PARTIAL_CANCEL as _PARTIAL, K_DELETE as _DELETE, K_EXECUTE_VISIBLE as _EXEC,
    K_LEVEL_SET as _LEVEL_SET, K_SNAPSHOT_BEGIN as _SNAP_BEGIN,
)


_HALT_ON = (int(EventKind.HALT), int(EventKind.QUOTE_RESUME))  # no trading after these
_HALT_OFF = int(EventKind.RESUME)


@nb.njit(cache=True)
def _level_sizes(kind, side, price, size, order_id):
    """Visible size at each event's (side, price) after it, and the change the event made.

    Follows :class:`~tickreplay.book.l3.L3Book` exactly: a level is known
    orders plus unattributed volume; a removal under an id the book does not
    hold takes only unattributed volume (clamped), a LEVEL_SET sets the
    unattributed part. Events that touch no level (prints, halts, snapshot
    markers) get 0/0.
    """
    n = len(kind)
    after = np.zeros(n, np.int64)
    delta = np.zeros(n, np.int64)
    total = nb.typed.Dict.empty(nb.types.int64, nb.types.int64)
    unattributed = nb.typed.Dict.empty(nb.types.int64, nb.types.int64)
    known = nb.typed.Dict.empty(nb.types.int64, nb.types.int64)  # order id → remaining size
    for i in range(n):
        k = kind[i]
        if k == _SNAP_BEGIN:
            total.clear()
            unattributed.clear()
            known.clear()
            continue
        if k != _ADD and k != _PARTIAL and k != _DELETE and k != _EXEC and k != _LEVEL_SET:
            continue
        key = price[i] * 2 + (1 if side[i] > 0 else 0)
        old = total.get(key, 0)
        un = unattributed.get(key, 0)
        oid = order_id[i]
        if k == _ADD:
            known[oid] = size[i]
            new = old + size[i]
        elif k == _LEVEL_SET:
            un = max(size[i] - (old - un), 0)
            new = old - unattributed.get(key, 0) + un
        elif oid != 0 and oid in known:
            left = known[oid] - size[i]
            if left > 0 and k != _DELETE:
                known[oid] = left
            else:
                del known[oid]
            new = old - size[i]
        else:
            take = min(un, size[i])
            un -= take
            new = old - take
        total[key] = new
        unattributed[key] = un
        after[i] = new
        delta[i] = new - old
    return after, delta


def level_key(side: int | np.ndarray, price: int | np.ndarray) -> int | np.ndarray:
    """One int64 per (side, price): ``2 * price + (side == +1)``."""
    return np.asarray(price, dtype=np.int64) * 2 + (np.asarray(side) > 0)


def _add_index(kind: np.ndarray, order_id: np.ndarray) -> np.ndarray:
    """For each event, the index of the latest ADD of its order id at or before it (-1: none)."""
    n = len(kind)
    out = np.full(n, -1, np.int64)
    idx = np.flatnonzero(order_id != 0)
    if len(idx) == 0:
        return out
    order = idx[np.argsort(order_id[idx], kind="stable")]  # by id, then by time
    oid = order_id[order]
    group = np.cumsum(np.r_[True, oid[1:] != oid[:-1]]) - 1
    offset = group.astype(np.int64) * (n + 1)
    is_add = kind[order] == _ADD
    # running max of add positions within each id group; the offset resets it per group
    run = np.maximum.accumulate(np.where(is_add, offset + order, offset - 1))
    out[order] = np.maximum(run - offset, -1)
    return out


def _state_after(kind: np.ndarray, on: tuple[int, ...], off: tuple[int, ...]) -> np.ndarray:
    """Boolean state after each event: set by kinds ``on``, cleared by ``off``."""
    marks = np.isin(kind, on) | np.isin(kind, off)
    last = np.maximum.accumulate(np.where(marks, np.arange(len(kind)), -1))
    state = np.zeros(len(kind), bool)
    have = last >= 0
    state[have] = np.isin(kind[last[have]], on)
    return state


@dataclass(frozen=True, eq=False)
class ReplayData:
    """Everything a run reads from one tape, computed once (see module docstring)."""

    instrument: Instrument
    ts_ns: np.ndarray
    kind: np.ndarray
    side: np.ndarray
    price: np.ndarray
    size: np.ndarray
    order_id: np.ndarray
    src_row: np.ndarray
    snapshots: Snapshots
    add_idx: np.ndarray
    level_size: np.ndarray
    level_delta: np.ndarray
    cum_volume: np.ndarray
    last_trade_idx: np.ndarray
    halted: np.ndarray
    last_snapshot_begin: np.ndarray
    session_start_ns: int
    session_end_ns: int
    is_l3: bool
    _lvl_keys: np.ndarray = field(repr=False)
    _lvl_idx: np.ndarray = field(repr=False)
    _kind_index: dict = field(default_factory=dict, repr=False)
    _window_cols: dict = field(default_factory=dict, repr=False)  # side → window_columns (read-only, per tape)

    @classmethod
    def build(
        cls,
        tape: Tape,
        snapshots: Snapshots,
        session_start_ns: int | None = None,
        session_end_ns: int | None = None,
    ) -> "ReplayData":
        """Precompute from a tape and its per-event snapshots.

        The session (orders outside it are rejected) defaults to the tape's
        ``extra_meta`` keys ``session_start_ns``/``session_end_ns``, else to
        the first and last event times.
        """
        n = len(tape)
        if n == 0:
            raise ValueError("cannot replay an empty tape")
        if len(snapshots) != n:
            raise ValueError(f"{len(snapshots)} snapshot rows for a tape of {n} events")
        if np.any(np.diff(tape.ts_ns) < 0):
            raise ValueError("tape timestamps must be non-decreasing")
        kind = tape.kind
        size_after, delta = _level_sizes(kind, tape.side, tape.price, tape.size, tape.order_id)
        changing = np.flatnonzero(delta != 0)
        keys = level_key(tape.side[changing], tape.price[changing])
        order = np.lexsort((changing, keys))
        trades = np.isin(kind, [int(k) for k in TRADED_KINDS])
        arange = np.arange(n)
        snap_begin = np.maximum.accumulate(np.where(kind == _SNAP_BEGIN, arange, -1))
        meta = tape.extra_meta or {}
        start = session_start_ns if session_start_ns is not None else meta.get("session_start_ns", tape.ts_ns[0])
        end = session_end_ns if session_end_ns is not None else meta.get("session_end_ns", tape.ts_ns[-1])
        return cls(
            instrument=tape.instrument,
            ts_ns=tape.ts_ns,
            kind=kind,
            side=tape.side,
            price=tape.price,
            size=tape.size,
            order_id=tape.order_id,
            src_row=tape.src_row,
            snapshots=snapshots,
            add_idx=_add_index(kind, tape.order_id),
            level_size=size_after,
            level_delta=delta,
            cum_volume=np.cumsum(np.where(trades, tape.size, 0)),
            last_trade_idx=np.maximum.accumulate(np.where(trades, arange, -1)),
            halted=_state_after(kind, _HALT_ON, (_HALT_OFF,)),
            last_snapshot_begin=snap_begin,
            session_start_ns=int(start),
            session_end_ns=int(end),
            is_l3=bool(np.any(tape.order_id != 0)),
            _lvl_keys=np.ascontiguousarray(keys[order]),
            _lvl_idx=np.ascontiguousarray(changing[order]),
        )

    def __len__(self) -> int:
        return len(self.ts_ns)

    @property
    def levels(self) -> int:
        return self.snapshots.levels

    def index_at(self, t_ns: int) -> int:
        """Index of the last event with ``ts_ns <= t_ns`` (-1 before the first event)."""
        return int(np.searchsorted(self.ts_ns, t_ns, side="right")) - 1

    def _level_slice(self, side: int, price: int) -> np.ndarray:
        key = int(level_key(side, price))
        lo = np.searchsorted(self._lvl_keys, key, side="left")
        hi = np.searchsorted(self._lvl_keys, key, side="right")
        return self._lvl_idx[lo:hi]

    def level_size_at(self, side: int, price: int, i: int) -> int:
        """Visible size at (side, price) after event ``i``, from the per-level index (any depth)."""
        events = self._level_slice(side, price)
        pos = int(np.searchsorted(events, i, side="right")) - 1
        if pos < 0:
            return 0
        j = int(events[pos])
        if self.last_snapshot_begin[i] > j:
            return 0
        return int(self.level_size[j])

    def next_level_change(self, side: int, price: int, i: int) -> int:
        """First event index after ``i`` that changes the visible size at (side, price); ``len`` if none."""
        events = self._level_slice(side, price)
        pos = int(np.searchsorted(events, i, side="right"))
        return int(events[pos]) if pos < len(events) else len(self)

    def visible_size(self, side: int, price: int, i: int) -> int:
        """Visible size at (side, price) after event ``i``: the snapshot row where it covers the price."""
        if i < 0:
            return 0
        snap = self.snapshots
        px = (snap.bid_price if side == 1 else snap.ask_price)[i]
        sz = (snap.bid_size if side == 1 else snap.ask_size)[i]
        hit = np.flatnonzero(px == price)
        if len(hit):
            return int(sz[hit[0]])
        last = px[-1]
        if sz[-1] == 0 or (price > last if side == 1 else price < last):
            return 0  # inside the range the snapshot shows completely, and not a level
        return self.level_size_at(side, price, i)

    @property
    def window_levels(self) -> int:
        """Levels the window check uses: the data's ``instrument.levels`` (0: unlimited), capped at the snapshots'.

        With snapshots shallower than the data's window, a price deeper than
        the snapshots cannot be shown to lie inside the window and counts as
        outside (conservative: such an order's queue is reported unknown).
        """
        n = self.instrument.levels
        return min(n, self.snapshots.levels) if n else 0

    def out_of_window(self, side: int, price: int, i: int) -> bool:
        """True when the window (:attr:`window_levels`) does not reach ``price`` after event ``i``."""
        n = self.window_levels
        if not n or i < 0:
            return False
        snap = self.snapshots
        if side == 1:
            return bool(snap.bid_size[i, n - 1] > 0 and price < snap.bid_price[i, n - 1])
        return bool(snap.ask_size[i, n - 1] > 0 and price > snap.ask_price[i, n - 1])

    def window_columns(self, side: int) -> tuple[np.ndarray, np.ndarray]:
        """The N-th level (price, size) columns of ``side`` (N = :attr:`window_levels`); empty if unlimited.

        Computed once per side and shared by every run (read-only arrays).
        """
        hit = self._window_cols.get(side)
        if hit is not None:
            return hit
        n = self.window_levels
        snap = self.snapshots
        if not n:
            out = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        elif side == 1:
            out = (np.ascontiguousarray(snap.bid_price[:, n - 1]), np.ascontiguousarray(snap.bid_size[:, n - 1]))
        else:
            out = (np.ascontiguousarray(snap.ask_price[:, n - 1]), np.ascontiguousarray(snap.ask_size[:, n - 1]))
        for a in out:
            a.flags.writeable = False
        self._window_cols[side] = out
        return out

    def indices_of(self, kinds: tuple[int, ...]) -> np.ndarray:
        """Sorted tape indices of events of the given kinds (cached per kind set)."""
        key = tuple(sorted(int(k) for k in kinds))
        hit = self._kind_index.get(key)
        if hit is None:
            hit = self._kind_index[key] = np.flatnonzero(np.isin(self.kind, key))
        return hit
