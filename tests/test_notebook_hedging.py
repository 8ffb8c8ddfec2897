"""The hedging-loop notebook runs top to bottom (nbclient) and states its verdicts from its own numbers.

The last cell prints ``NOTEBOOK_SUMMARY {json}``. The test recomputes every verdict from the intervals by the
notebook's rule (a difference or slope needs its 95 % interval clear of zero; a calibrated gamma tracks the planted
one when the planted value is inside its interval), checks the printed sentences, and checks today's figures
(generation, reactive market, loop and bootstrap are deterministic: a figure outside its tolerance means one of
them changed — find out why before updating it).
"""

from __future__ import annotations

import math

import pytest

from test_notebooks import NOTEBOOKS, run_notebook

STATS = ("total_hedge_cost", "hedged_pnl_variance", "mean_abs_error_bps", "mean_abs_caused_error_bps")
STAT_NAMES = ("total hedge cost", "variance of the hedged P&L", "per-hedge prediction error",
              "per-hedge prediction error of the caused cost")


def rule(lo: float, hi: float, other: str) -> str:
    return "lower" if hi < 0 else "higher" if lo > 0 else f"not distinguishable from {other}"


def router_rule(lo: float, hi: float, baseline: str) -> str:
    """A routing policy's verdict from the 95 % interval of its saving (positive: cheaper than the baseline)."""
    return f"cheaper than {baseline}" if lo > 0 else f"dearer than {baseline}" if hi < 0 else \
        f"not distinguishable from {baseline}"


def check_router(r: dict, text: str) -> None:
    """The router section: paired figures consistent, verdicts and caveat from them by the stated rules, today's
    figures (generated venues and the replay are deterministic)."""
    base, cmp = r["baseline"], r["comparison"]
    assert base == "single:A" and cmp[base]["baseline"] and r["days"] == cmp[base]["n"] == 12
    assert set(cmp) == {"single:A", "single:B", "best", "cont-kukanov"}
    for p, c in cmp.items():
        if p == base:
            continue
        lo, hi = c["ci95_bps"]
        assert c["n"] == 12 and all(math.isfinite(v) for v in (lo, hi, c["mean_bps"])), p
        assert lo <= c["mean_bps"] <= hi and 0 <= c["win_rate"] <= 1, p
        # every day ran every policy: the mean paired saving is the difference of the mean costs
        assert c["mean_bps"] == pytest.approx(cmp[base]["mean_cost_bps"] - c["mean_cost_bps"], abs=1e-9), p
        assert r["verdicts"][p] == router_rule(lo, hi, base), p
        assert f"{r['verdicts'][p]}" in text
    assert r["upper_bound"] == [p for p, share in r["passive_share"].items() if share > 0.5]
    for p in r["upper_bound"]:
        assert f"{p}: {r['passive_share'][p]:.0%} of its size filled passively" in text and "upper bound" in text
    assert r["pays"] == [p for p, v in r["verdicts"].items() if v.startswith("cheaper")]
    assert ("Routing beats single:A measurably with: " + (", ".join(
        p + (" (upper bound)" if p in r["upper_bound"] else "") for p in r["pays"]) or "nothing")) in text
    # today's figures (docs/venues.md, Figures; python -m tickreplay.venues.compare)
    assert cmp["best"]["mean_bps"] == pytest.approx(0.24, abs=0.01)
    assert cmp["cont-kukanov"]["mean_bps"] == pytest.approx(1.24, abs=0.01)
    assert cmp["single:B"]["mean_bps"] == pytest.approx(-0.17, abs=0.01)
    assert r["verdicts"] == {"best": "cheaper than single:A", "cont-kukanov": "cheaper than single:A",
                             "single:B": "dearer than single:A"}
    assert r["upper_bound"] == ["cont-kukanov"] and r["passive_share"]["cont-kukanov"] > 0.9
    assert r["cpu_s"] < 30


