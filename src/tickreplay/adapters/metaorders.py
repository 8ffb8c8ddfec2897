"""Planted metaorders and planted impact for generated days: the oracle impact calibrations are tested against.

A **hidden trader** executes ``n`` parent orders (metaorders) inside a
generated day (:class:`~tickreplay.adapters.synthetic.DayGenerator` with
``planted=PlantedImpact(...)`` and ``metaorders=n`` or a :class:`HiddenTrader`):

* sizes ``Q`` log-uniform in ``qv_range`` × ``V`` (default 0.05 %–5 % of V),
  side ±1 with probability 1/2, duration ``T = Q / (participation · V / session
  seconds)``, start (the decision time, ``arrival_ns``) uniform over
  ``[0, duration_s − T]``; parents of one day may overlap;
* children: ``max(MIN_CHILDREN, ceil(Q / child_size))`` orders of equal size
  (±1 share) at ``start + k·T/n_children``, then as many spare slots at the
  same interval. Each child takes liquidity at the touch (one EXECUTE_VISIBLE
  per resting order it hits, front of the queue first, on the tape like any
  trade) for at most the best level's size less one share, so a child never
  moves the touch itself: its mid-price footprint is zero by construction (a
  child that walked the book moved the mid by +0.27 tick on average, a 7 %
  bias on the smallest parents). What the touch could not give is carried to
  the next slot; a parent ends when filled (or at its last spare slot; then
  ``quantity`` in the truth table, what was filled, is below
  ``target_quantity``: 0.3 % of parents in the check of docs/generate.md;
  a parent whose spare slots the session end cuts keeps what it filled).

``V`` (``adv``) is the regime's expected daily traded volume: the traded size
(EXECUTE_VISIBLE + EXECUTE_HIDDEN) of the plain full session of seed 0 at the
day's activity (:func:`expected_daily_volume`; seed-to-seed spread ≈ 1 %);
``σ_daily`` (``daily_vol``) is ``volatility_annual / sqrt(252)``.

**Planted impact** (:class:`PlantedImpact`). The latent efficient price the
reference quotes follow is ``L = m·(1 + A)``: ``m`` the regime's random walk
(its draws unchanged), ``A`` the impact offset, a sum of

* the **planted square-root path** of each parent: while it executes,
  ``side·Y·σ_daily·(q/V)^δ`` with ``q`` the quantity through its *next* child
  (the market anticipates the regular schedule by one child, so that the last
  change of the latent price happens one child interval before the last fill
  and the book has time to follow); from its last fill on, the peak value
  ``side·Y·σ_daily·(Q/V)^δ`` decays as ``G(ℓ)/G0`` with ``ℓ`` the trades
  since that fill. The children's own propagator contributions are *part of*
  this path: a child adds nothing on top, so the peak has expectation exactly
  ``Y·σ_daily·(Q/V)^δ``.
* the **planted propagator**: every background market order (also those
  filled by hidden liquidity) adds ``ε·G(ℓ)`` with ``G(ℓ) = G0/(1 + ℓ/lag0)^β``
  (``G0`` in bps per trade) and ``ℓ`` the trades since it, itself included:
  ``G(1)`` until the next trade, so the mid before trade ``n`` carries
  ``G(n − i)`` of trade ``i`` — the convention of ``calibrate propagator``
  (``x_n = Σ_{i<n} G(n − i)·ε_i``), whose fitted ``G0``, ``lag0`` and ``beta``
  are then the planted ones.

Trade-count time ``ℓ`` counts every trade of the tape (an aggressor's
executions at one timestamp are one trade: background market orders, hidden
prints, children). ``G(ℓ)/G0`` is evaluated as a sum of
exponentials (a discretised Laplace transform of the power law, relative error
below 3e-4 up to 1e8·lag0 trades), so each trade costs O(components).

**The book tracks the latent price** (planted days only). Before every event
each touch is put on its reference quote (``L`` less half the spread, rounded
to a tick; the ask ``spread_ticks`` above): a level priced through its
reference — bids above the bid reference, asks below the ask reference: stale
quotes the latent price has passed — is cancelled (one DELETE per order; the
last level of a side moves to the reference instead, so no side empties), and
a touch behind its reference moves up to it (a DELETE and an ADD per order, new
order ids, the level's queue order kept). So at every trade the book's mid is
the reference mid, within half a tick of ``L``; no limit order crosses the book
(without tracking 60 % of the trades of ``liquid_large_cap`` were limit orders
crossing a book that followed ``L`` over tens of seconds, and their own
response hid the planted kernel from ``calibrate propagator``); and a market
order that sweeps the touch leaves no lasting mid move (the next level moves up
to the reference): every price move of the tape is a move of ``L``. The cost
is events: a move of ``L`` by a tick cancels one level and moves another, about
twice the events of a plain day at G0 = 1 bps per trade. Plain days never run
any of this.

Background signs are independent of the hidden trader, so the propagator adds
noise but no bias to a parent's measured impact; the hidden children's
responses follow the square-root path, not ``G``: fit ``β`` on days without
metaorders (``metaorders=0`` with a planted propagator), or expect their share
of the trades to bend the fit.

Files beside a planted day (:func:`fills_table`, :func:`metaorders_table`):
``desk_fills.parquet`` (the fills contract: one row per execution of the
hidden trader) and ``metaorders.parquet`` (the truth per parent).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np
import pyarrow as pa

from tickreplay.adapters.synthetic_regimes import PRICE_SCALE, MarketParams
from tickreplay.errors import ConfigError

__all__ = ["DESK_FILLS_FILE", "METAORDERS_FILE", "HiddenTrader", "PlantedImpact", "expected_daily_volume",
           "fills_table", "kernel_exponentials", "metaorders_table", "planted_tag", "with_parent"]

DESK_FILLS_FILE = "desk_fills.parquet"
METAORDERS_FILE = "metaorders.parquet"
TRADING_DAYS_PER_YEAR = 252
MIN_CHILDREN = 4  # children per parent at least, so its last latent change precedes its last fill
SPARE_SLOTS = 1  # spare child slots per child, after the last, for what the touch could not give
VOLUME_REFERENCE_SEED = 0
# traded size of the plain full session of seed 0 at activity 1 (expected_daily_volume; checked by a test)
DAILY_VOLUME: dict[str, int] = {"high_volatility": 12_224_043, "liquid_large_cap": 4_531_155,
                                "news_spike": 6_500_420, "thin_small_cap": 1_047_350}
_LAPLACE_STEP = 0.5  # log-spacing of the exponential rates
_RATE_MIN, _RATE_MAX = 1e-10, 50.0  # rates × lag0 per trade: exact up to ~1e8·lag0 trades


def _finite(x: object) -> bool:
    return (not isinstance(x, bool) and isinstance(x, (int, float, np.integer, np.floating))
            and math.isfinite(float(x)))


@dataclass(frozen=True)
class PlantedImpact:
    """The planted impact of a generated day (module docstring).

    ``Y`` (dimensionless) and ``delta`` (exponent, in (0, 1]): the square-root
    law ``E[I] = Y·σ_daily·(Q/V)^δ``; ``G0`` (bps per trade, ≥ 0), ``beta``
    (≥ 0) and ``lag0`` (trades, > 0): the propagator kernel
    ``G(ℓ) = G0/(1 + ℓ/lag0)^β``, also the decay of a parent's impact.
    """

    Y: float
    delta: float
    G0: float
    beta: float
    lag0: float = 1.0

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, what: str) -> None:
            if not ok:
                raise ConfigError(f"PlantedImpact.{name} = {getattr(self, name)!r}: expected {what}")

        for name in ("Y", "delta", "G0", "beta", "lag0"):
            need(_finite(getattr(self, name)), name, "a finite number")
        need(self.Y >= 0, "Y", "a non-negative number (the square-root law's prefactor)")
        need(0 < self.delta <= 1, "delta", "an exponent in (0, 1]")
        need(self.G0 >= 0, "G0", "a non-negative number of bps per trade")
        need(0 <= self.beta <= 5, "beta", "a kernel exponent in [0, 5]")
        need(self.lag0 > 0, "lag0", "a positive number of trades")
        for name in ("Y", "delta", "G0", "beta", "lag0"):  # 1 and 1.0 are one planted impact (and one tag)
            object.__setattr__(self, name, float(getattr(self, name)))


@dataclass(frozen=True)
class HiddenTrader:
    """The hidden trader's parents (module docstring): ``n`` parents, ``qv_range`` = (lowest, highest) Q/V
    (fractions of the daily volume V), ``participation`` = its share of the market's volume rate while a parent
    runs, ``child_size`` = shares per child (None: the regime's median market order, rounded to round lots)."""

    n: int
    qv_range: tuple[float, float] = (5e-4, 5e-2)
    participation: float = 0.1
    child_size: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, (int, np.integer)) or self.n < 0:
            raise ConfigError(f"metaorders = {self.n!r}: expected a non-negative integer number of parents")
        lo_hi = tuple(self.qv_range) if isinstance(self.qv_range, (tuple, list)) else ()
        if len(lo_hi) != 2 or not all(_finite(x) for x in lo_hi) or not 0 < lo_hi[0] <= lo_hi[1] < 1:
            raise ConfigError(f"HiddenTrader.qv_range = {self.qv_range!r}: expected (low, high) with "
                              "0 < low <= high < 1 (parent sizes as fractions of the daily volume)")
        object.__setattr__(self, "qv_range", (float(lo_hi[0]), float(lo_hi[1])))
        if not _finite(self.participation) or not 0 < self.participation <= 1:
            raise ConfigError(f"HiddenTrader.participation = {self.participation!r}: expected a share in (0, 1]")
        object.__setattr__(self, "n", int(self.n))
        object.__setattr__(self, "participation", float(self.participation))
        if self.child_size is not None and (isinstance(self.child_size, bool)
                                            or not isinstance(self.child_size, (int, np.integer))
                                            or self.child_size < 1):
            raise ConfigError(f"HiddenTrader.child_size = {self.child_size!r}: expected a positive number of shares")

    def child_shares(self, p: MarketParams) -> int:
        """Shares per child: ``child_size``, else the regime's median market order rounded to round lots."""
        if self.child_size is not None:
            return int(self.child_size)
        median = p.size_median * p.market_size_mult
        return max(p.round_lot, int(round(median / p.round_lot)) * p.round_lot)


