"""A run's measure (TCA and stored tables) is what it was before it was made fast: golden hashes of a small grid on a
generated day (computed with the pandas implementation), the Arrow tables a run stores against pandas' conversion
of the reference DataFrames (schema metadata included), and the vectorised unfilled attribution and passive fill
rates against the per-order loops they replaced."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings, strategies as st

from tickreplay.engine import RunResult
from tickreplay.experiment.data import load_data
from tickreplay.experiment.run import FillsWithTca, _arrow, compute_run, execute, measure
from tickreplay.experiment.sweep import read_grid
from tickreplay.orders import DoneReason, Reject
from tickreplay.schedule import ParentOrder
from tickreplay.tca import fill_table, passive_summary, unfilled_by_reason
from tickreplay.tca.unfilled import BY_STRATEGY, NEVER_SENT, OPEN_AT_END, REDUCED, label

SCENARIO = """\
name = "mi"
seed = 5

[data]
synthetic = { regime = "liquid_large_cap", seed = 3, duration_s = 900 }

[parent]
side = "buy"
quantity = 3000
start = "09:32:00"
end = "09:42:00"

[schedule]
kind = "twap"
n_children = 8
style = "market"
offset_ticks = 2
cancel_replace_after_s = 20
max_replaces = 2

[latency]
order_entry = { model = "normal", mean_ms = 2, jitter_ms = 0.5 }