def check_learning_curve(s: dict, text: str) -> None:
    """The caused-cost statistics: every verdict from its interval by the rule, the printed lists from the verdicts,
    the block means and the before/after figures from the printed error curve."""
    for key, verdicts in (("caused_error_trend", "caused_trend_verdicts"),
                          ("caused_error_trend_vs_static", "caused_trend_vs_static_verdicts"),
                          ("caused_error_halves_vs_static", "halves_verdicts"),
                          ("experience_trend", "experience_verdicts")):
        for p, t in s[key].items():
            assert all(math.isfinite(v) for v in t["ci"]), (key, p)
            assert s[verdicts][p] == rule(*t["ci"], "zero"), (key, p)
    for p, t in s["caused_error_trend"].items():
        assert t["within_regime"] and t["measure"] == "caused" and t["days"] == 20, p
    for p, t in s["caused_error_halves_vs_static"].items():
        assert t["difference"] == pytest.approx(t["second_half_bps"] - t["first_half_bps"]) and t["days"] == [10, 10]
    falling = [p for p in ("daily", "regime") if s["caused_trend_vs_static_verdicts"][p] == "lower"]
    flat = [p for p in ("daily", "regime") if s["caused_trend_verdicts"][p] != "lower"]
    assert s["falling"] == falling and s["flat"] == flat
    assert ("The caused-cost error falls over the days relative to static (within regimes) for: "
            + (", ".join(falling) or "no loop") + "; its own within-regime trend is not a fall for: "
            + (", ".join(flat) or "no loop") + ".") in text
    curves = {p: {r["day"]: r for r in c} for p, c in s["error_curve"].items()}
    assert [b["days"] for b in s["blocks"]] == [[0, 4], [5, 9], [10, 14], [15, 19]]
    for b in s["blocks"]:
        for p, c in curves.items():
            days = range(b["days"][0], b["days"][1] + 1)
            assert all(c[d]["regime"] == b["regime"] for d in days)
            assert b["caused_error_bps"][p] == pytest.approx(sum(c[d]["mean_abs_caused_error_bps"] for d in days)
                                                             / len(days))
    for g, (before, after) in s["before_after"].items():
        assert after < before, g  # the hedges decided before any learning were the worst predicted
    check_experience(s, text)


def check_experience(s: dict, text: str) -> None:
    """The learning curve against experience: the fall-with-experience statistic (error with >= 11 minus < 3 hedges
    of experience, within regimes; static, the control, at the same ranks) and its paired difference to static —
    verdicts from the intervals, the conclusions and the per-day and floor statements from the numbers."""
    for key, verdicts in (("experience_change", "experience_change_verdicts"),
                          ("experience_change_vs_static", "experience_change_vs_static_verdicts")):
        for p, t in s[key].items():
            assert (t["early"], t["late"], t["days"]) == (3, 11, 20) and t["valid_draws"] > 0.4 * t["draws"], (key, p)
            assert all(math.isfinite(v) for v in t["ci"]) and t["ci"][0] <= t["ci"][1], (key, p)
            assert s[verdicts][p] == rule(*t["ci"], "zero"), (key, p)
            if t["paired_with"] is None:  # the pooled change is the mean of the regimes' changes
                assert t["change_bps"] == pytest.approx(sum(v["late_bps"] - v["early_bps"] for v in
                                                            t["regimes"].values()) / len(t["regimes"])), (key, p)
    assert s["experience_change"]["static"]["x"] == "rank" and s["experience_change"]["regime"]["x"] == "learned"
    assert s["experience_change_vs_static"]["regime"]["paired_with"] == "static"
    learns = [p for p in ("daily", "regime") if s["experience_change_verdicts"][p] == "lower"]
    beyond = [p for p in ("daily", "regime") if s["experience_change_vs_static_verdicts"][p] == "lower"]
    control = s["experience_change_verdicts"]["static"] == "lower"
    assert (s["learns"], s["beyond_position"], s["control_falls"]) == (learns, beyond, control)
    assert ("The caused-cost error falls with experience for: " + (", ".join(learns) or "no loop")
            + "; more than static's at the same ranks for: " + (", ".join(beyond) or "no loop")
            + "; static's own error (the control) " + ("falls too" if control else "does not fall") + ".") in text
    for p, by in s["first_day"].items():
        for g, v in by.items():
            assert v["first_day"] == min(r["day"] for r in s["error_curve"][p] if r["regime"] == g), (p, g)
            if v["zero_days"] == [v["first_day"]]:
                assert f"{p}, {g}: hedges decided before any learning on days [{v['first_day']}]" in text
    assert s["floor"] == {g: v["late_bps"] for g, v in s["experience_change"]["regime"]["regimes"].items()}
    curve = s["experience_curve"]
    for p, rows in curve.items():
        for r in rows:
            assert r["ci"][0] <= r["mean_abs_caused_error_bps"] <= r["ci"][1], (p, r["regime"], r["learned_from"])


