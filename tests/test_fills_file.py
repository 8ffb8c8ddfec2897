"""Desk fills files: every bad input names file, row and field; measured impact on a hand-made tape; the CLI."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from tickreplay.book.fast import compute_snapshots
from tickreplay.catalog import Catalog
from tickreplay.cli._calibrate_fills import BY, add_parsers
from tickreplay.errors import InputError
from tickreplay.impact import fit_sqrt
from tickreplay.impact.calibration import read_calibration
from tickreplay.impact.fills import read_fills
from tickreplay.impact.parents import measure_parents
from tickreplay.tape import K_LEVEL_SET, Instrument, Tape

S = 1_000_000_000
T0 = 1_704_207_600 * S  # 2024-01-02 10:00 ET
KEY = "hand/HAND/2024-01-02"
#: (seconds after T0, side, price in cents, size): LEVEL_SETs of a tiny L2 day
EVENTS = [(0, 1, 10000, 100), (1, -1, 10010, 100),          # mid 100.05
          (5, -1, 10020, 100), (5, -1, 10010, 0),            # mid 100.10 (both at t = 5)
          (10, 1, 10010, 50),                                # mid 100.15
          (20, -1, 10030, 100), (20, -1, 10020, 0),          # mid 100.20
          (100, 1, 10000, 0)]                                # mid 100.20 (bid 100.10 left)


def hand_catalog(root) -> Catalog:
    inst = Instrument("HAND", "TEST", "2024-01-02", price_scale=100, tick_size=1, timezone="America/New_York")
    t, side, price, size = (np.array(c) for c in zip(*EVENTS))
    tape = Tape.from_columns(inst, {"regime": "hand_regime"}, ts_ns=T0 + t * S, kind=np.full(len(t), K_LEVEL_SET),
                             side=side, price=price, size=size)
    cat = Catalog(root)
    cat.write("hand", tape, compute_snapshots(tape, 1))
    return cat


GOOD = pd.DataFrame({
    "parent_id": ["b1", "b1", "s1"], "ts_ns": [T0 + 5 * S, T0 + 10 * S, T0 + 20 * S], "side": ["buy", "buy", "sell"],
    "price": [100.20, 100.20, 100.10], "size": [30, 10, 25], "instrument": "HAND", "tape": KEY,
    "arrival_ns": ["", "", str(T0 + 12 * S)], "adv": "1000", "daily_vol": "0.02"})


def test_measured_impact_equals_hand_computed(tmp_path):
    cat = hand_catalog(tmp_path / "cat")
    path = tmp_path / "fills.csv"
    GOOD.to_csv(path, index=False)
    parents, data = measure_parents(read_fills(path), cat, path)
    b, s = parents.set_index("parent_id").loc["b1"], parents.set_index("parent_id").loc["s1"]
    # b1: arrival = its first fill at t = 5: the mid just before it is after t = 1's events (100.05); the last fill
    # at t = 10: the mid after every event at or before it (100.15)
    assert (b.m_arr, b.m_end) == (pytest.approx(100.05), pytest.approx(100.15))
    assert b.impact_bps == pytest.approx((100.15 - 100.05) / 100.05 * 1e4)
    assert b.quantity == 40 and b.avg_price == pytest.approx(100.20)
    assert b.shortfall_bps == pytest.approx((100.20 - 100.05) / 100.05 * 1e4)
    # s1: a sell arriving at t = 12 (mid 100.15), last fill at t = 20 (mid 100.20): it moved against the seller's
    # direction, so I < 0
    assert (s.m_arr, s.m_end) == (pytest.approx(100.15), pytest.approx(100.20))
    assert s.impact_bps == pytest.approx(-(100.20 - 100.15) / 100.15 * 1e4)
    assert s.regime == "hand_regime" and s.date == "2024-01-02"
    assert b.duration_days == pytest.approx(5 / 23_400)  # a day = 390 minutes (ACParams), not the 100 s tape
    assert data[0]["key"] == KEY and data[0]["fingerprint"].startswith("blake2b")
    # m_post, 10 min after the last fill, is past the tape's end: its last two-sided mid, flagged
    assert s.m_post == pytest.approx(100.20) and s.post_clamped


def _write(tmp_path, df: pd.DataFrame, fmt: str = "csv"):
    path = tmp_path / f"fills.{fmt}"
    if fmt == "csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize("edit, row, field, match", [
    (lambda d: d.drop(columns="tape"), None, "tape", "missing column"),
    (lambda d: d.assign(size=[30, 0, 25]), 3, "size", "must be positive"),
    (lambda d: d.assign(price=[100.2, -1.0, 100.1]), 3, "price", "must be positive"),
    (lambda d: d.assign(side=["buy", "hold", "sell"]), 3, "side", "buy / sell"),
    (lambda d: d.assign(ts_ns=[str(T0), "12.5", str(T0)]), 3, "ts_ns", "integer"),
    (lambda d: d.assign(side=["buy", "sell", "sell"]), 3, "side", "one metaorder"),
    (lambda d: d.assign(instrument=["HAND", "OTHER", "HAND"]), 3, "instrument", "one metaorder"),
    (lambda d: d.assign(tape=[KEY, "hand/HAND/2024-01-03", KEY]), 3, "tape", "one metaorder"),
    (lambda d: d.assign(tape=[KEY, KEY, "nodate"]), 4, "tape", "source/symbol/date"),
    (lambda d: d.assign(arrival_ns=["", "", str(T0 + 21 * S)]), 4, "arrival_ns", "after its first fill"),
    (lambda d: d.assign(adv=["1000", "2000", ""]), 3, "adv", "one metaorder"),
])
def test_fills_file_errors_name_file_row_field(tmp_path, edit, row, field, match):
    path = _write(tmp_path, edit(GOOD.copy()))
    with pytest.raises(InputError, match=match) as err:
        read_fills(path)
    assert (err.value.path, err.value.row, err.value.field) == (str(path), row, field)


@pytest.mark.parametrize("edit, row, field, match", [
    (lambda d: d.assign(tape=["hand/HAND/2024-01-09"] * 3), 2, "tape", "unknown tape key"),
    (lambda d: d.assign(ts_ns=[T0 + 5 * S, T0 + 101 * S, T0 + 20 * S]), 3, "ts_ns", "outside the time span"),
    (lambda d: d.assign(instrument=["AAPL"] * 3), 2, "instrument", "tape hand/HAND/2024-01-02 is of 'HAND'"),
    (lambda d: d.assign(arrival_ns=[str(T0)] * 3), 2, "arrival_ns", "no book before the arrival"),
    (lambda d: d.assign(ts_ns=[T0 + S // 2, T0 + 10 * S, T0 + 20 * S], arrival_ns=["", "", str(T0 + 12 * S)]),
     2, "arrival_ns", "no two-sided book"),
])
def test_fills_against_the_catalog_name_file_row_field(tmp_path, edit, row, field, match):
    cat = hand_catalog(tmp_path / "cat")
    path = _write(tmp_path, edit(GOOD.copy()))
    with pytest.raises(InputError, match=match) as err:
        measure_parents(read_fills(path), cat, path)
    assert (err.value.path, err.value.row, err.value.field) == (str(path), row, field)


def test_parquet_rows_count_from_one_and_sides_may_be_numbers(tmp_path):
    d = GOOD.assign(side=[1, 1, -1], arrival_ns=[T0 + 5 * S, T0 + 5 * S, T0 + 12 * S], size=[30.0, 10.0, -2.0])
    with pytest.raises(InputError) as err:
        read_fills(_write(tmp_path, d, "parquet"))
    assert (err.value.row, err.value.field) == (3, "size")
    f = read_fills(_write(tmp_path, d.assign(size=[30.0, 10.0, 25.0]), "parquet"))
    assert list(f["side"]) == [1, 1, -1] and list(f["row"]) == [1, 2, 3]


def test_too_few_parents_says_how_many_are_needed(tmp_path):
    cat = hand_catalog(tmp_path / "cat")
    path = _write(tmp_path, GOOD)
    parents, _ = measure_parents(read_fills(path), cat, path)
    with pytest.raises(InputError, match=f"2 parent.*at least {fit_sqrt.MIN_PARENTS}"):
        fit_sqrt.fit_sqrt(parents, where=str(path))


def _many_parents(n: int = 24) -> pd.DataFrame:
    """``n`` parents on the hand tape, each two fills, sizes growing (what the CLI needs to run a fit)."""
    rows = []
    for k in range(n):
        a = T0 + (2 + k % 3) * S
        rows += [(f"p{k}", a + S, 1, 100.2, 5 + k, a), (f"p{k}", a + (6 + k % 5) * S, 1, 100.2, 5 + k, a)]
    d = pd.DataFrame(rows, columns=["parent_id", "ts_ns", "side", "price", "size", "arrival_ns"])
    return d.assign(instrument="HAND", tape=KEY, adv=1000.0, daily_vol=0.02)


def test_cli_sqrt_writes_calibration_and_json(tmp_path, capsys):
    cat = hand_catalog(tmp_path / "cat")
    path = _write(tmp_path, _many_parents(), "parquet")
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    add_parsers(sub)
    out, fig = tmp_path / "cal.json", tmp_path / "fit.png"
    args = p.parse_args(["sqrt", "--fills", str(path), "--catalog", str(cat.root), "--out", str(out), "--json",
                         "--bootstrap", "50", "--figure", str(fig)])
    assert args.func(args) == 0
    s = json.loads(capsys.readouterr().out)
    for k in ("Y", "delta", "Y_ci", "delta_ci", "n_parents", "oos_r2", "oos_mae_bps", "default_oos_mae_bps",
              "default_oos_r2"):
        assert k in s
    assert s["n_parents"] == 24 and s["oos_split"] == "by parent"  # one day: held out by parent
    cal = read_calibration(out, kind="sqrt")
    assert cal.params == {"Y": s["Y"], "delta": s["delta"]} and cal.data[0]["key"] == KEY
    assert cal.fit["source"]["fills"] == str(path) and fig.stat().st_size > 0
    args = p.parse_args(["almgren-chriss", "--fills", str(path), "--catalog", str(cat.root), "--json",
                         "--bootstrap", "50", "--post-minutes", "0.1"])
    assert args.func(args) == 0
    s = json.loads(capsys.readouterr().out)
    assert {"eta", "gamma", "eta_ci", "gamma_ci", "oos_mae_bps", "default_oos_mae_bps"} <= set(s)


def test_cli_choices_are_the_fit_modules():
    assert BY == fit_sqrt.BY


def test_results_store_runs_are_parents_with_the_tca_arrival_mid(tmp_path):
    cat = hand_catalog(tmp_path / "cat")
    root = tmp_path / "results"
    inst = {"symbol": "HAND", "price_scale": 100, "size_scale": 1}
    for run_id, side, mid in (("run_a", 1, 100.04), ("run_b", -1, 100.15), ("run_empty", 1, 100.0)):
        d = root / run_id
        d.mkdir(parents=True)
        (d / "run.json").write_text(json.dumps({"run_id": run_id, "data": KEY, "instrument": inst}))
        (d / "tca.json").write_text(json.dumps({"parent": {"side": side, "start_ns": T0 + 12 * S},
                                                "shortfall": {"arrival_mid": mid},
                                                "pretrade": {"adv": 1000.0, "daily_vol": 0.02}}))
        n = 0 if run_id == "run_empty" else 2
        pd.DataFrame({"exchange_ns": [T0 + 13 * S, T0 + 20 * S][:n], "price": [10020, 10030][:n],
                      "size": [10, 5][:n]}).to_parquet(d / "fills.parquet", index=False)
    from tickreplay.impact.fills import fills_from_results

    fills, counts = fills_from_results(root)
    assert counts == {"runs": 3, "runs_without_fills": 1}
    parents = measure_parents(fills, cat, root)[0].set_index("parent_id")
    a = parents.loc["run_a"]
    assert a.m_arr == pytest.approx(100.04)  # the TCA's arrival mid, not the tape's (100.15)
    assert a.m_end == pytest.approx(100.20) and a.quantity == 15 and a.adv == 1000.0
    assert a.avg_price == pytest.approx((100.20 * 10 + 100.30 * 5) / 15)
    assert parents.loc["run_b"].impact_bps == pytest.approx(-(100.20 - 100.15) / 100.15 * 1e4)


def test_an_impact_adjusted_run_is_refused_naming_the_run(tmp_path):
    """Its impact is in the shifted mids, which the store does not keep: measuring it on the catalog tape would
    give the plain run's impact (zero of ours), so the calibration must not silently use it."""
    from tickreplay.impact.fills import fills_from_results

    d = tmp_path / "results" / "run_imp"
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({"run_id": "run_imp", "data": KEY,
                                            "instrument": {"symbol": "HAND", "price_scale": 100}}))
    (d / "tca.json").write_text(json.dumps({"parent": {"side": 1, "start_ns": T0},
                                            "shortfall": {"arrival_mid": 100.0, "market_impact_bps": 3.0}}))
    pd.DataFrame({"exchange_ns": [T0 + S], "price": [10020], "size": [10]}).to_parquet(d / "fills.parquet")
    with pytest.raises(InputError) as err:
        fills_from_results(tmp_path / "results")
    assert "run_imp" in str(err.value) and err.value.field == "tca.json shortfall.market_impact_bps"