def planted_tag(planted: PlantedImpact, trader: HiddenTrader) -> str:
    """``m<N>-p<8 hex>``: the part of a planted day's symbol naming the hidden trader and the planted impact
    (a hash of every field of both)."""
    text = json.dumps({"planted": asdict(planted), "trader": asdict(trader)}, sort_keys=True)
    return f"m{int(trader.n)}-p{hashlib.blake2b(text.encode(), digest_size=4).hexdigest()}"


def daily_vol(p: MarketParams) -> float:
    """σ_daily of a regime: ``volatility_annual / sqrt(252)`` (a fraction)."""
    return p.volatility_annual / math.sqrt(TRADING_DAYS_PER_YEAR)


@lru_cache(maxsize=32)
def _simulated_volume(p: MarketParams, activity: float) -> int:
    from tickreplay.adapters.synthetic import DayGenerator
    from tickreplay.tape import EventKind

    traded = (int(EventKind.EXECUTE_VISIBLE), int(EventKind.EXECUTE_HIDDEN))
    total = 0
    for chunk in DayGenerator(p, VOLUME_REFERENCE_SEED, activity=activity).chunks(progress=False):
        total += int(chunk["size"][np.isin(chunk["kind"], traded)].sum())
    return total


def expected_daily_volume(params: MarketParams | str, activity: float = 1.0) -> int:
    """V (shares): traded size of the plain full session of seed 0 at ``activity`` (tabulated for the named
    regimes at activity 1, else generated once per process)."""
    from tickreplay.adapters.synthetic_regimes import resolve

    name, p = resolve(params)
    if name in DAILY_VOLUME and activity == 1.0:
        return DAILY_VOLUME[name]
    return _simulated_volume(p, float(activity))


