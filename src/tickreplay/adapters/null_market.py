"""A generated L2 market with no signal by construction: the null for overlay sanity checks.

The model (all times Poisson, all draws independent; see
:func:`generate_martingale_market`):

* **Shape.** The book always has ``len(depth_profile) + 1`` levels per side,
  one tick apart, the spread fixed at ``spread_ticks``. Level 1 (the touch)
  of each side holds a size drawn i.i.d. (uniform over whole ``lot_size``
  multiples in ``touch_size_range``); deeper level ``k`` always holds
  ``depth_profile[k - 2]``.
* **Shifts.** At Poisson times (``shift_rate_per_s``) the whole book moves by
  one tick, up or down with a fair coin, as LEVEL_SETs at one timestamp: the
  side the book moves towards drops its touch, the other side its deepest
  level, and each sets its new levels (touch sizes drawn afresh). Between
  the two halves the spread is one tick wider; no row is one-sided or
  crossed (a full snapshot per shift would pass through one-sided rows,
  where running totals such as the features' realised variance lose the
  move). The mid is therefore a martingale whose increments are independent
  of everything before them, including the time since the last shift
  (memoryless gaps). The session opens with one snapshot.
* **Touch jitter.** At Poisson times (``jitter_rate_per_s``) one side's touch
  (fair coin) is set to a fresh i.i.d. size: depth and imbalance features vary
  but say nothing about the future.
* **Trade prints.** At Poisson times (``trade_rate_per_s``) a TRADE print at
  the touch of a random resting side with an i.i.d. size (whole lots in
  ``trade_size_range``). Prints change no book level: trade-flow features vary
  but carry no information.

Why a timing overlay can find nothing here. When a whole parent fits in the
smallest touch (``touch_size_range[0]`` at least the parent's quantity), every
market child fills wholly at the far touch, ``mid ± spread / 2``, even with
all the parent's children counted against one level (our consumed liquidity
stays consumed until the tape refreshes the level). Sent after a delay ``d``
decided with anything seen up to ``t``, its cost minus the cost of sending at
``t`` is ``side × (mid(t + d) − mid(t))`` scaled by a constant of ``t``: a
martingale increment whose expectation given the past is zero.

Every draw comes from ``numpy.random.Generator(PCG64(SeedSequence(seed)))``:
a seed gives byte-identical tapes. Prices are int64 venue units (price scale
10,000), sizes int64 shares, times int64 ns UTC.
"""

from __future__ import annotations

import numpy as np

from tickreplay.adapters.synthetic import MarketParams, session_bounds_ns
from tickreplay.adapters.synthetic_regimes import PRICE_SCALE
from tickreplay.errors import ConfigError
from tickreplay.tape import K_LEVEL_SET, K_SNAPSHOT_BEGIN, K_SNAPSHOT_END, K_TRADE, Instrument, Tape

__all__ = ["generate_martingale_market"]

NS = 1_000_000_000
# at equal timestamps: the opening book or a shift first, then jitter, then prints
_PRIO_SHIFT, _PRIO_JITTER, _PRIO_TRADE = 0, 1, 2


def _poisson_times(rng: np.random.Generator, rate_per_s: float, duration_ns: int) -> np.ndarray:
    """Sorted event offsets (ns, in ``[1, duration_ns)``) of a homogeneous Poisson process."""
    n = int(rng.poisson(rate_per_s * duration_ns / NS))
    return np.sort(rng.integers(1, duration_ns, size=n, dtype=np.int64))