[pretrade]
model = "canonical"
"""

GRID = ('base = "mi.toml"\n[sweep]\n"schedule.style" = ["market", "limit_touch", "limit_offset"]\n'
        '"parent.quantity" = [3000, 400000]\nseed = [1, 2]\n')

#: run → sha256[:16] of (tca.json, fills table as CSV, orders table as CSV), computed before the fast measure
GOLDEN = {
    'style=market,quantity=3000,seed=1': ('7e0350f239c37bf9', 'eba552c2c0a81a2d', '63cf753e6a2c5f7b'),  # 11 fills, 8 orders
    'style=market,quantity=3000,seed=2': ('7e0350f239c37bf9', 'a12abc4085dca220', 'b402282cc8cc341b'),  # 11 fills, 8 orders
    'style=market,quantity=400000,seed=1': ('ebfe000912b4f740', '2ac0d08b4a880852', '0c00213b6b90e00c'),  # 40 fills, 8 orders
    'style=market,quantity=400000,seed=2': ('ebfe000912b4f740', '847514a1f185e68f', '60e99e5fe6c4ebb3'),  # 40 fills, 8 orders
    'style=limit_touch,quantity=3000,seed=1': ('66658fc668ee9818', '87f85e82eac967cc', 'f6162a8104bca07d'),  # 35 fills, 10 orders
    'style=limit_touch,quantity=3000,seed=2': ('151ecf228c957b2f', '153368e808aee1ec', '3b03f33db3633bd3'),  # 35 fills, 10 orders
    'style=limit_touch,quantity=400000,seed=1': ('994f15aed01b3f5c', 'ecf29d06653002e6', '0295746c8e2fb52a'),  # 1128 fills, 28 orders
    'style=limit_touch,quantity=400000,seed=2': ('350c8fbc04a0e65f', '0fc2ee122167b56d', 'e5b6281ce5e0aa80'),  # 1128 fills, 28 orders
    'style=limit_offset,quantity=3000,seed=1': ('29c3a1b071a62c98', '0b0a27f0a62820ea', '22e57784aca4ae20'),  # 28 fills, 17 orders
    'style=limit_offset,quantity=3000,seed=2': ('42d88f1e7552eda3', 'ab224ea636239b2b', '9293f67faa19ff26'),  # 28 fills, 17 orders
    'style=limit_offset,quantity=400000,seed=1': ('12c4cfab15275c7c', '4fe950507a290273', 'f56a7a24d0b49fc9'),  # 218 fills, 28 orders
    'style=limit_offset,quantity=400000,seed=2': ('aa35a9b4cacfb566', 'ad777585f4895dfd', '03bcddb563c6c0f6'),  # 218 fills, 28 orders
}


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("measure_identity")
    (tmp / "mi.toml").write_text(SCENARIO)
    (tmp / "grid.toml").write_text(GRID)
    g = read_grid(tmp / "grid.toml")
    return g.scenarios, load_data(g.scenarios[0])


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_grid_matches_golden_hashes(grid):
    scenarios, data = grid
    got = {}
    for s in scenarios:
        r = compute_run(s, data, "x")
        got[s.name.split("[")[1][:-1]] = (_sha(r.tca_json), *(_sha(r.tables[n].to_pandas().to_csv(index=False))
                                                              for n in ("fills", "orders")))
    assert got == GOLDEN


def test_stored_tables_are_pandas_conversions_of_the_reference_frames(grid):
    """Every table a run stores equals ``pa.Table.from_pandas`` of the DataFrame the public API gives, schema and
    pandas metadata included, on the first table of its kind (the schema is learnt) and on later ones."""
    scenarios, data = grid
    for s in scenarios:
        plan, result, _ = execute(s, data)
        _, tables = measure(s, plan, result, data)
        assert isinstance(tables["fills"], FillsWithTca)
        reference = {"fills": fill_table(result.fills, plan.parent, data.market), "orders": result.orders,
                     "schedule": plan.planned, "market": tables["market"]}
        for name, df in reference.items():
            want = pa.Table.from_pandas(df, preserve_index=False)
            got = _arrow(tables[name])
            assert got.equals(want), (s.name, name)
            assert got.schema.equals(want.schema, check_metadata=True), (s.name, name)


def test_an_empty_fills_table_converts_as_pandas_does(grid):
    scenarios, data = grid
    plan, result, _ = execute(scenarios[0], data)
    fills = result.fills.iloc[:0]
    want = pa.Table.from_pandas(fill_table(fills, plan.parent, data.market), preserve_index=False)
    for _ in range(2):  # learnt, then from the learnt schema
        tca, _tables = measure(scenarios[0], plan, RunResult(result.orders.iloc[:0], fills), data)
        got = _arrow(_tables["fills"])
        assert got.equals(want) and got.schema.equals(want.schema, check_metadata=True)
    assert tca["counts"] == {"fills": 0, "orders": 0}


# -- the per-order loops the vectorised measures replaced (the oracles) --------------------------------------------

def unfilled_loop(orders: pd.DataFrame, parent: ParentOrder, filled: int) -> dict:
    """The unfilled attribution as it was: per order tuples, sorted, each rest capped by what is unexplained."""
    is_new = (orders["action"].astype("string") == "new").to_numpy(dtype=bool)
    new = orders.loc[is_new]
    rest = new["unfilled"].to_numpy(dtype=np.int64)
    withdrawn = np.maximum(new["quantity"].to_numpy(dtype=np.int64) - new["final_quantity"].to_numpy(dtype=np.int64), 0)
    took_effect = orders.loc[(orders["status"].astype("string") != "rejected").to_numpy(dtype=bool)]
    ended = took_effect.groupby("order_id")["arrival_ns"].max()
    ids = new["order_id"].to_numpy(dtype=np.int64)
    end_ns = np.maximum(ended.reindex(ids).fillna(-1).to_numpy(dtype=np.int64),
                        new["arrival_ns"].to_numpy(dtype=np.int64))
    reason = new["reason"].astype("string").fillna("").to_numpy(dtype=object)
    live = reason == ""
    reason = np.where(live, OPEN_AT_END, reason)
    rests = [(0 if live[k] else 2 if reason[k] in BY_STRATEGY else 1, -int(end_ns[k]), -int(ids[k]), int(rest[k]),
              str(reason[k])) for k in range(len(ids))]
    rests += [(2, -int(end_ns[k]), -int(ids[k]), int(withdrawn[k]), REDUCED) for k in range(len(ids))]
    left = parent.quantity - filled
    out: dict = {}
    for *_, shares, why in sorted(rests):
        take = min(shares, left)
        if take > 0:
            e = out.setdefault(why, {"shares": 0, "orders": 0, "label": label(why)})
            e["shares"] += take
            e["orders"] += 1
            left -= take
    if left > 0:
        out[NEVER_SENT] = {"shares": left, "orders": 0, "label": label(NEVER_SENT)}
    return dict(sorted(out.items(), key=lambda kv: (-kv[1]["shares"], kv[0])))


def passive_loop(orders: pd.DataFrame, fills: pd.DataFrame) -> dict:
    """Passive fill rates as they were: one Python step per fill."""
    lim = orders.loc[(orders["type"].astype("string") == "limit").to_numpy(dtype=bool)
                     & (orders["status"].astype("string") != "rejected").to_numpy(dtype=bool)]
    oid = lim["order_id"].to_numpy(dtype=np.int64)
    quantity = lim["quantity"].to_numpy(dtype=np.int64)
    arrival = lim["arrival_ns"].to_numpy(dtype=np.int64)
    pos = {int(o): k for k, o in enumerate(oid)}
    taker_q, maker_q, on_arrival = (np.zeros(len(oid), np.int64) for _ in range(3))
    first = np.full(len(oid), np.iinfo(np.int64).max)
    last = np.full(len(oid), np.iinfo(np.int64).min)
    for o, q, t, liq in zip(fills["order_id"], fills["size"], fills["exchange_ns"], fills["liquidity"]):
        k = pos.get(int(o))
        if k is None:
            continue
        if liq == "maker":
            maker_q[k] += q
            first[k] = min(first[k], t)
        else:
            taker_q[k] += q
            if t <= arrival[k]:
                on_arrival[k] += q
        last[k] = max(last[k], t)
    passive = quantity - on_arrival > 0
    full = passive & (maker_q + taker_q >= quantity) & (maker_q > 0)
    total = int((quantity - on_arrival)[passive].sum())
    got = passive & (maker_q > 0)
    out = {"orders": int(passive.sum()), "quantity": total, "filled": int(maker_q[passive].sum()),
           "fill_rate": float(maker_q[passive].sum() / total) if total else None, "orders_filled": int(full.sum())}
    for ns, name in (((first - arrival)[got], "time_to_first_fill"), ((last - arrival)[full], "time_to_fill")):
        out[f"{name}_mean_ms"] = float(ns.mean() / 1e6) if len(ns) else None
        out[f"{name}_median_ms"] = float(np.median(ns) / 1e6) if len(ns) else None
    return out


REASONS = ["", DoneReason.CANCEL_REQUEST, DoneReason.IOC_REST, DoneReason.MARKET_REST, Reject.HALTED, None]


@st.composite
def order_logs(draw) -> pd.DataFrame:
    """Order logs with repeated order ids, cancel/modify rows, rejects, ties in end times and every reason kind."""
    n = draw(st.integers(0, 12))
    rows = []
    for k in range(n):
        oid = draw(st.integers(1, 6))  # repeats: several "new" rows may share an id
        q = draw(st.integers(1, 50))
        rows.append({"order_id": oid, "action": draw(st.sampled_from(["new", "new", "cancel", "modify"])),
                     "type": draw(st.sampled_from(["limit", "market", "ioc"])),
                     "status": draw(st.sampled_from(["accepted", "rejected", "filled"])), "quantity": q,
                     "final_quantity": draw(st.integers(0, 60)), "unfilled": draw(st.integers(0, q)),
                     "reason": draw(st.sampled_from(REASONS)), "arrival_ns": draw(st.integers(0, 5)) * 10})
    cols = ["order_id", "action", "type", "status", "quantity", "final_quantity", "unfilled", "reason", "arrival_ns"]
    df = pd.DataFrame(rows, columns=cols)
    for c in ("action", "type", "status", "reason"):
        df[c] = df[c].astype("string")
    for c in ("order_id", "quantity", "final_quantity", "unfilled", "arrival_ns"):
        df[c] = df[c].astype(np.int64)
    return df


@settings(max_examples=300, deadline=None)
@given(order_logs(), st.integers(1, 400), st.integers(0, 400))
def test_unfilled_attribution_matches_the_loop(orders, quantity, filled):
    parent = ParentOrder(1, quantity, 0, 100)
    assert unfilled_by_reason(orders, parent, filled) == unfilled_loop(orders, parent, filled)


@settings(max_examples=300, deadline=None)
@given(order_logs(), st.lists(st.tuples(st.integers(0, 7), st.integers(1, 30), st.integers(0, 6),
                                        st.sampled_from(["maker", "taker"])), max_size=15))
def test_passive_summary_matches_the_loop(orders, fill_rows):
    new = orders.loc[(orders["action"] == "new").to_numpy(dtype=bool)]
    fills = pd.DataFrame(fill_rows, columns=["order_id", "size", "exchange_ns", "liquidity"])
    fills = fills.astype({"order_id": np.int64, "size": np.int64, "exchange_ns": np.int64, "liquidity": "string"})
    fills["exchange_ns"] *= 10
    assert passive_summary(new, fills) == passive_loop(new, fills)