LOOP_ROUTER_MARKER = "NOTEBOOK_LOOP_ROUTER "
LOOP_ROUTER_STATS = {"total_hedge_cost": "total hedge cost", "hedged_pnl_variance": "variance of the hedged P&L",
                     "mean_abs_error_bps": "per-hedge prediction error", "fees": "fees"}


def check_loop_router(text: str) -> None:
    """The router comparison inside the loop (its own summary line): differences are the routers' statistics
    minus the baseline's, verdicts follow from the intervals by the loop's rule and the text says them, the
    conclusions and caveats are recomputed from the numbers, and today's figures hold."""
    import json

    lines = [ln for ln in text.splitlines() if ln.startswith(LOOP_ROUTER_MARKER)]
    assert len(lines) == 1, f"expected one {LOOP_ROUTER_MARKER.strip()} line, got {len(lines)}"
    lr = json.loads(lines[0][len(LOOP_ROUTER_MARKER):])
    assert lr["days"] == 20 and set(lr["policies"]) == {"regime", "static"}
    pays, worse, fills_more, upper = [], [], [], []
    for lp, c in lr["policies"].items():
        base, st = c["baseline"], c["stats"]
        assert base == "single:A" and c["routers"] == ["single:A", "best", "cont-kukanov"] and c["policy"] == lp
        assert st[base]["venues"]["B"]["filled_shares"] == 0  # single:A never trades on B
        for p in ("best", "cont-kukanov"):
            for k, what in LOOP_ROUTER_STATS.items():
                cmp = c["vs_baseline"][p][k]
                lo, hi = cmp["ci"]
                assert cmp["days"] == 20 and all(math.isfinite(v) for v in (lo, hi)), (lp, p, k)
                assert cmp["difference"] == pytest.approx(st[p][k] - st[base][k], rel=1e-9, abs=1e-9), (lp, p, k)
                v = rule(lo, hi, base)
                assert c["verdicts"][p][k] == v and f"{p} vs {base} ({lp}): {what} {v}" in text, (lp, p, k)
                if v == "lower":
                    pays.append(f"{p} ({lp}) {what}")
                elif v == "higher":
                    worse.append(f"{p} ({lp}) {what}")
            if st[p]["unfilled_shares"] < st[base]["unfilled_shares"]:
                fills_more.append(f"{p} ({lp})")
            if (st[p]["passive_share"] or 0) > 0.5:
                upper.append(f"{p} ({lp})")
    assert (lr["pays"], lr["costs_more"], lr["fills_more"], lr["upper_bound"]) == (pays, worse, fills_more, upper)
    assert "Inside the loop, routing beats single:A measurably in: " + (", ".join(pays) or "nothing") in text
    assert "and is measurably worse in: " + (", ".join(worse) or "nothing") in text
    # today's figures (docs/loop.md, Router comparison; tickreplay loop scenarios/hedging_loop_venues.toml
    # --compare-routers, bootstrap seed 11, books of the regimes' depth_levels): both routers' fees lower on both
    # policies; every router fills every share; with static best's total cost lower than single:A's with the same
    # planted impact per hedge (same shares at the same times: the same shift), cont-kukanov's variance and
    # prediction error higher
    for lp in ("regime", "static"):
        assert {p: lr["policies"][lp]["verdicts"][p]["fees"] for p in ("best", "cont-kukanov")} == \
            {"best": "lower", "cont-kukanov": "lower"}
        assert all(st["unfilled_shares"] == 0 for st in lr["policies"][lp]["stats"].values()), lp
        assert {k: lr["policies"][lp]["verdicts"]["cont-kukanov"][k]
                for k in ("hedged_pnl_variance", "mean_abs_error_bps")} == {"hedged_pnl_variance": "higher",
                                                                           "mean_abs_error_bps": "higher"}, lp
    static = lr["policies"]["static"]
    assert static["verdicts"]["best"]["total_hedge_cost"] == "lower"
    assert static["vs_baseline"]["best"]["total_hedge_cost"]["difference"] == pytest.approx(-175, abs=5)
    assert static["stats"]["best"]["market_impact_bps"] == pytest.approx(
        static["stats"]["single:A"]["market_impact_bps"], rel=1e-12)


