"""The hedging decision: the cost-risk curve over horizons, the horizon minimising E + λV, and its AC schedule.

For a :class:`~tickreplay.hedging.requirements.Requirement` of ``X`` shares at
time ``t`` (the AC formulas are those of
:mod:`tickreplay.impact.almgren_chriss`; nothing is re-derived here):

* **Coefficients.** ``sigma = daily_vol × unit value`` ($/share/day^½);
  ``eta``, ``gamma`` from an ``almgren-chriss`` calibration, or, with no
  calibration, the defaults: the canonical model's temporary term mapped onto
  AC, ``eta = canonical.ETA × daily_vol × unit value / ADV`` (as in
  :func:`tickreplay.impact.frontier.canonical_ac_params`) and ``gamma = 0``;
  ``epsilon`` = half the spread ($/share). A "day" is ``day_ns`` of trading
  (6.5 h), the day of ``daily_vol`` and ADV. The regime rule then scales
  ``eta`` (:mod:`tickreplay.hedging.regimes`).
* **Curve.** Horizons ``T = N × period`` for a grid of ``N`` from one period
  (one minute by default) to the whole periods left in the session
  (geometric, integer ``N``; the rest of the session when it is shorter than
  one period). At each horizon the order trades at a constant rate (AC's
  trajectory at κ = 0): E (currency, and bps of ``X × unit value``) and V
  (variance of the cost, currency²) from AC's closed forms. Participation
  ``X / (ADV × T_days)``; a point is feasible when it is at most the
  participation cap (the rule's, else 100 %).
* **Choice.** The feasible horizon with the least ``E + λV``; ``λ``, the risk
  aversion, is in 1/currency (E in currency, V in currency²). For the
  straight line ``E + λV ≈ c + eta·X²/T + λ·sigma²·X²·T/3``, so the optimum
  ``T* ≈ sqrt(3·eta / (λ·sigma²))``: shorter when λ grows, longer when eta
  grows.
* **Schedule.** AC's optimal trajectory over the chosen horizon at the same
  λ (``almgren_chriss.solve``): child ``k`` at ``t + k × period`` trades
  ``n_k`` shares, rounded to whole shares so that they sum to ``X``
  (children of 0 shares left out). At ``T*`` κT ≈ √3: a moderate front-load.
* **Units.** Everything is in currency per share (or contract): ``ref_price`` is in price units and
  ``multiplier`` (currency per price unit per share, the contract multiplier; 1 for equities) turns it into
  the unit value ``ref_price × multiplier`` on which ``sigma``, ``epsilon``, the default ``eta`` and the bps
  notional are built — the unit of a fitted calibration (:mod:`tickreplay.impact.fit_ac` multiplies prices by
  the multiplier), so a fit and the defaults describe the same market in the same unit.
* **Ill-posed fits (fallback, then the η floor).** AC's discrete model needs ``eta − gamma·τ/2 > 0`` (τ = one
  period, in days): its κ and the whole curve are undefined otherwise. A calibration whose fitted ``eta`` is at
  or below ``gamma·τ/2`` (the fit clamped ``eta`` at 0) is decided with a **fallback** ``eta``
  (:func:`usable_eta`): the last ``eta`` of the same calibration key that was not clamped (the prior's, until a
  fit succeeds), when it is above ``gamma·τ/2``; only when there is none is ``eta`` raised to the **floor**
  ``ETA_FLOOR_FACTOR · gamma·τ/2`` (:func:`floor_eta`), i.e. as nearly no temporary impact as the model
  allows (a floored hedge picks the shortest horizon). The decision's record keeps the value used and the loop
  records which (``eta_source``: ``fit``, ``fallback`` or ``floor``).
* **Cap.** When no horizon is feasible, the rest of the session is used and
  the quantity cut to what the cap allows there; the shares left are
  recorded as unhedged. A ``pause`` rule trades nothing and records the whole
  requirement as unhedged (the curve is still recorded).

:class:`Decision` holds every input and output as plain data
(:meth:`Decision.to_dict` is JSON-serialisable, :meth:`Decision.from_dict`
reads it back).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from tickreplay.checks import non_negative, positive, positive_int
from tickreplay.errors import ConfigError
from tickreplay.hedging.regimes import NEUTRAL, RegimeRules
from tickreplay.hedging.requirements import Requirement
from tickreplay.impact import almgren_chriss as ac
from tickreplay.impact.calibration import Calibration
from tickreplay.impact.canonical import ETA as CANONICAL_ETA
from tickreplay.impact.models import MarketInputs

TRADING_DAY_NS = 23_400 * 1_000_000_000  # 6.5 h: the "day" of daily_vol, ADV, eta and gamma
MINUTE_NS = 60_000_000_000
ETA_FLOOR_FACTOR = 1.01  # the η floor: eta raised to this × gamma·τ/2 where a fit left it at or below


def floor_eta(calibration: Calibration | None, period_ns: int,
              day_ns: int = TRADING_DAY_NS) -> tuple[Calibration | None, bool]:
    """(``calibration`` with ``eta`` raised to ``ETA_FLOOR_FACTOR · gamma · τ / 2`` where it is at or below
    that — τ = ``period_ns`` in days of ``day_ns`` —, whether it was raised): the η floor of the module
    docstring."""
    if calibration is None:
        return None, False
    low = ETA_FLOOR_FACTOR * calibration.params["gamma"] * period_ns / day_ns / 2
    if calibration.params["eta"] > low:
        return calibration, False
    return replace(calibration, params={**calibration.params, "eta": low}), True


def usable_eta(calibration: Calibration | None, period_ns: int, fallback_eta: float | None = None,
               day_ns: int = TRADING_DAY_NS) -> tuple[Calibration | None, str]:
    """(the calibration to decide with, ``eta``'s source: ``"fit"``, ``"fallback"`` or ``"floor"``): the fitted
    ``eta`` when AC is well posed with it, else ``fallback_eta`` ($·day/share², the last unclamped ``eta`` of the
    key) when that is, else the η floor (module docstring)."""
    if calibration is None:
        return None, "fit"
    low = ETA_FLOOR_FACTOR * calibration.params["gamma"] * period_ns / day_ns / 2
    if calibration.params["eta"] > low:
        return calibration, "fit"
    if fallback_eta is not None and fallback_eta > low:
        return replace(calibration, params={**calibration.params, "eta": float(fallback_eta)}), "fallback"
    return floor_eta(calibration, period_ns, day_ns)[0], "floor"


@dataclass(frozen=True)
class DecisionConfig:
    """``risk_aversion`` λ (1/currency); ``period_ns``: AC period and child spacing (the shortest horizon);
    ``n_horizons``: points of the geometric horizon grid (every whole period when at least as many are left;
    fewer when rounding to whole periods merges points)."""

    risk_aversion: float = 1e-6
    period_ns: int = MINUTE_NS
    n_horizons: int = 60

    def __post_init__(self) -> None:
        non_negative("risk_aversion", self.risk_aversion)
        positive_int("period_ns", self.period_ns)
        positive_int("n_horizons", self.n_horizons)


@dataclass(frozen=True)
class Decision:
    """One hedging decision as plain data (module docstring); costs in currency unless ``_bps``.

    ``curve``: one dict per horizon (``horizon_ns``, ``horizon_days``,
    ``periods``, ``participation``, ``feasible``, ``expected_cost``,
    ``expected_cost_bps``, ``variance``, ``std_bps``, ``objective``);
    ``chosen``: index into ``curve`` (None when paused or nothing tradable);
    ``schedule``: ``times_ns``, ``sizes_shares``, ``style``, ``kappa_per_day``,
    ``expected_cost``, ``expected_cost_bps``, ``variance`` (empty children when
    nothing is traded); ``rule_changes``: what the regime rule changed.
    """

    requirement: dict[str, Any]
    regime: str | None
    rule_applied: str
    rule: dict[str, Any]
    rule_changes: dict[str, Any]
    risk_aversion: float
    calibration: dict[str, Any] | None
    coefficients: dict[str, Any]
    market: dict[str, Any]
    curve: list[dict[str, Any]]
    chosen: int | None
    schedule: dict[str, Any]
    traded_shares: int
    unhedged_shares: int
    paused: bool
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def horizon_ns(self) -> int | None:
        """The chosen horizon, ns (None when nothing is traded)."""
        return None if self.chosen is None else int(self.curve[self.chosen]["horizon_ns"])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Decision":
        return cls(**d)


def ac_coefficients(calibration: Calibration | None, market: MarketInputs, ref_price: float) -> dict[str, Any]:
    """``sigma``, ``eta``, ``gamma``, ``epsilon`` (AC units, module docstring) and their ``source``."""
    ref_price = positive("ref_price", ref_price)
    if calibration is None:
        eta, gamma, source = CANONICAL_ETA * market.daily_vol * ref_price / market.adv, 0.0, "default"
    elif calibration.kind != "almgren-chriss":
        raise ConfigError(f"the hedging decision needs an 'almgren-chriss' calibration (eta, gamma), got a "
                          f"{calibration.kind!r} one")
    else:
        eta, gamma, source = calibration.params["eta"], calibration.params["gamma"], "calibration"
    return {"sigma": market.daily_vol * ref_price, "eta": float(eta), "gamma": float(gamma),
            "epsilon": market.spread_bps / 2 / 1e4 * ref_price, "source": source}


def horizon_periods(remaining_ns: int, config: DecisionConfig) -> tuple[np.ndarray, int]:
    """(periods N of each horizon of the grid, ns per period): ``N × period_ns`` up to ``remaining_ns``; one
    horizon of the whole ``remaining_ns`` when that is shorter than one period."""
    if remaining_ns <= 0:
        raise ConfigError(f"no time left in the session for a hedge (remaining {remaining_ns} ns)")
    n_max = remaining_ns // config.period_ns
    if n_max == 0:
        return np.ones(1, dtype=np.int64), int(remaining_ns)
    if config.n_horizons >= n_max:
        return np.arange(1, n_max + 1, dtype=np.int64), config.period_ns
    return np.unique(np.round(np.geomspace(1, n_max, config.n_horizons)).astype(np.int64)), config.period_ns


def cost_risk_curve(shares: int, periods: np.ndarray, period_ns: int, coef: dict[str, Any], adv: float,
                    ref_price: float, risk_aversion: float, cap: float, day_ns: int) -> list[dict[str, Any]]:
    """The curve's points (see :class:`Decision`): constant-rate AC execution of ``shares`` over each horizon."""
    notional = shares * ref_price
    out = []
    for n in periods.tolist():
        days = n * period_ns / day_ns
        p = ac.ACParams(shares=shares, days=days, periods=n, sigma=coef["sigma"], eta=coef["eta"],
                        gamma=coef["gamma"], epsilon=coef["epsilon"])
        e, v = ac.expected_cost_closed_form(p, 0.0), ac.variance_closed_form(p, 0.0)
        part = shares / (adv * days)
        out.append({"horizon_ns": int(n * period_ns), "horizon_days": days, "periods": int(n),
                    "participation": part, "feasible": bool(part <= cap), "expected_cost": e,
                    "expected_cost_bps": e / notional * 1e4, "variance": v,
                    "std_bps": math.sqrt(v) / notional * 1e4, "objective": e + risk_aversion * v})
    return out


def ac_schedule(shares: int, start_ns: int, periods: int, period_ns: int, coef: dict[str, Any],
                risk_aversion: float, ref_price: float, day_ns: int, style: str) -> dict[str, Any]:
    """AC's optimal trajectory over ``periods × period_ns`` at ``risk_aversion``, as whole-share children."""
    sol = ac.solve(ac.ACParams(shares=shares, days=periods * period_ns / day_ns, periods=periods,
                               sigma=coef["sigma"], eta=coef["eta"], gamma=coef["gamma"], epsilon=coef["epsilon"],
                               risk_aversion=risk_aversion))
    done = np.round(shares - sol.holdings).astype(np.int64)
    done[0], done[-1] = 0, shares
    sizes = np.diff(done)
    keep = sizes > 0
    times = start_ns + np.arange(periods, dtype=np.int64) * period_ns
    return {"times_ns": times[keep].tolist(), "sizes_shares": sizes[keep].tolist(), "style": style,
            "kappa_per_day": sol.kappa, "expected_cost": sol.expected_cost,
            "expected_cost_bps": sol.expected_cost / (shares * ref_price) * 1e4, "variance": sol.variance}


def decide(req: Requirement, market: MarketInputs, ref_price: float, session_end_ns: int,
           config: DecisionConfig = DecisionConfig(), calibration: Calibration | None = None,
           regime: str | None = None, rules: RegimeRules = RegimeRules(), day_ns: int = TRADING_DAY_NS,
           multiplier: float = 1.0, in_event_window: bool = True) -> Decision:
    """The decision for ``req`` (module docstring): ``market`` and ``ref_price`` (price units per share, × the
    contract ``multiplier`` = currency) as the trader knows them at ``req.time_ns``; ``session_end_ns`` ends the
    horizons; ``regime`` selects the rule; a ``pause`` rule applies only ``in_event_window`` (outside it the
    neutral rule does)."""
    day_ns = positive_int("day_ns", day_ns)
    multiplier = positive("multiplier", multiplier)
    rule_name, rule = rules.for_regime(regime)
    if rule.action == "pause" and not in_event_window:
        rule_name, rule = f"{rule_name} (outside the event window)", NEUTRAL
    ref_price = positive("ref_price", ref_price) * multiplier  # currency per share from here on
    coef = ac_coefficients(calibration, market, ref_price)
    changes: dict[str, Any] = {}
    if rule.eta_scale != 1.0:
        changes["eta"] = [coef["eta"], coef["eta"] * rule.eta_scale]
        coef["eta"] *= rule.eta_scale
    cap = 1.0 if rule.participation_cap is None else rule.participation_cap
    if rule.participation_cap is not None:
        changes["participation_cap"] = cap
    if rule.style != "market":
        changes["style"] = rule.style
    lam = config.risk_aversion
    periods, period_ns = horizon_periods(session_end_ns - req.time_ns, config)
    curve = cost_risk_curve(req.quantity_shares, periods, period_ns, coef, market.adv, ref_price, lam, cap, day_ns)
    feasible = [k for k, c in enumerate(curve) if c["feasible"]]
    quantity, chosen = req.quantity_shares, None
    if rule.action == "pause":
        changes["paused"] = True
        quantity = 0
    elif feasible:
        chosen = min(feasible, key=lambda k: curve[k]["objective"])  # the first (shortest) on a tie
    else:  # the cap binds over the whole session left: trade what it allows there
        chosen = len(curve) - 1
        quantity = min(quantity, math.floor(cap * market.adv * curve[chosen]["horizon_days"]))
        changes["quantity_shares"] = [req.quantity_shares, quantity]
        if quantity == 0:
            chosen = None
    if chosen is None:
        schedule = {"times_ns": [], "sizes_shares": [], "style": rule.style, "kappa_per_day": 0.0,
                    "expected_cost": 0.0, "expected_cost_bps": 0.0, "variance": 0.0}
    else:
        schedule = ac_schedule(quantity, req.time_ns, curve[chosen]["periods"], period_ns, coef, lam, ref_price,
                               day_ns, rule.style)
    if rule.action == "pause" or quantity < req.quantity_shares:
        changes["unhedged_shares"] = req.quantity_shares - quantity
    return Decision(
        requirement=req.to_dict(), regime=regime, rule_applied=rule_name, rule=rule.to_dict(), rule_changes=changes,
        risk_aversion=lam, calibration=None if calibration is None else calibration.to_dict(), coefficients=coef,
        market={"adv": market.adv, "daily_vol": market.daily_vol, "spread_bps": market.spread_bps,
                "ref_price": float(ref_price / multiplier), "multiplier": float(multiplier),
                "unit_value": float(ref_price), "session_end_ns": int(session_end_ns), "day_ns": day_ns},
        curve=curve, chosen=chosen, schedule=schedule, traded_shares=int(quantity),
        unhedged_shares=int(req.quantity_shares - quantity), paused=rule.action == "pause",
        config={"risk_aversion": lam, "period_ns": config.period_ns, "n_horizons": config.n_horizons})
