"""Realised cost next to the pre-trade model's prediction for the same order.

The prediction comes from :mod:`tickreplay.impact` (one formula, one place):
the parent becomes a :class:`~tickreplay.impact.PreTradeOrder` of its
quantity (size units, the units of ADV as :func:`tickreplay.market.inputs.estimate_inputs`
measures it) at the currency value of one size unit at the arrival mid (mid × multiplier / size_scale, so
the model's notional and currency figures are right when a size unit is a lot, not a share, or a futures
contract of ``multiplier`` × the price), and the named model prices it with the
caller's :class:`~tickreplay.impact.MarketInputs` and participation.
``difference_bps = realised - predicted``: positive when the run cost more
than the model said. Realised is the total implementation shortfall
(opportunity cost included), in bps of the arrival notional.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tickreplay.impact import MarketInputs, PreTradeOrder, get_model
from tickreplay.schedule.base import ParentOrder


@dataclass(frozen=True)
class PreTradeInputs:
    """What the model needs beyond the parent: market inputs, participation (fraction), model and coefficients."""

    market: MarketInputs
    participation: float
    model: str = "canonical"
    params: dict = field(default_factory=dict)
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0


def predicted_vs_realised(realised_bps: float, parent: ParentOrder, ref_price: float,
                          inputs: PreTradeInputs) -> dict:
    """The model's breakdown for the parent, its total in bps, the realised bps and their difference.

    ``ref_price``: the currency value of one size unit at the arrival mid (mid × multiplier / size_scale).
    """
    model = get_model(inputs.model, **inputs.params)
    order = PreTradeOrder(side=parent.side, order_size=parent.quantity, ref_price=ref_price,
                          participation=inputs.participation, latency_ms=inputs.latency_ms,
                          latency_jitter_ms=inputs.latency_jitter_ms)
    breakdown = {k: float(v) for k, v in model.breakdown(order, inputs.market).items()}
    predicted = breakdown[model.total_key]
    m = inputs.market
    return {
        "model": model.name,
        "predicted_bps": predicted,
        "realised_bps": float(realised_bps),
        "difference_bps": float(realised_bps) - predicted,
        "adv": m.adv, "daily_vol": m.daily_vol, "spread_bps": m.spread_bps, "participation": inputs.participation,
        "breakdown": breakdown,
    }