def test_several_fills_files_are_one_sample_and_a_parent_in_two_files_is_an_error(tmp_path):
    cat = hand_catalog(tmp_path / "cat")
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    GOOD[GOOD.parent_id == "b1"].to_csv(a, index=False)
    GOOD[GOOD.parent_id == "s1"].to_csv(b, index=False)
    p = argparse.ArgumentParser()
    add_parsers(p.add_subparsers())
    from tickreplay.cli._calibrate_fills import _parents

    args = p.parse_args(["sqrt", "--fills", str(a), str(b), "--catalog", str(cat.root)])
    parents, _, source, _ = _parents(args)
    assert sorted(parents.parent_id) == ["b1", "s1"] and [f["file"] for f in source["fills"]] == [str(a), str(b)]
    args = p.parse_args(["sqrt", "--fills", str(a), str(a), "--catalog", str(cat.root)])
    with pytest.raises(InputError, match="parent 'b1' is also in"):
        _parents(args)


def test_with_several_fills_files_an_error_names_the_file_its_row_is_in(tmp_path):
    """A fill outside its tape in the second file: the error names the second file and that file's row."""
    cat = hand_catalog(tmp_path / "cat")
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    GOOD[GOOD.parent_id == "b1"].to_csv(a, index=False)
    late = GOOD[GOOD.parent_id == "s1"].copy()
    late["ts_ns"] = T0 + 10_000 * S  # after the tape's end
    late.to_csv(b, index=False)
    p = argparse.ArgumentParser()
    add_parsers(p.add_subparsers())
    from tickreplay.cli._calibrate_fills import _parents

    with pytest.raises(InputError) as err:
        _parents(p.parse_args(["sqrt", "--fills", str(a), str(b), "--catalog", str(cat.root)]))
    assert err.value.path == str(b) and err.value.row == 2 and err.value.field == "ts_ns"
