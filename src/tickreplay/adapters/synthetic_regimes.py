"""Parameters of the synthetic order-flow generator and its named regimes.

All prices are in venue integer units with ``price_scale`` 10,000 (dollars ×
10,000, as in LOBSTER); sizes are shares. See
:mod:`tickreplay.adapters.synthetic` for how each parameter enters the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tickreplay.clock import parse_hms
from tickreplay.errors import ConfigError

PRICE_SCALE = 10_000  # integer price units per dollar


@dataclass(frozen=True)
class MarketParams:
    """One market's order-flow model. Units are in the names or noted per field."""

    tick_size: int = 100  # price units (100 = $0.01)
    start_price: int = 1_000_000  # efficient price at the open, price units ($100.00)
    spread_ticks: float = 1.0  # spread between the reference quotes limit orders join
    depth_levels: int = 20  # limit orders land 0..depth_levels-1 ticks behind the reference quote
    depth_decay: float = 0.15  # add intensity falls by exp(-depth_decay) per tick behind the quote
    size_median: int = 100  # median limit order size, shares (lognormal)
    size_sigma: float = 0.7  # lognormal sigma of order sizes
    round_lot: int = 100  # shares per round lot
    round_lot_share: float = 0.6  # share of orders rounded to whole round lots
    market_size_mult: float = 2.0  # market order median size / limit order median size
    volatility_annual: float = 0.20  # efficient price volatility, annualised (252 days of 6.5 h)
    activity_eps: float = 8.0  # new-order arrivals at midday × 2 per second (≈ events/s before executions)
    intraday_u: float = 1.0  # extra activity at the open and close, relative (U shape, 30 min decay)
    market_share: float = 0.06  # share of new orders that are market orders
    cancel_rate_per_s: float = 0.02  # hazard of cancellation of each resting order, per second
    partial_cancel_share: float = 0.1  # share of cancellations that only reduce the order
    hidden_share: float = 0.02  # share of market orders filled by hidden liquidity (type 5 print)
    burst_branching: float = 0.3  # market orders triggered per market order (self-excitation, < 1)
    burst_decay_s: float = 2.0  # time constant of the self-excitation, seconds
    jump_rate_per_hour: float = 0.0  # Poisson rate of efficient-price jumps
    jump_bps: float = 0.0  # standard deviation of a jump, bps of the price
    news_time: str | None = None  # local time HH:MM:SS of a scheduled news event, or None
    news_jump_bps: float = 0.0  # efficient-price jump at the news (direction random per seed), bps
    news_activity_mult: float = 1.0  # activity (and variance) multiplier just after the news
    news_half_life_s: float = 120.0  # half-life of the news activity boost, seconds
    refill_half_life_s: float | None = None  # planted signal: the touch refills a sweep with this half-life
    session_start: str = "09:30:00"  # local time the session opens
    session_end: str = "16:00:00"  # local time the session closes
    timezone: str = "America/New_York"

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, what: str) -> None:
            if not ok:
                raise ConfigError(f"MarketParams.{name} = {getattr(self, name)!r}: expected {what}")

        for name in ("tick_size", "start_price", "depth_levels", "size_median", "round_lot"):
            need(getattr(self, name) > 0, name, "a positive integer")
        need(self.start_price % self.tick_size == 0, "start_price", "a multiple of tick_size")
        need(self.start_price // self.tick_size > 4 * self.margin_ticks(), "start_price",
             f"at least {4 * self.margin_ticks()} ticks (room for the book below the price)")
        for name in ("spread_ticks", "activity_eps", "market_size_mult", "burst_decay_s", "news_half_life_s"):
            need(getattr(self, name) > 0, name, "a positive number")
        need(self.spread_ticks >= 1, "spread_ticks", "at least 1")
        for name in ("depth_decay", "size_sigma", "volatility_annual", "intraday_u", "cancel_rate_per_s",
                     "jump_rate_per_hour", "jump_bps", "news_jump_bps"):
            need(getattr(self, name) >= 0, name, "a non-negative number")
        for name in ("round_lot_share", "partial_cancel_share", "hidden_share"):
            need(0 <= getattr(self, name) <= 1, name, "a share in [0, 1]")
        need(0 < self.market_share < 1, "market_share", "a share in (0, 1)")
        need(0 <= self.burst_branching < 1, "burst_branching", "in [0, 1) (a stable self-excitation)")
        need(self.news_activity_mult >= 1, "news_activity_mult", "at least 1")
        need(self.refill_half_life_s is None or self.refill_half_life_s > 0, "refill_half_life_s",
             "None or a positive number of seconds")
        for name in ("session_start", "session_end"):
            parse_hms(getattr(self, name), f"MarketParams.{name}")
        need(self.session_seconds() > 0, "session_end", "later than session_start")
        if self.news_time is not None:
            parse_hms(self.news_time, "MarketParams.news_time")

    def margin_ticks(self) -> int:
        """Ticks of room the book needs around the efficient price."""
        return self.depth_levels + math.ceil(self.spread_ticks) + 10

    def session_seconds(self) -> float:
        """Length of the session, seconds."""
        return parse_hms(self.session_end, "session_end") - parse_hms(self.session_start, "session_start")

    def mean_size(self) -> float:
        """Mean limit order size, shares (before round-lot rounding)."""
        return self.size_median * math.exp(self.size_sigma**2 / 2)


REGIMES: dict[str, MarketParams] = {
    # $100 stock, one-tick spread, deep book, steady flow.
    "liquid_large_cap": MarketParams(),
    # $8 stock, wide spread, shallow book, slow flow, long-lived orders.
    "thin_small_cap": MarketParams(
        start_price=80_000, spread_ticks=4.0, depth_levels=12, depth_decay=0.1, size_median=200,
        size_sigma=1.0, round_lot_share=0.4, market_size_mult=1.5, volatility_annual=0.45,
        activity_eps=1.5, market_share=0.08, cancel_rate_per_s=0.005, hidden_share=0.0,
        burst_branching=0.2, burst_decay_s=5.0),
    # $50 stock, fast price, frequent small jumps, busier and wider.
    "high_volatility": MarketParams(
        start_price=500_000, spread_ticks=2.0, depth_levels=25, depth_decay=0.1, volatility_annual=0.80,
        activity_eps=15.0, market_share=0.08, cancel_rate_per_s=0.05, burst_branching=0.5,
        jump_rate_per_hour=6.0, jump_bps=15.0),
    # liquid stock with a scheduled announcement at 10:30: a jump and a burst of activity.
    "news_spike": MarketParams(
        volatility_annual=0.30, news_time="10:30:00", news_jump_bps=150.0, news_activity_mult=8.0,
        news_half_life_s=120.0, burst_branching=0.4),
}


def resolve(params: MarketParams | str) -> tuple[str, MarketParams]:
    """(regime name or 'custom', params) for a regime name or a params object."""
    if isinstance(params, MarketParams):
        for name, p in REGIMES.items():
            if p == params:
                return name, p
        return "custom", params
    if params not in REGIMES:
        raise ConfigError(f"unknown regime '{params}'; known regimes: {', '.join(REGIMES)}")
    return params, REGIMES[params]
