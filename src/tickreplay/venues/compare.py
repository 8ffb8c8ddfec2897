"""The router comparison on generated venues: the same days, the same parent, one run per routing policy.

For each day (a seed of :func:`~tickreplay.venues.generate.generate_venues`), every policy executes the same TWAP
parent through :class:`~tickreplay.venues.router_strategy.RoutedExecutor` on the same venues, with the same
engine seed (so the latency draws of a day are shared by the policies where their requests coincide); the
parent's shortfall against the consolidated arrival mid (bps, fees included) is the paired unit, and
:func:`~tickreplay.venues.tca.paired_comparison` gives each policy's saving against the baseline over days.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from tickreplay.book.fast import compute_snapshots
from tickreplay.book.replay import ReplayData
from tickreplay.engine import EngineConfig
from tickreplay.schedule import ParentOrder, twap
from tickreplay.venues.engine import Venue, VenueEngine
from tickreplay.venues.generate import generate_venues
from tickreplay.venues.router_strategy import RoutedExecutor, RouterPolicy, check_policy_venues
from tickreplay.venues.tca import consolidated_market, paired_comparison, venue_tca

NS = 1_000_000_000


@dataclass(frozen=True)
class GeneratedVenues:
    """Generated venues: a regime, each venue's share of the order flow and its engine configuration."""

    regime: str
    shares: dict[str, float]
    configs: dict[str, EngineConfig] = field(default_factory=dict)  # missing venue: EngineConfig()
    duration_s: float = 1800.0
    activity: float | None = None
    levels: int = 5

    def venues(self, seed: int) -> list[Venue]:
        """The venues of day ``seed``."""
        tapes = generate_venues(self.regime, seed, self.shares, duration_s=self.duration_s, activity=self.activity)
        return [Venue(n, ReplayData.build(t, compute_snapshots(t, self.levels)), self.configs.get(n, EngineConfig()))
                for n, t in tapes.items()]


@dataclass(frozen=True)
class ParentPlan:
    """The parent every policy executes: side, quantity (size units), start after the open and length, seconds;
    ``n_children`` TWAP children in lots of ``lot``."""

    side: int = 1
    quantity: int = 6000
    start_s: float = 300.0
    length_s: float = 1200.0
    n_children: int = 20
    lot: int = 100


def run_day(venues: list[Venue], parent_plan: ParentPlan, policies, seed: int = 0):
    """Run every policy on one day's venues: (rows of day-level figures, {policy label: venue_tca})."""
    r0 = venues[0].replay
    t0 = r0.session_start_ns + round(parent_plan.start_s * NS)
    parent = ParentOrder(parent_plan.side, parent_plan.quantity, t0, t0 + round(parent_plan.length_s * NS))
    children = twap(parent, n_children=parent_plan.n_children, style="market", lot_size=parent_plan.lot)
    market = consolidated_market({v.name: v.replay for v in venues})
    engine = VenueEngine(venues, seed=seed)
    rows, detail = [], {}
    for policy in policies:
        check_policy_venues(policy, engine.venue_names)
        ex = RoutedExecutor(parent.side, children, policy, parent.quantity)
        res = engine.run(ex, start_ns=t0)
        fills = res.fills[res.fills["parent_id"] == parent.parent_id]
        t = venue_tca(res.orders, fills, parent, market, engine.venue_names)
        sf = t["total"]["shortfall"]
        rows.append({"policy": policy.label, "cost_bps": sf["total_bps"], "fees_bps": sf["fees_bps"],
                     "filled": sf["filled"], "unfilled": sf["unfilled"], "fills": t["total"]["counts"]["fills"],
                     **{f"share_{n}": t["venues"][n]["filled"] / max(sf["filled"], 1) for n in engine.venue_names},
                     **{f"maker_{n}": t["venues"][n]["maker"] for n in engine.venue_names}})
        detail[policy.label] = t
    return rows, detail


def compare_routers(spec: GeneratedVenues, parent_plan: ParentPlan, policies, days: range | list[int],
                    baseline: str | None = None, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Run every policy on every day (seed); the per-(day, policy) table and the paired comparison against
    ``baseline`` (default: the first policy's label)."""
    policies = list(policies)
    rows = []
    for day in days:
        day_rows, _ = run_day(spec.venues(day), parent_plan, policies, seed=seed + day)
        rows += [{"day": day, **r} for r in day_rows]
    table = pd.DataFrame(rows)
    return table, paired_comparison(table, baseline or policies[0].label, seed=seed)


def figures_setup() -> tuple[GeneratedVenues, list[RouterPolicy]]:
    """The venues and policies of the router comparison's figures (docs/venues.md, *Figures*; the notebook's):
    ``liquid_large_cap`` 30-minute days split 65 / 35 into A (1/1/1 ms latency, maker −0.2 / taker 0.3 bps) and B
    (3/2/2 ms, −0.1 / 0.1 bps); ``single:A``, ``single:B``, ``best`` and ``cont-kukanov`` with a 60 s horizon."""
    from tickreplay.exchange import FeeSchedule
    from tickreplay.latency import Constant

    ms = 1_000_000
    spec = GeneratedVenues("liquid_large_cap", {"A": 0.65, "B": 0.35}, {
        "A": EngineConfig(md_latency=Constant(1 * ms), entry_latency=Constant(1 * ms), response_latency=Constant(1 * ms),
                          fees=FeeSchedule(maker_bps=-0.2, taker_bps=0.3)),
        "B": EngineConfig(md_latency=Constant(3 * ms), entry_latency=Constant(2 * ms), response_latency=Constant(2 * ms),
                          fees=FeeSchedule(maker_bps=-0.1, taker_bps=0.1))})
    policies = [RouterPolicy("single", "A"), RouterPolicy("single", "B"), RouterPolicy("best"),
                RouterPolicy("cont-kukanov", horizon_ns=60 * NS)]
    return spec, policies


def main(days: int = 12) -> None:
    """Print the router comparison on generated venues (docs/venues.md, *Figures*)."""
    import json
    import resource
    import time

    spec, policies = figures_setup()
    wall, cpu = time.perf_counter(), time.process_time()
    table, cmp = compare_routers(spec, ParentPlan(), policies, range(1, days + 1))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(table.groupby("policy")[["cost_bps", "fees_bps", "fills"]].mean().round(3).to_string())
    print(json.dumps(cmp, indent=1))
    print(f"{days} days x {len(policies)} policies: wall {wall:.1f} s, cpu {cpu:.1f} s, "
          f"max rss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
