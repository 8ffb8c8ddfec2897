"""Results store: DuckDB views over every run's Parquet files and tca.json; the README's example queries run
and agree with pandas over the same hand-made tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tickreplay.cli import main
from tickreplay.results import (QueryError, RunRecord, batch_dirs, flatten, query, read_stored, runs_frame,
                                store_index, write_batch)
from tickreplay.schedule import ParentOrder
from tickreplay.tape import Instrument
from tickreplay.tca import MarketSeries, fill_table, tca_summary

# -- the three example fill-quality queries of the README ----------------------------------------

#: average 1 s markout (size-weighted, bps, positive = good for us) by child order type and liquidity
MARKOUT_BY_STYLE = """
SELECT o.type AS order_type, f.liquidity, count(*) AS fills,
       sum(f.size * f.markout_1s_bps) / sum(f.size) AS markout_1s_bps
FROM fills f JOIN orders o ON o.run_id = f.run_id AND o.order_id = f.order_id AND o.action = 'new'
GROUP BY ALL ORDER BY ALL
"""

#: implementation shortfall and its half-spread part by realised participation (5 % buckets)
COST_BY_PARTICIPATION = """
SELECT floor(window_participation * 20) / 20 AS participation, count(*) AS runs,
       avg(shortfall_total_bps) AS shortfall_bps, avg(shortfall_half_spread_bps) AS half_spread_bps
FROM runs GROUP BY 1 ORDER BY 1
"""

#: fill rate of each placement at a price (a new limit order or a modify that left it resting) by the queue ahead
#: of it then: what filled while that placement was in force over the size it placed
FILL_RATE_BY_QUEUE = """
SELECT CASE WHEN queue_ahead < 0 THEN 'unknown'
            WHEN queue_ahead = 0 THEN '0'
            WHEN queue_ahead < 500 THEN '1-499'
            ELSE '500+' END AS ahead,
       count(*) AS placements, sum(filled) / sum(open_quantity) AS fill_rate
