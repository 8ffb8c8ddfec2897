"""Generated days with planted metaorders and planted impact (tickreplay.adapters.metaorders)."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from tickreplay import cli
from tickreplay.adapters.metaorders import (DAILY_VOLUME, HiddenTrader, PlantedImpact, _simulated_volume,
                                            kernel_exponentials)
from tickreplay.adapters.synthetic import REGIMES, DayGenerator, generate_day, synthetic_market
from tickreplay.book.fast import compute_snapshots
from tickreplay.catalog import Catalog
from tickreplay.errors import ConfigError
from tickreplay.tape import EventKind
from tickreplay.tca.market import MarketSeries

# fingerprints of plain 300 s days (seed 3) taken before planted impact existed: they must never change
PINNED = {
    "high_volatility": "blake2b-128:bf5d11f5822dc6df4d1a08b24bf0117f",
    "liquid_large_cap": "blake2b-128:488a2aabe644e228c554375d14259215",
    "news_spike": "blake2b-128:0d1f763759ba00ee26e0ff9a9e7ef9f9",
    "thin_small_cap": "blake2b-128:27ed8f7bdc992315ac25a2800d102c4d",
}
SHORT = dict(duration_s=600, planted=PlantedImpact(1.0, 0.5, 0.5, 0.3),
             metaorders=HiddenTrader(6, (1e-4, 2e-3), participation=0.2))


@pytest.mark.parametrize("regime", sorted(PINNED))
def test_plain_days_are_byte_identical_to_before(regime):
    assert generate_day(regime, seed=3, duration_s=300).fingerprint() == PINNED[regime]
    assert generate_day(regime, seed=3, duration_s=300, planted=None, metaorders=0).fingerprint() == PINNED[regime]
    assert generate_day("liquid_large_cap", 1, duration_s=300, activity=2.5).fingerprint() == \
        "blake2b-128:f7cdd37a270b66d94102a9ca3a80d71c"


def test_planted_day_has_its_own_key_and_market():
    day = DayGenerator("liquid_large_cap", 2, **SHORT)
    plain = DayGenerator("liquid_large_cap", 2, duration_s=600)
    assert day.instrument.symbol != plain.instrument.symbol
    assert day.instrument.symbol.startswith("liquid_large_cap-m6-p") and day.instrument.symbol.endswith("-s2-600s")
    assert synthetic_market(day.instrument.symbol) == day.instrument.symbol.rsplit("-s2", 1)[0]
    assert day.meta["planted"]["Y"] == 1.0 and day.meta["planted"]["metaorders"] == 6
    assert "planted" not in plain.meta


def test_fills_are_executions_on_the_tape_and_add_up():
    day = DayGenerator("liquid_large_cap", 2, **SHORT)
    tape = day.tape()
    fills = day.desk_fills().to_pandas()
    truth = day.metaorders().to_pandas()
    assert len(truth) == 6 and (truth.quantity == truth.target_quantity).all()
    assert (fills.groupby("parent_id")["size"].sum().reindex(truth.parent_id).values == truth.quantity.values).all()
    execs = tape.kind == EventKind.EXECUTE_VISIBLE
    tape_rows = {(int(t), int(p), int(s), int(-side)) for t, p, s, side in
                 zip(tape.ts_ns[execs], tape.price[execs], tape.size[execs], tape.side[execs])}
    for row in fills.itertuples():  # a buy fill is an execution of a resting ask at that time, price and size
        assert (row.ts_ns, round(row.price * 10_000), row.size, row.side) in tape_rows
    assert fills.tape.unique().tolist() == [day.key] and (fills.adv == DAILY_VOLUME["liquid_large_cap"]).all()
    first = fills.groupby("parent_id").ts_ns.min().reindex(truth.parent_id).values
    assert (first == truth.start_ns.values).all() and (fills.arrival_ns.isin(truth.start_ns)).all()


def test_a_seed_gives_identical_files(tmp_path):
    args = ["generate", "--seed", "5", "--duration-s", "600", "--metaorders", "4", "--planted-impact",
            "1,0.5,0.5,0.3", "--metaorder-qv", "0.0001,0.002", "--participation", "0.2"]
    for name in ("a", "b"):
        assert cli.main([*args, "--catalog", str(tmp_path / name)]) == 0
    key = DayGenerator("liquid_large_cap", 5, duration_s=600, planted=PlantedImpact(1, 0.5, 0.5, 0.3),
                       metaorders=HiddenTrader(4, (1e-4, 2e-3), 0.2)).key
    a, b = (Catalog(tmp_path / n).find(key) for n in ("a", "b"))
    assert a.read_tape().fingerprint() == b.read_tape().fingerprint()
    for f in ("desk_fills.parquet", "metaorders.parquet"):
        assert (a.folder / f).read_bytes() == (b.folder / f).read_bytes()
    assert len(pq.read_table(a.folder / "desk_fills.parquet")) > 0
    assert cli.main([*args, "--lobster-dir", str(tmp_path / "lob")]) == 0
    fills = pq.read_table(next((tmp_path / "lob").glob("*_desk_fills.parquet"))).to_pandas()
    assert fills.tape.iloc[0].startswith("lobster/")


def test_measured_impact_follows_the_planted_square_root_law():
    """m_arr / m_end from the book (the calibrate sqrt definition); weighted least squares of I on (Q/V)^δ
    (diffusion variance grows with the parent's length, ~Q). A loose check; the tight one is the calibrator's."""
    planted = PlantedImpact(3.0, 0.5, 0.0, 0.3)
    x, impact = [], []
    for seed in range(12, 24):  # whole sessions: parents must outlast the book's catch-up time (~1 min)
        day = DayGenerator("liquid_large_cap", seed, planted=planted, metaorders=HiddenTrader(20, participation=0.2))
        tape = day.tape()
        truth = day.metaorders().to_pandas()
        mids = MarketSeries.from_tape(tape, compute_snapshots(tape, 1))
        m_arr = mids.mid_x2_at(truth.start_ns.values - 1) / 2
        m_end = mids.mid_x2_at(truth.end_ns.values) / 2
        x.append(truth.quantity.values / truth.adv.values)
        impact.append(truth.side.values * (m_end - m_arr) / m_arr)
        sigma = truth.daily_vol.iloc[0]
    x, impact = np.concatenate(x), np.concatenate(impact)
    w = 1 / x

    def prefactor(d: float) -> float:
        return float((w * x**d) @ impact / ((w * x**d) @ x**d))

    deltas = np.linspace(0.05, 1.2, 231)
    delta = min(deltas, key=lambda d: float(w @ (impact - prefactor(d) * x**d) ** 2))
    assert abs(delta - 0.5) <= 0.1
    assert 0.5 < prefactor(delta) / sigma / planted.Y < 2.0


def test_kernel_exponentials_match_the_power_law():
    for beta, lag0 in ((0.3, 1.0), (0.5, 10.0), (1.2, 3.0)):
        decay, weight = kernel_exponentials(beta, lag0)
        ell = np.concatenate([np.arange(50), np.geomspace(50, 1e7, 200)])
        approx = (decay[None, :] ** ell[:, None]) @ weight
        np.testing.assert_allclose(approx, (1 + ell / lag0) ** -beta, rtol=1e-3)
    assert kernel_exponentials(0.0, 1.0)[0].tolist() == [1.0]


def test_tabulated_daily_volume_is_the_simulated_one():
    assert DAILY_VOLUME["thin_small_cap"] == _simulated_volume(REGIMES["thin_small_cap"], 1.0)


@pytest.mark.parametrize("kwargs, needle", [
    (dict(planted=None, metaorders=3), "needs planted"),
    (dict(planted=PlantedImpact(1, 0.5, 0, 0.3), metaorders=HiddenTrader(3)), "longer than the 600 s"),
    (dict(planted=PlantedImpact(1, 0.5, 0, 0.3), metaorders=-1), "metaorders = -1"),
])
def test_bad_planted_options_are_config_errors(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        DayGenerator("liquid_large_cap", 1, duration_s=600, **kwargs)


@pytest.mark.parametrize("make, needle", [
    (lambda: PlantedImpact(-1, 0.5, 0, 0.3), "PlantedImpact.Y"),
    (lambda: PlantedImpact(1, 0, 0, 0.3), "PlantedImpact.delta"),
    (lambda: PlantedImpact(1, 0.5, float("nan"), 0.3), "PlantedImpact.G0"),
    (lambda: PlantedImpact(1, 0.5, 0, 0.3, lag0=0), "PlantedImpact.lag0"),
    (lambda: HiddenTrader(3, (0.01, 0.001)), "qv_range"),
    (lambda: HiddenTrader(3, participation=1.5), "participation"),
])
def test_bad_planted_values_name_the_field(make, needle):
    with pytest.raises(ConfigError, match=needle):
        make()


@pytest.mark.parametrize("extra, needle", [
    (["--metaorders", "3"], "--metaorders 3 needs --planted-impact"),
    (["--planted-impact", "1,0.5"], "--planted-impact '1,0.5'"),
    (["--planted-impact", "1,2,0,0.3"], "--planted-impact: PlantedImpact.delta"),
    (["--planted-impact", "1,0.5,0,0.3", "--participation", "0"], "--participation"),
    (["--planted-impact", "1,0.5,0,0.3", "--metaorder-qv", "a,b"], "--metaorder-qv"),
])
def test_bad_generate_options_name_the_option(tmp_path, capsys, extra, needle):
    assert cli.main(["generate", "--seed", "1", "--duration-s", "600", "--catalog", str(tmp_path), *extra]) == 2
    assert needle in capsys.readouterr().err
