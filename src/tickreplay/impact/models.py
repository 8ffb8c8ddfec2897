"""Pre-trade cost models behind one interface, selectable by name.

Every model prices a :class:`PreTradeOrder` in a :class:`MarketInputs` and
returns a breakdown (a dict of floats, bps and currency) whose
``total_key`` entry is the expected cost in bps. The formulas themselves
live in :mod:`~tickreplay.impact.canonical`,
:mod:`~tickreplay.impact.almgren2005` and :mod:`~tickreplay.impact.sqrt_law`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from tickreplay.errors import ConfigError
from tickreplay.impact import almgren2005, canonical, sqrt_law
from tickreplay.checks import fraction, non_negative, positive, positive_int, side


@dataclass(frozen=True)
class PreTradeOrder:
    """A parent order to price: size in shares (the units of ADV), participation as a fraction of volume.

    ``ref_price``: the currency value of one unit of ``order_size`` (a share's price; for futures the price ×
    the contract multiplier), so :attr:`notional` and the breakdown's currency figures are in currency."""

    side: int
    order_size: int
    ref_price: float
    participation: float
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "side", side("side", self.side))
        positive_int("order_size", self.order_size)
        positive("ref_price", self.ref_price)
        fraction("participation", self.participation)
        non_negative("latency_ms", self.latency_ms)
        non_negative("latency_jitter_ms", self.latency_jitter_ms)

    @property
    def notional(self) -> float:
        return self.order_size * self.ref_price

    def duration_days(self, adv: float) -> float:
        """Trading days needed at this participation: ``order_size / (participation * adv)``."""
        return self.order_size / (self.participation * adv)


@dataclass(frozen=True)
class MarketInputs:
    """What the models need to know about the market; ``days_used`` = 0 when typed in, not estimated."""

    adv: float  # average daily volume, shares
    daily_vol: float  # daily volatility, fraction (1.8 % → 0.018)
    spread_bps: float  # average quoted spread, bps of mid
    shares_outstanding: float | None = None
    days_used: int = 0
    notes: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        positive("adv", self.adv)
        positive("daily_vol", self.daily_vol)
        non_negative("spread_bps", self.spread_bps)
        if self.shares_outstanding is not None:
            positive("shares_outstanding", self.shares_outstanding)


class CostModel(Protocol):
    """A pre-trade model: ``breakdown(order, market)[total_key]`` is the expected cost in bps."""

    name: str
    total_key: str

    def breakdown(self, order: PreTradeOrder, market: MarketInputs) -> dict[str, float]: ...


@dataclass(frozen=True)
class CanonicalModel:
    """Section 1 of published_examples.toml: sqrt permanent, linear temporary, half spread, latency drift."""

    k_perm: float = canonical.K_PERM
    eta: float = canonical.ETA
    name: str = "canonical"
    total_key: str = "total_bps"

    def breakdown(self, order: PreTradeOrder, market: MarketInputs) -> dict[str, float]:
        return canonical.canonical_breakdown(
            order.order_size, market.adv, market.spread_bps, market.daily_vol, order.participation,
            order.ref_price, order.latency_ms, order.latency_jitter_ms, k_perm=self.k_perm, eta=self.eta)


@dataclass(frozen=True)
class Almgren2005Model:
    """Almgren et al. (2005) 3/5-power model; ``duration_days`` overrides the one implied by participation."""

    gamma: float = almgren2005.GAMMA
    eta: float = almgren2005.ETA
    duration_days: float | None = None
    name: str = "almgren2005"
    total_key: str = "realized_bps"

    def breakdown(self, order: PreTradeOrder, market: MarketInputs) -> dict[str, float]:
        if market.shares_outstanding is None:
            raise ConfigError("parameter 'shares_outstanding' is required by the almgren2005 model")
        days = order.duration_days(market.adv) if self.duration_days is None else self.duration_days
        out = almgren2005.almgren2005_breakdown(order.order_size / market.adv, market.shares_outstanding / market.adv,
                                                market.daily_vol, days, self.gamma, self.eta)
        return {**out, "duration_days": days, "notional_usd": order.notional,
                "total_dollars": out["realized_bps"] / 1e4 * order.notional}


@dataclass(frozen=True)
class SqrtLawModel:
    """Y * sigma * (Q/V)^exponent plus half the spread."""

    y: float = sqrt_law.Y
    exponent: float = sqrt_law.EXPONENT
    name: str = "sqrt"
    total_key: str = "total_bps"

    def breakdown(self, order: PreTradeOrder, market: MarketInputs) -> dict[str, float]:
        impact = sqrt_law.sqrt_law_bps(order.order_size, market.adv, market.daily_vol, self.y, self.exponent)
        total = impact + market.spread_bps / 2
        return {"impact_bps": impact, "half_spread_bps": market.spread_bps / 2, "total_bps": total,
                "total_dollars": total / 1e4 * order.notional, "notional_usd": order.notional,
                "duration_days": order.duration_days(market.adv)}


MODELS: dict[str, type] = {"canonical": CanonicalModel, "almgren2005": Almgren2005Model, "sqrt": SqrtLawModel}


def get_model(name: str, **params) -> CostModel:
    """The model called ``name`` with ``params`` (its coefficients); ConfigError lists the known names."""
    cls = MODELS.get(name)
    if cls is None:
        raise ConfigError(f"parameter 'model' must be one of {sorted(MODELS)}, got {name!r}")
    return cls(**params)