FROM orders WHERE rested
GROUP BY 1 ORDER BY min(queue_ahead)
"""

NS = 1_000_000_000
INST = Instrument("TST", "test", "2024-01-02", price_scale=10_000, tick_size=100)


def market() -> MarketSeries:
    """One event a second for 400 s: mid 100.00/100.01/100.02 in turn (touch ± 0.01), 1,000 traded at 100.00 each."""
    n = 400
    ts = np.arange(n, dtype=np.int64) * NS
    mid_x2 = 2_000_000 + 200 * (np.arange(n) % 3)
    vol = np.r_[0, np.cumsum(np.full(n, 1_000))].astype(np.int64)
    half = mid_x2 // 2  # the touch one tick either side of the mid
    return MarketSeries(INST, ts, mid_x2.astype(np.int64), vol, vol * 1_000_000, (half - 100).astype(np.int64),
                        (half + 100).astype(np.int64))


# per run: side, fills (order id, size, price, liquidity, exchange s), order-log rows (order id, action, type,
# quantity, open quantity, filled while in force, status, rested, queue ahead)
RUNS = {
    "twap_market": (1, [(1, 2_000, 1_000_100, "taker", 10), (2, 3_000, 1_000_200, "taker", 20)],
                    [(1, "new", "market", 2_000, 2_000, 2_000, "filled", False, -1),
                     (2, "new", "market", 3_000, 3_000, 3_000, "filled", False, -1)]),
    "pov10_passive": (1, [(1, 6_000, 1_000_000, "maker", 30), (2, 4_000, 999_900, "maker", 50),
                          (3, 2_000, 1_000_200, "taker", 60)],
                      [(1, "new", "limit", 6_000, 6_000, 6_000, "accepted", True, 0),
                       # placed behind 300, nothing filled; re-priced behind 1,200, filled 4,000 there
                       (2, "new", "limit", 8_000, 8_000, 0, "accepted", True, 300),
                       (2, "modify", "limit", 8_000, 8_000, 4_000, "modified", True, 1_200),
                       (2, "cancel", "limit", -1, 4_000, 0, "cancelled", False, -1),
                       (3, "new", "market", 2_000, 2_000, 2_000, "filled", False, -1),
                       (4, "new", "limit", 5_000, 5_000, 0, "accepted", True, 2_500),
                       (4, "cancel", "limit", -1, 5_000, 0, "cancelled", False, -1)]),
    "pov10_sell": (-1, [(1, 11_000, 1_000_100, "maker", 15), (2, 1_500, 1_000_000, "taker", 70)],
                   [(1, "new", "limit", 12_000, 12_000, 11_000, "accepted", True, 450),
                    (1, "cancel", "limit", -1, 1_000, 0, "cancelled", False, -1),
                    (2, "new", "ioc", 1_500, 1_500, 1_500, "filled", False, -1),
                    (3, "new", "limit", 1_000, 0, 0, "rejected", False, -1),
                    (4, "new", "limit", 2_000, 2_000, 0, "accepted", True, -1)]),  # beyond the data's window
}


def _tables(side: int, fills: list, orders: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    f = pd.DataFrame([dict(fill_id=k + 1, order_id=o, parent_id=1, side=side, price=p, size=q, liquidity=liq, fee=0.0,
                           decision_ns=(t - 1) * NS, arrival_ns=(t - 1) * NS, exchange_ns=t * NS, response_ns=t * NS,
                           tape_index=t, how="walk" if liq == "taker" else "queue")
                      for k, (o, q, p, liq, t) in enumerate(fills)])
    filled = f.groupby("order_id")["size"].sum()
    end = {}  # order id → its end state (status, reason), as on every row of the order
    for i, act, _, q, _, _, st, _, _ in orders:
        if act == "new":
            end[i] = ("rejected", "outside_trading_hours") if st == "rejected" else (
                ("filled", "") if filled.get(i, 0) == q else ("open", ""))
        elif act == "cancel" and st == "cancelled":
            end[i] = ("cancelled", "cancel_request")
    rows = [*orders, (1, "cancel", "limit", -1, 0, 0, "rejected", False, -1)]
    final_q = {i: q for i, act, _, q, *_ in orders if act == "new"}
    o = pd.DataFrame([dict(request_id=k + 1, order_id=i, parent_id=1, action=act, side=side, type=typ, quantity=q,
                           status=st, open_quantity=open_q, filled=got, rested=rested, queue_ahead=ahead,
                           order_status=end[i][0], order_filled=int(filled.get(i, 0)), final_quantity=final_q[i],
                           unfilled=final_q[i] - int(filled.get(i, 0)), reason=end[i][1], arrival_ns=0)
                      for k, (i, act, typ, q, open_q, got, st, rested, ahead) in enumerate(rows)])
    assert o.groupby("order_id")["filled"].sum().tolist() == o.groupby("order_id")["order_filled"].first().tolist()
    return f, o


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    m = market()
    for run_id, (side, fills, orders) in RUNS.items():
        f, o = _tables(side, fills, orders)
        parent = ParentOrder(side=side, quantity=20_000, start_ns=0, end_ns=100 * NS)
        d = root / run_id
        d.mkdir()
        fill_table(f, parent, m).to_parquet(d / "fills.parquet")
        o.to_parquet(d / "orders.parquet")
        (d / "tca.json").write_text(json.dumps(tca_summary(f, o, parent, m)))
        (d / "scenario.toml").write_text(f'name = "{run_id}"\n[parent]\nside = {side}\nquantity = 20000\n'
                                         f'[schedule]\nkind = "{run_id.split("_")[0]}"\nrates = [0.1, 0.2]\n')
    half = root / ".half_written.tmp"  # an atomic write in progress: not a run
    half.mkdir()
    pd.DataFrame({"fill_id": [99]}).to_parquet(half / "fills.parquet")
    return root


def _all(root, name):
    return pd.concat([pd.read_parquet(root / r / f"{name}.parquet").assign(run_id=r) for r in RUNS], ignore_index=True)


def test_views_have_every_run_and_nothing_else(root):
    counts = query("SELECT run_id, count(*) AS n FROM fills GROUP BY 1 ORDER BY 1", root)
    assert counts.to_dict("list") == {"run_id": sorted(RUNS), "n": [len(RUNS[r][1]) for r in sorted(RUNS)]}
    assert query("SELECT count(*) AS n FROM orders", root)["n"][0] == sum(len(v[2]) + 1 for v in RUNS.values())
    assert sorted(query("SELECT run_id FROM runs", root)["run_id"]) == sorted(RUNS)


def test_runs_view_flattens_tca_and_scenario(root):
    runs = query("SELECT * FROM runs ORDER BY run_id", root).set_index("run_id")
    for run_id in RUNS:
        tca = json.loads((root / run_id / "tca.json").read_text())
        row = runs.loc[run_id]
        assert row["shortfall_total_bps"] == pytest.approx(tca["shortfall"]["total_bps"], rel=1e-15)
        assert row["markouts_1s_all_bps"] == pytest.approx(tca["markouts"]["1s"]["all_bps"], rel=1e-15)
        assert row["scenario_schedule_kind"] == run_id.split("_")[0]
        assert json.loads(row["scenario_schedule_rates"]) == [0.1, 0.2]
        assert json.loads(row["notes"]) == tca["notes"]


def test_markout_by_style_matches_pandas(root):
    got = query(MARKOUT_BY_STYLE, root)
    f, o = _all(root, "fills"), _all(root, "orders")
    j = f.merge(o.loc[o["action"] == "new", ["run_id", "order_id", "type"]], on=["run_id", "order_id"])
    j["w"] = j["size"] * j["markout_1s_bps"].astype(float)
    exp = j.groupby(["type", "liquidity"]).agg(fills=("size", "size"), w=("w", "sum"), q=("size", "sum"))
    exp = exp.reset_index().sort_values(["type", "liquidity"])
    assert got["order_type"].tolist() == exp["type"].tolist()
    assert got["liquidity"].tolist() == exp["liquidity"].tolist()
    assert got["fills"].tolist() == exp["fills"].tolist()
    assert got["markout_1s_bps"].tolist() == pytest.approx((exp["w"] / exp["q"]).tolist(), rel=1e-12)


def test_cost_by_participation_matches_tca_json(root):
    got = query(COST_BY_PARTICIPATION, root)
    rows = []
    for r in RUNS:
        t = json.loads((root / r / "tca.json").read_text())
        rows.append((np.floor(t["window"]["participation"] * 20) / 20, t["shortfall"]["total_bps"]))
    exp = pd.DataFrame(rows, columns=["p", "bps"]).groupby("p")["bps"].agg(["size", "mean"]).reset_index()
    # market volume in [0, 100 s) is 100 × 1,000: participations 5 %, 12 %, 12.5 %
    assert got["participation"].tolist() == exp["p"].tolist() == [0.05, 0.10]
    assert got["runs"].tolist() == exp["size"].tolist() == [1, 2]
    assert got["shortfall_bps"].tolist() == pytest.approx(exp["mean"].tolist(), rel=1e-12)


def test_fill_rate_by_queue_position_by_hand(root):
    got = query(FILL_RATE_BY_QUEUE, root)
    # placements: unknown: 0 / 2,000; ahead 0: 6,000 / 6,000; ahead 300 and 450: (0 + 11,000) / (8,000 + 12,000);
    # ahead 1,200 (the re-price) and 2,500: (4,000 + 0) / (8,000 + 5,000). The rejected limit placed nothing.
    assert got.to_dict("list") == {"ahead": ["unknown", "0", "1-499", "500+"], "placements": [1, 1, 2, 2],
                                   "fill_rate": [0.0, 1.0, 11_000 / 20_000, 4_000 / 13_000]}
    o = _all(root, "orders")
    p = o[o.rested]
    bucket = pd.cut(p.queue_ahead, [-2, -1, 0, 499, np.inf], labels=["unknown", "0", "1-499", "500+"])
    exp = p.groupby(bucket, observed=True).agg(n=("filled", "size"), f=("filled", "sum"), q=("open_quantity", "sum"))
    assert got["ahead"].tolist() == exp.index.tolist() and got["placements"].tolist() == exp["n"].tolist()
    assert got["fill_rate"].tolist() == pytest.approx((exp["f"] / exp["q"]).tolist(), rel=1e-15)


def test_runs_written_by_other_versions_line_up(root, tmp_path):
    """A run whose fills lack the TCA columns still joins the view; its markouts are NULL."""
    import shutil
    shutil.copytree(root, tmp_path / "r", ignore=shutil.ignore_patterns(".*"))
    old = tmp_path / "r" / "old_run"
    old.mkdir()
    pd.DataFrame({"fill_id": [1], "order_id": [1], "size": [5]}).to_parquet(old / "fills.parquet")
    got = query("SELECT run_id, count(*) AS n, count(markout_1s_bps) AS marked FROM fills "
                "WHERE run_id = 'old_run' GROUP BY 1", tmp_path / "r")
    assert got.to_dict("list") == {"run_id": ["old_run"], "n": [1], "marked": [0]}
    assert "old_run" in set(runs_frame(tmp_path / "r")["run_id"])


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": None}}, "e": [1, 2]}) == {"a_b": 1, "a_c_d": None, "e": "[1, 2]"}


def test_errors_are_clear(root, tmp_path):
    with pytest.raises(QueryError, match="does not exist"):
        query("SELECT 1", tmp_path / "nowhere")
    with pytest.raises(QueryError, match=r"(?s)query failed.*views over .*: fills, orders, runs"):
        query("SELECT * FROM nope", root)
    bad = tmp_path / "bad"
    (bad / "r1").mkdir(parents=True)
    (bad / "r1" / "tca.json").write_text("{not json")
    with pytest.raises(QueryError, match=r"tca.json, line 1: not valid JSON"):
        query("SELECT * FROM runs", bad)
    for empty in ("", "  \n"):
        with pytest.raises(QueryError, match="empty query: give SQL"):
            query(empty, root)


def test_cli_empty_query_is_an_error_not_a_traceback(root, capsys):
    assert main(["query", "", "--root", str(root)]) == 2
    assert "tickreplay query: error: empty query" in capsys.readouterr().err


def test_cli_query_prints_a_table(root, capsys):
    assert main(["query", "SELECT run_id, shortfall_filled FROM runs ORDER BY run_id", "--root", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["run_id", "shortfall_filled"]
    assert [ln.split() for ln in lines[1:]] == [["pov10_passive", "12000"], ["pov10_sell", "12500"],
                                                ["twap_market", "5000"]]
    assert main(["query", "SELECT run_id FROM runs WHERE false", "--root", str(root)]) == 0
    assert capsys.readouterr().out.strip() == "(no rows; columns: run_id)"
    assert main(["query", "SELECT count(*) AS n FROM fills", "--root", str(root), "--csv"]) == 0
    assert capsys.readouterr().out == "n\n7\n"
    assert main(["query", "SELECT * FROM nope", "--root", str(root)]) == 2
    assert "query failed" in capsys.readouterr().err


# -- batch names order the batches as they were written ---------------------------------------------------------


def _record(run_id: str, tca: dict) -> RunRecord:
    import pyarrow as pa

    return RunRecord(run_id, 'name = "x"\n', json.dumps({"run_id": run_id}), json.dumps(tca),
                     {"orders": pa.table({"n": [1]})}, json.dumps({"run_id": run_id}))


def test_a_later_batch_wins_across_a_second_boundary_and_a_clock_step_back(tmp_path, monkeypatch):
    """Batch B written after batch A sorts after it, B's copy of a run stored in both is the one read: also when
    the second ticks over as B's name is made (one clock reading, not two) and when the clock steps back."""
    import time

    base = 1_700_000_000
    clock = {"ns": base * NS + 400_000_000, "s": base}
    real_gmtime = time.gmtime
    monkeypatch.setattr(time, "time_ns", lambda: clock["ns"])
    monkeypatch.setattr(time, "gmtime", lambda secs=None: real_gmtime(clock["s"] if secs is None else secs))
    a = write_batch(tmp_path, [_record("r1", {"copy": "a"})])
    clock.update(ns=(base + 1) * NS + 1_000, s=base)  # a reading of the seconds just before the tick
    b = write_batch(tmp_path, [_record("r1", {"copy": "b"})])
    clock.update(ns=base * NS, s=base)  # the clock set back a second
    c = write_batch(tmp_path, [_record("r1", {"copy": "c"})])
    assert batch_dirs(tmp_path) == [a, b, c]
    assert read_stored(tmp_path, ["r1"]) == {"r1": {"copy": "c"}}
    assert store_index(tmp_path).batches["r1"] == c