def kernel_exponentials(beta: float, lag0: float) -> tuple[np.ndarray, np.ndarray]:
    """(per-trade decay factors, weights) with ``Σ_k w_k·d_k^ℓ ≈ (1 + ℓ/lag0)^-β`` and ``Σ w = 1``.

    ``(1+x)^-β = ∫ s^(β-1) e^(-s) e^(-s·x) ds / Γ(β)`` discretised on a log grid of rates ``s`` (trapezoid,
    step 0.5) from 1e-10 to 50, the rates below lumped into one; β = 0 is a single permanent component.
    """
    if beta == 0:
        return np.ones(1), np.ones(1)
    h = _LAPLACE_STEP
    k = np.arange(math.floor(math.log(_RATE_MIN) / h) + 1, math.ceil(math.log(_RATE_MAX) / h) + 1)
    s = np.exp(h * k)
    w = h * s**beta * np.exp(-s) / math.gamma(beta)
    edge = s[0] * math.exp(-h / 2)  # the rates below the grid: one component at their mean rate
    s = np.concatenate([[edge * beta / (beta + 1)], s])
    w = np.concatenate([[edge**beta / (beta * math.gamma(beta))], w])
    return np.exp(-s / lag0), w / w.sum()


@dataclass
class Plan:
    """The hidden trader's parents and children for one day, with the kernel's packed arrays.

    Per parent: ``side``, ``target`` (shares), ``start_s``/``span_s`` (seconds after the open); per child
    (time order): ``ch_f`` = (time s, price normal, jump uniform, jump normal), ``ch_i`` = (parent, shares,
    lead quantity: the parent's planned quantity through the next child, last child 0/1).
    """

    side: np.ndarray
    target: np.ndarray
    start_s: np.ndarray
    span_s: np.ndarray
    ch_f: np.ndarray
    ch_i: np.ndarray
    adv: float
    sigma_daily: float
    child_shares: int
    meta: dict = field(default_factory=dict)