def test_hedging_loop_notebook_conclusions_follow_from_its_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    _, text, s = run_notebook(NOTEBOOKS / "hedging_loop.ipynb")
    # (a) consistent figures
    for p in ("daily", "regime"):
        for k in STATS:
            c = s["vs_static"][p][k]
            assert c["days"] == 20 and all(math.isfinite(v) for v in c["ci"]), (p, k)
            assert c["difference"] == pytest.approx(s["policies"][p][k] - s["policies"]["static"][k], rel=1e-9)
            # (b) each verdict follows from its interval by the rule, and the text says it
            assert s["verdicts"][p][k] == rule(*c["ci"], "static"), (p, k)
    for k in STATS:
        assert s["verdicts"]["regime_vs_daily"][k] == rule(*s["regime_vs_daily"][k]["ci"], "daily")
    for p, t in s["error_trend_vs_static"].items():
        assert t["paired_with"] == "static" and t["days"] == 20
        assert s["trend_verdicts"][p] == rule(*t["ci"], "zero")
    for key, v in s["tracking"].items():
        lo, hi = v["gamma_ci"]
        assert lo <= v["gamma"] <= hi
        assert v["ratio"][key] == pytest.approx(v["gamma"] / v["planted_gamma"][key])
        assert s["tracks"][key] is (lo <= v["planted_gamma"][key] <= hi)
        assert f"{'tracks' if s['tracks'][key] else 'does not track'} the planted value" in text
    pays = [f"{p} {name}" for p in ("daily", "regime") for k, name in zip(STATS, STAT_NAMES)
            if s["verdicts"][p][k] == "lower"]
    assert s["pays"] == pays
    assert ("Learning pays measurably in: " + (", ".join(pays) if pays else "nothing")) in text
    check_learning_curve(s, text)
    check_router(s["router"], text)
    check_loop_router(text)  # the router comparison inside the loop (its own summary line)
    # (c) today's figures
    assert s["hedges"] == {"static": 88, "daily": 88, "regime": 87}
    for p, v in s["policies"].items():  # every traded hedge has one eta source; the loops fall back, never floor here
        assert sum(v["eta_sources"].values()) == s["hedges"][p], p
    assert s["policies"]["static"]["eta_sources"]["fit"] == 88 and s["policies"]["regime"]["eta_sources"] == \
        {"fit": 43, "fallback": 44, "floor": 0}
    assert set(s["tracking"]) == {"liquid_large_cap", "high_volatility"}
    assert s["tracking"]["liquid_large_cap"]["ratio"]["liquid_large_cap"] == pytest.approx(0.94, abs=0.01)
    assert s["tracking"]["high_volatility"]["ratio"]["high_volatility"] == pytest.approx(0.76, abs=0.01)
    assert s["tracks"] == {"liquid_large_cap": True, "high_volatility": True}
    # the caused-cost error: learning cuts it to a third (regime) and the gap to static grows over the days, but the
    # loops' own error does not keep falling after the first day of each regime (docs/loop.md, "The learning curve")
    caused = {p: v["mean_abs_caused_error_bps"] for p, v in s["policies"].items()}
    assert caused == pytest.approx({"static": 68.3, "daily": 31.1, "regime": 19.9}, abs=0.1)
    assert s["verdicts"]["regime"]["mean_abs_caused_error_bps"] == "lower"
    assert s["verdicts"]["regime_vs_daily"]["mean_abs_caused_error_bps"] == "lower"
    assert s["caused_trend_vs_static_verdicts"] == {"daily": "lower", "regime": "lower"}
    assert s["caused_error_trend_vs_static"]["regime"]["slope_bps_per_day"] == pytest.approx(-1.64, abs=0.01)
    assert s["caused_trend_verdicts"] == {"static": "higher", "daily": "not distinguishable from zero",
                                          "regime": "not distinguishable from zero"}
    assert s["halves_verdicts"] == {"daily": "lower", "regime": "not distinguishable from zero"}
    assert s["experience_verdicts"] == {"daily": "not distinguishable from zero",
                                        "regime": "not distinguishable from zero"}
    assert s["before_after"]["liquid_large_cap"] == pytest.approx([39.3, 5.3], abs=0.1)
    assert s["before_after"]["high_volatility"] == pytest.approx([63.5, 30.1], abs=0.1)
    # the fall with experience (docs/loop.md, "The learning curve"): relative to static at the same ranks the regime
    # loop's error falls (CI below zero); its own fall from < 3 to >= 11 hedges learned is NOT clear of zero once the
    # hedges within a day are resampled too (the < 3 bin holds 4 hedges per regime, and hedges 1-2 already sit at
    # the floor); static's control does not fall (it rises, not distinguishably: its later hedges are harder)
    ec, ec_vs = s["experience_change"], s["experience_change_vs_static"]
    assert s["experience_change_vs_static_verdicts"] == {"daily": "not distinguishable from zero", "regime": "lower"}
    assert ec_vs["regime"]["change_bps"] == pytest.approx(-28.5, abs=0.1) and ec_vs["regime"]["ci"][1] < 0
    assert s["experience_change_verdicts"] == {"static": "not distinguishable from zero",
                                               "daily": "not distinguishable from zero",
                                               "regime": "not distinguishable from zero"}
    assert ec["regime"]["change_bps"] == pytest.approx(-13.5, abs=0.1) and ec["static"]["change_bps"] > 0
    assert not s["control_falls"] and s["learns"] == [] and s["beyond_position"] == ["regime"]
    # on the per-day axis the fall happens within the first day of each regime: the hedges decided before any
    # learning are all on it (the daily loop meets the volatile regime already trained on calm days)
    assert {g: (v["zero_days"], v["first_day"]) for g, v in s["first_day"]["regime"].items()} == \
        {"liquid_large_cap": ([0], 0), "high_volatility": ([5], 5)}
    assert s["first_day"]["daily"]["high_volatility"]["zero_days"] == []
    # where learning does not pay: the volatile regime's floor after learning is five times the calm one, and more
    # experience does not lower it (per doubling: not distinguishable); the realised error of the pooled loop is
    # not distinguishable from static's
    assert s["floor"] == pytest.approx({"liquid_large_cap": 6.0, "high_volatility": 30.7}, abs=0.1)
    assert s["verdicts"]["daily"]["mean_abs_error_bps"] == "not distinguishable from static"
