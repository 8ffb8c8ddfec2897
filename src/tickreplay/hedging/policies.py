"""Which calibration is in force, and when it learns: the three policies of the loop (docs/loop.md).

* ``static`` — the textbook coefficients (``decide``'s defaults: canonical ``eta``, ``gamma = 0``), or the
  scenario's calibration file, never updated.
* ``daily`` — one calibration for every day, updated with :func:`tickreplay.impact.update.update` after each
  day with that day's hedges.
* ``regime`` — one calibration per regime, each updated with its own regime's hedges (after every hedge or
  every day: ``loop.update.every``).

``update`` needs a calibration that keeps its sample of parents; the **textbook prior** is one: an
``almgren-chriss`` fit (:func:`tickreplay.impact.fit_ac.calibrate_ac_sample`) on 20 pseudo-parents whose costs
are exactly the textbook model's (``eps + eta·X/T``, no permanent move) at the day's market inputs, dated the day
before the first day — so the update's age weights (half-life) let real hedges take over day by day — or earlier
(:func:`prior_date`): ``prior_weight`` ``w`` < 1 dates it ``ceil(H·log2(1/w))`` days before the first day, so that
each pseudo-parent weighs at most ``w`` of a first-day hedge at every update (the age weights are relative).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from tickreplay.hedging.decision import TRADING_DAY_NS, ac_coefficients
from tickreplay.impact.calibration import Calibration
from tickreplay.impact.models import MarketInputs

PRIOR_PARENTS = 20  # fit_sqrt.MIN_PARENTS: what an Almgren–Chriss fit needs
PRIOR_BOOTSTRAP = 100


def prior_date(first_date: str, half_life_days: float, prior_weight: float = 1.0) -> str:
    """The date of the textbook prior (module docstring): ``max(1, ceil(H·log2(1/w)))`` days before
    ``first_date`` (ISO text), ``H`` the half-life in days, ``w`` the prior weight in (0, 1]."""
    age = max(1, math.ceil(half_life_days * math.log2(1.0 / prior_weight) - 1e-9))
    return str(np.datetime64(first_date, "D") - np.timedelta64(age, "D"))


def textbook_prior(market: MarketInputs, ref_price: float, instrument: str, date: str) -> Calibration:
    """The textbook coefficients as a calibration with a sample (module docstring)."""
    from tickreplay.impact.fit_ac import SAMPLE_COLUMNS, calibrate_ac_sample

    coef = ac_coefficients(None, market, ref_price)
    n = PRIOR_PARENTS
    X = np.round(np.geomspace(1e-3, 2e-2, n) * market.adv)
    T = np.geomspace(5, 120, n)[np.argsort(np.arange(n) * 7 % n)] * 60e9 / TRADING_DAY_NS  # X and T not collinear
    s = pd.DataFrame({"date": [date] * n, "X": X, "T": T, "move": np.zeros(n),
                      "cost": coef["epsilon"] + coef["eta"] * X / T, "m_arr": np.full(n, float(ref_price)),
                      "adv": np.full(n, market.adv), "daily_vol": np.full(n, market.daily_vol),
                      "spread_bps": np.full(n, market.spread_bps), "bucket": [""] * n,
                      "instrument": [instrument] * n})[list(SAMPLE_COLUMNS)]
    return calibrate_ac_sample(s, bootstrap=PRIOR_BOOTSTRAP, source={"prior": "textbook (canonical eta, gamma 0)"})


Updater = Callable[..., Calibration]


@dataclass
class Policy:
    """A policy's calibrations by key (``"all"``, or the regime) and the record of its updates."""

    name: str
    every: str  # "never", "day" or "hedge"
    per_regime: bool
    start: Callable[[str], Calibration | None]  # the starting calibration of a key
    calibrations: dict[str, Calibration | None] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    updates: list[dict[str, Any]] = field(default_factory=list)
    unclamped_eta: dict[str, float] = field(default_factory=dict)  # per key, the last eta > 0 ($·day/share²)

    def key(self, regime: str | None) -> str:
        return (regime or "unlabelled") if self.per_regime else "all"

    def in_force(self, regime: str | None) -> tuple[Calibration | None, str]:
        """(the calibration in force for ``regime``, its id: ``<key>:<n updates>``)."""
        k = self.key(regime)
        if k not in self.calibrations:
            self.calibrations[k] = self.start(k)
            self.ids[k] = f"{k}:0"
            self._remember(k)
        return self.calibrations[k], self.ids[k]

    def _remember(self, key: str) -> None:
        """Keep ``key``'s ``eta`` as the fallback of later clamped fits when the fit did not clamp it at 0."""
        cal = self.calibrations[key]
        if cal is not None and cal.params["eta"] > 0:
            self.unclamped_eta[key] = float(cal.params["eta"])

    def fallback_eta(self, regime: str | None) -> float | None:
        """The last ``eta`` of ``regime``'s key that a fit did not clamp at 0 (the prior's until one does)."""
        return self.unclamped_eta.get(self.key(regime))

    def learn(self, regime: str | None, parents: pd.DataFrame, half_life_days: float, updater: Updater,
              when_ns: int, day: int) -> None:
        """Update the calibration of ``regime``'s key with ``parents`` (a no-op for ``static``)."""
        parents = parents[parents["duration_days"] > 0]  # a hedge filled at once has no speed to learn from
        if self.every == "never" or not len(parents):
            return
        cal, cid = self.in_force(regime)
        k = self.key(regime)
        new = updater(cal, parents, half_life_days, where=f"loop hedges {list(parents['parent_id'])}")
        n = int(cid.split(":")[1]) + 1
        self.calibrations[k], self.ids[k] = new, f"{k}:{n}"
        self._remember(k)
        self.updates.append({"key": k, "from": cid, "to": self.ids[k], "time_ns": int(when_ns), "day": day,
                             "n_parents": int(len(parents)), "hedges": [int(x) for x in parents["row"]],
                             "eta": float(new.params["eta"]), "gamma": float(new.params["gamma"]),
                             "gamma_ci_low": float(new.intervals["gamma"][0]),
                             "gamma_ci_high": float(new.intervals["gamma"][1]),
                             "previous_eta": None if cal is None else float(cal.params["eta"]),
                             "previous_gamma": None if cal is None else float(cal.params["gamma"])})


def make_policy(name: str, every: str, file_calibration: Calibration | None,
                prior: Callable[[str], Calibration]) -> Policy:
    """``static``, ``daily`` or ``regime`` (module docstring); ``prior(key)``: the textbook prior of a key."""
    if name == "static":
        return Policy(name, "never", False, lambda k: file_calibration)
    start = (lambda k: file_calibration) if file_calibration is not None else prior
    if name == "daily":
        return Policy(name, "day", False, start)
    return Policy(name, every, True, start)