def _lot_sizes(rng: np.random.Generator, size_range: tuple[int, int], lot: int, n) -> np.ndarray:
    """``n`` i.i.d. sizes, uniform over the multiples of ``lot`` in ``size_range`` (shares)."""
    return rng.integers(size_range[0] // lot, size_range[1] // lot + 1, size=n, dtype=np.int64) * lot


def _check(duration_s: float, start_price: int, tick_size: int, spread_ticks: int, depth_profile: tuple[int, ...],
           touch_size_range: tuple[int, int], trade_size_range: tuple[int, int], lot_size: int,
           rates: dict[str, float]) -> None:
    def need(ok: bool, name: str, value, what: str) -> None:
        if not ok:
            raise ConfigError(f"{name} = {value!r}: expected {what}")

    need(duration_s > 0, "duration_s", duration_s, "a positive number of seconds")
    need(tick_size > 0, "tick_size", tick_size, "a positive integer (price units)")
    need(start_price > 0 and start_price % tick_size == 0, "start_price", start_price,
         "a positive multiple of tick_size")
    need(spread_ticks >= 1, "spread_ticks", spread_ticks, "an integer >= 1")
    need(lot_size > 0, "lot_size", lot_size, "a positive integer (shares)")
    need(len(depth_profile) > 0 and all(s > 0 for s in depth_profile), "depth_profile", depth_profile,
         "one or more positive sizes (shares)")
    for name, (lo, hi) in (("touch_size_range", touch_size_range), ("trade_size_range", trade_size_range)):
        need(lot_size <= lo <= hi and lo % lot_size == 0 and hi % lot_size == 0, name, (lo, hi),
             f"(lo, hi) with lot_size <= lo <= hi, both multiples of lot_size {lot_size}")
    for name, rate in rates.items():
        need(rate >= 0, name, rate, "a non-negative rate per second")


def generate_martingale_market(
    seed: int,
    duration_s: float,
    *,
    start_price: int = 100_000,
    tick_size: int = 100,
    spread_ticks: int = 1,
    depth_profile: tuple[int, ...] = (5_000, 6_000, 7_000, 8_000),
    touch_size_range: tuple[int, int] = (2_000, 8_000),
    lot_size: int = 100,
    shift_rate_per_s: float = 0.05,
    jitter_rate_per_s: float = 1.0,
    trade_rate_per_s: float = 0.5,
    trade_size_range: tuple[int, int] = (100, 500),
    date: str = "2024-01-02",
    symbol: str = "NULL",
) -> Tape:
    """An L2 tape of the signal-free martingale market (see the module docstring) from the 09:30 New York open.

    ``start_price``: the opening best bid (price units, 100,000 = $10.00);
    ``depth_profile``: sizes of levels 2, 3, ... of each side (shares);
    rates are events per second. Kinds used: SNAPSHOT_BEGIN and
    SNAPSHOT_END (the opening book only), LEVEL_SET, TRADE. A ``ConfigError`` names a bad parameter, or a seed
    whose price path would push the deepest bid to zero.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed = {seed!r}: expected a non-negative integer")
    depth_profile = tuple(int(s) for s in depth_profile)
    rates = {"shift_rate_per_s": shift_rate_per_s, "jitter_rate_per_s": jitter_rate_per_s,
             "trade_rate_per_s": trade_rate_per_s}
    _check(duration_s, start_price, tick_size, spread_ticks, depth_profile, touch_size_range, trade_size_range,
           lot_size, rates)
    open_ns, _ = session_bounds_ns(MarketParams(), date)
    dur_ns = round(duration_s * NS)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))

    # shifts: book j (0 = the opening book) has best bid start + path[j] ticks
    shift_t = _poisson_times(rng, shift_rate_per_s, dur_ns)
    steps = 2 * rng.integers(0, 2, size=len(shift_t), dtype=np.int64) - 1
    path = np.concatenate([[0], np.cumsum(steps)])
    best_bid = start_price + path * tick_size
    n_levels = len(depth_profile) + 1
    if best_bid.min() - (n_levels - 1) * tick_size <= 0:
        raise ConfigError(f"seed {seed}: the price path reaches {int(best_bid.min())} price units, leaving no room "
                          f"for {n_levels} bid levels; raise start_price or lower shift_rate_per_s")
    best_ask = best_bid + spread_ticks * tick_size
    book_t = np.concatenate([[0], shift_t])
    n_books = len(book_t)

    touch = _lot_sizes(rng, touch_size_range, lot_size, (n_books, 2))  # row j: (bid, ask) touch of book j
    deep = np.asarray(depth_profile, np.int64)
    away = np.arange(n_levels, dtype=np.int64) * tick_size

    # the opening book: one snapshot (BEGIN, bids best→deep, asks best→deep, END)
    o_kind = np.r_[K_SNAPSHOT_BEGIN, np.full(2 * n_levels, K_LEVEL_SET), K_SNAPSHOT_END].astype(np.int8)
    o_side = np.r_[0, np.ones(n_levels), -np.ones(n_levels), 0].astype(np.int8)
    o_price = np.r_[0, best_bid[0] - away, best_ask[0] + away, 0].astype(np.int64)
    o_size = np.r_[0, touch[0, 0], deep, touch[0, 1], deep, 0].astype(np.int64)

    # shift j: the side the book moves towards (lead = -step) drops its old touch first, then the other
    # side (trail) drops its old deepest level; each then sets its new levels best→deep. Every row keeps
    # both sides quoted and uncrossed (the spread is spread_ticks + 1 between the two halves).
    old_bid, new_bid = best_bid[:-1, None], best_bid[1:, None]
    lead = -steps[:, None]  # +1: the bids lead (a down move), -1: the asks lead

    def half(side: np.ndarray, removed: np.ndarray, own_touch: np.ndarray) -> tuple[np.ndarray, ...]:
        """(side, price, size) rows of one side per shift: drop ``removed``, then set the new levels."""
        new_best = np.where(side == 1, new_bid, new_bid + spread_ticks * tick_size)
        price = np.column_stack([removed, new_best - side * away])
        rest = np.broadcast_to(deep, (len(side), len(deep)))
        size = np.column_stack([np.zeros(len(side), np.int64), own_touch, rest])
        return np.broadcast_to(side, price.shape), price, size

    old_lead_touch = np.where(lead == 1, old_bid, old_bid + spread_ticks * tick_size)
    old_trail_deepest = np.where(lead == 1, old_bid + (spread_ticks + n_levels - 1) * tick_size,
                                 old_bid - (n_levels - 1) * tick_size)
    nxt = touch[1:]
    lead_half = half(lead, old_lead_touch, np.where(lead[:, 0] == 1, nxt[:, 0], nxt[:, 1])[:, None])
    trail_half = half(-lead, old_trail_deepest, np.where(lead[:, 0] == 1, nxt[:, 1], nxt[:, 0])[:, None])
    sh_side, sh_price, sh_size = (np.concatenate([x, y], axis=1) for x, y in zip(lead_half, trail_half))
    width = sh_side.shape[1]

    def touch_events(rate: float, size_range: tuple[int, int]):
        t = _poisson_times(rng, rate, dur_ns)
        side = (1 - 2 * rng.integers(0, 2, size=len(t), dtype=np.int64)).astype(np.int8)
        j = np.searchsorted(book_t, t, side="right") - 1  # the book in force (a shift at t comes first)
        price = np.where(side == 1, best_bid[j], best_ask[j])
        return t, side, price, _lot_sizes(rng, size_range, lot_size, len(t))

    j_t, j_side, j_price, j_size = touch_events(jitter_rate_per_s, touch_size_range)
    t_t, t_side, t_price, t_size = touch_events(trade_rate_per_s, trade_size_range)

    n_shift_rows = len(shift_t) * width
    ts = np.concatenate([np.zeros(len(o_kind), np.int64), np.repeat(shift_t, width), j_t, t_t])
    prio = np.concatenate([np.full(len(o_kind) + n_shift_rows, _PRIO_SHIFT), np.full(len(j_t), _PRIO_JITTER),
                           np.full(len(t_t), _PRIO_TRADE)])
    order = np.lexsort((np.arange(len(ts)), prio, ts))  # stable: a shift's rows keep their order
    cols = {
        "ts_ns": ts + open_ns,
        "kind": np.concatenate([o_kind, np.full(n_shift_rows + len(j_t), K_LEVEL_SET, np.int8),
                                np.full(len(t_t), K_TRADE, np.int8)]),
        "side": np.concatenate([o_side, sh_side.ravel().astype(np.int8), j_side, t_side]),
        "price": np.concatenate([o_price, sh_price.ravel(), j_price, t_price]),
        "size": np.concatenate([o_size, sh_size.ravel(), j_size, t_size]),
    }
    inst = Instrument(symbol=symbol, venue="SYNTH", date=date, price_scale=PRICE_SCALE, tick_size=tick_size,
                      timezone=MarketParams().timezone, source="synthetic")
    params = {"start_price": start_price, "tick_size": tick_size, "spread_ticks": spread_ticks,
              "depth_profile": list(depth_profile), "touch_size_range": list(touch_size_range),
              "lot_size": lot_size, **rates, "trade_size_range": list(trade_size_range)}
    meta = {"generator": "tickreplay.null_market", "seed": int(seed), "duration_s": float(duration_s),
            "params": params, "session_start_ns": int(open_ns), "session_end_ns": int(open_ns + dur_ns)}
    return Tape.from_columns(inst, extra_meta=meta, **{k: v[order] for k, v in cols.items()})