def plan(trader: HiddenTrader, planted: PlantedImpact, p: MarketParams, duration_s: float, adv: float,
         rng: np.random.Generator) -> Plan:
    """Draw the parents and lay out their children (module docstring); an error when a parent cannot fit."""
    n = int(trader.n)
    lo, hi = trader.qv_range
    child = trader.child_shares(p)
    rate = trader.participation * adv / p.session_seconds()  # the hidden trader's shares per second
    longest = hi * adv / rate
    if n and longest > duration_s:
        raise ConfigError(
            f"a parent of Q/V = {hi:g} at participation {trader.participation:g} runs {longest:,.0f} s, longer "
            f"than the {duration_s:g} s generated: raise the participation, lower the largest Q/V, or generate "
            "a longer day (--participation, --metaorder-qv, --duration-s)")
    qv = np.exp(rng.uniform(math.log(lo), math.log(hi), n))
    side = np.where(rng.random(n) < 0.5, 1, -1).astype(np.int64)
    target = np.maximum(MIN_CHILDREN, np.round(qv * adv)).astype(np.int64)
    span = target / rate
    start = rng.random(n) * (duration_s - span)
    parent, size, lead, last, times = [], [], [], [], []
    for j in range(n):
        k = max(MIN_CHILDREN, -(-int(target[j]) // child))
        sizes = np.zeros(k + SPARE_SLOTS * k, np.int64)  # then the spare slots, which only take the carry
        sizes[:k] = target[j] // k
        sizes[: target[j] % k] += 1
        cum = np.cumsum(sizes)
        parent.append(np.full(len(sizes), j))
        size.append(sizes)
        lead.append(np.append(cum[1:], cum[-1]))
        last.append(np.arange(len(sizes)) == len(sizes) - 1)
        times.append(start[j] + np.arange(len(sizes)) * (span[j] / k))
    if n:
        t = np.concatenate(times)
        order = np.lexsort((np.concatenate(parent), t))
        ch_i = np.column_stack([np.concatenate(a)[order] for a in (parent, size, lead, last)]).astype(np.int64)
        draws = np.column_stack([rng.standard_normal(len(t)), rng.random(len(t)), rng.standard_normal(len(t))])
        ch_f = np.column_stack([t[order], draws])
    else:
        ch_i, ch_f = np.zeros((0, 4), np.int64), np.zeros((0, 4))
    return Plan(side, target, start, span, np.ascontiguousarray(ch_f), np.ascontiguousarray(ch_i), float(adv),
                daily_vol(p), child)


def fills_table(symbol: str, key: str, parent_ids: list[str], parent: np.ndarray, ts_ns: np.ndarray,
                side: np.ndarray, price: np.ndarray, size: np.ndarray, arrival_ns: np.ndarray, adv: float,
                sigma_daily: float) -> pa.Table:
    """The desk fills table (one row per execution of the hidden trader, time order). ``parent`` indexes
    ``parent_ids``/``arrival_ns``; ``price`` in price units (written in currency: / PRICE_SCALE)."""
    n = len(ts_ns)
    return pa.table({
        "parent_id": pa.array([parent_ids[j] for j in parent.tolist()], pa.string()),
        "ts_ns": pa.array(ts_ns, pa.int64()),
        "side": pa.array(side, pa.int8()),
        "price": pa.array(price / PRICE_SCALE, pa.float64()),
        "size": pa.array(size, pa.int64()),
        "instrument": pa.array([symbol] * n, pa.string()),
        "tape": pa.array([key] * n, pa.string()),
        "arrival_ns": pa.array(arrival_ns[parent], pa.int64()),
        "adv": pa.array(np.full(n, adv), pa.float64()),
        "daily_vol": pa.array(np.full(n, sigma_daily), pa.float64()),
    })


def metaorders_table(parent_ids: list[str], pl: Plan, planted: PlantedImpact, quantity: np.ndarray,
                     start_ns: np.ndarray, end_ns: np.ndarray, n_fills: np.ndarray,
                     latent: np.ndarray) -> pa.Table:
    """The truth per parent: ids, side, filled ``quantity`` and ``target_quantity`` (shares), ``start_ns``
    (arrival) and ``end_ns`` (last fill), the planted Y, delta, G0 (bps/trade), beta, lag0 (trades), ``adv``,
    ``daily_vol``, ``expected_impact_bps`` = Y·σ_daily·(Q/V)^δ and ``latent_impact_bps``: the latent price's
    own move side·(L_end − L_arr)/L_arr (``latent`` = (L_arr, L_end) per parent, ticks; ``L_end`` just after
    its latest fill) — what the book's mid shows within half a tick (the book tracks the latent price)."""
    n = len(parent_ids)
    expected = planted.Y * pl.sigma_daily * (quantity / pl.adv) ** planted.delta * 1e4
    with np.errstate(invalid="ignore", divide="ignore"):
        moved = pl.side * (latent[:, 1] - latent[:, 0]) / latent[:, 0] * 1e4
    const = {name: pa.array(np.full(n, float(getattr(planted, name))), pa.float64())
             for name in ("Y", "delta", "G0", "beta", "lag0")}
    return pa.table({
        "parent_id": pa.array(parent_ids, pa.string()), "side": pa.array(pl.side, pa.int8()),
        "quantity": pa.array(quantity, pa.int64()), "target_quantity": pa.array(pl.target, pa.int64()),
        "start_ns": pa.array(start_ns, pa.int64()), "end_ns": pa.array(end_ns, pa.int64()),
        "n_fills": pa.array(n_fills, pa.int64()), **const,
        "adv": pa.array(np.full(n, pl.adv), pa.float64()), "daily_vol": pa.array(np.full(n, pl.sigma_daily)),
        "expected_impact_bps": pa.array(expected, pa.float64()), "latent_impact_bps": pa.array(moved, pa.float64()),
    })



def with_parent(pl: Plan, side: int, times_s: np.ndarray, shares: np.ndarray, duration_s: float,
                rng: np.random.Generator) -> Plan:
    """``pl`` with one more parent, the last (index ``len(pl.side)``): child slots at ``times_s`` (seconds after
    the open, non-decreasing, inside ``[0, duration_s)``) of ``shares`` each (0: a spare slot that only takes the
    carry), executed as the hidden trader's children are (module docstring: touch only, carry, the planted
    square-root path with the lead quantity, decay from the last slot). The slots' own draws (price normal, jump
    uniform, jump normal) come from ``rng``; the hidden trader's parents, children and draws are unchanged."""
    t = np.asarray(times_s, dtype=np.float64)
    q = np.asarray(shares)
    if t.ndim != 1 or q.shape != t.shape or len(t) == 0:
        raise ConfigError(f"the added parent needs one share count per child slot, got {q.shape} for {t.shape}")
    if side not in (1, -1):
        raise ConfigError(f"the added parent's side = {side!r}: expected +1 (buy) or -1 (sell)")
    if not np.issubdtype(q.dtype, np.integer) or (q < 0).any() or q.sum() <= 0:
        raise ConfigError("the added parent's child slots need non-negative integer shares with a positive total")
    bad = np.flatnonzero(~np.isfinite(t) | (t < 0) | (t >= duration_s))
    if len(bad):
        raise ConfigError(f"the added parent's child slot {int(bad[0])} at {t[bad[0]]!r} s after the open lies "
                          f"outside the generated [0, {duration_s:g}) s: generate a longer day (duration_s)")
    if (np.diff(t) < 0).any():
        raise ConfigError("the added parent's child slots must be in time order")
    j = len(pl.side)
    q = q.astype(np.int64)
    cum = np.cumsum(q)
    mine = np.column_stack([np.full(len(q), j), q, np.append(cum[1:], cum[-1]),
                            np.arange(len(q)) == len(q) - 1]).astype(np.int64)
    draws = np.column_stack([rng.standard_normal(len(t)), rng.random(len(t)), rng.standard_normal(len(t))])
    ch_i = np.concatenate([pl.ch_i, mine])
    ch_f = np.concatenate([pl.ch_f, np.column_stack([t, draws])])
    order = np.lexsort((ch_i[:, 0], ch_f[:, 0]))
    return Plan(np.append(pl.side, side).astype(np.int64), np.append(pl.target, cum[-1]).astype(np.int64),
                np.append(pl.start_s, t[0]), np.append(pl.span_s, t[-1] - t[0]),
                np.ascontiguousarray(ch_f[order]), np.ascontiguousarray(ch_i[order]), pl.adv, pl.sigma_daily,
                pl.child_shares, dict(pl.meta))
