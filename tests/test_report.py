"""Reports: figures and pages written from stored run folders alone."""

from __future__ import annotations

import itertools
import json
import re
import shutil

import pytest
from matplotlib.collections import PathCollection

from tickreplay import cli, experiment, report
from tickreplay.experiment.scenario import parse_scenario, with_overrides
from tickreplay.tca.shortfall import PARTS

DOC = {
    "name": "rep",
    "seed": 2,
    "data": {"synthetic": {"regime": "liquid_large_cap", "seed": 3, "duration_s": 900}},
    "parent": {"side": "sell", "quantity": 2000, "start": "09:32:00", "end": "09:40:00"},
    "schedule": {"kind": "twap", "n_children": 4, "style": "market"},
    "latency": {"order_entry": 1},
    "pretrade": {"model": "canonical"},
}
PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path, min_bytes=8_000) -> bool:
    data = path.read_bytes()
    return data[:8] == PNG and len(data) >= min_bytes


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    docs = [DOC, with_overrides(DOC, {"schedule.style": "limit_touch", "schedule.max_replaces": 1,
                                      "schedule.finish_with_market": True, "schedule.cancel_replace_after_s": 20}),
            with_overrides(DOC, {"seed": 3})]
    outs = [experiment.run_scenario(parse_scenario(d, base_dir="."), root) for d in docs]
    mm = with_overrides({k: v for k, v in DOC.items() if k not in ("parent", "pretrade")}, {"schedule": {
        "kind": "strategy", "strategy": "tickreplay.trader.market_maker:QuoteBothSides",
        "params": {"quote_size": 100, "max_position": 300, "requote_s": 5.0, "duration_s": 300.0}}})
    outs.append(experiment.run_scenario(parse_scenario(mm, base_dir="."), root))
    return root, outs


def test_run_report_from_a_moved_folder(runs, tmp_path):
    _, outs = runs
    moved = tmp_path / outs[1].run_id
    shutil.copytree(outs[1].path, moved)  # only the stored files: no tape, no scenario data
    from tickreplay.report import run_report

    page = run_report(moved)
    for name in ("price.png", "executed.png", "costs.png", "markouts.png"):
        assert _is_png(moved / "report" / name), name
        assert f"({name})" in page.read_text()
    text = page.read_text()
    assert "total shortfall" in text and f"{outs[1].tca['shortfall']['total_bps']:.2f} bps" in text
    assert not list((moved / "report").glob(".*"))  # no temporary files left


def test_user_strategy_report_shows_position_and_pnl(runs):
    _, outs = runs
    from tickreplay.report import run_report

    page = run_report(outs[3].path)
    names = {p.name for p in page.parent.iterdir()}
    assert names == {"price.png", "executed.png", "costs.png", "report.md"}
    assert all(_is_png(page.parent / n) for n in names if n.endswith(".png"))
    assert "total pnl" in page.read_text()


def test_compare_report_and_cli(runs, capsys):
    root, outs = runs
    dirs = [str(o.path) for o in outs[:3]]
    assert cli.main(["report", *dirs, "--out", str(root / "_cmp")]) == 0
    printed = capsys.readouterr().out
    assert "comparison:" in printed
    page = root / "_cmp" / "report.md"
    text = page.read_text()
    assert _is_png(root / "_cmp" / "cost_by_schedule.png", 5_000) and "(cost_by_schedule.png)" in text
    assert text.count("| twap/") == 3 and "twap/limit_touch" in text
    for o in outs[:3]:
        assert _is_png(o.path / "report" / "price.png")


# -- local clock time on time axes ------------------------------------------------------------------

NY_10AM_NS = 1_704_207_600_000_000_000  # 2024-01-02 15:00:00 UTC = 10:00 EST
UTC_10AM_NS = 1_704_189_600_000_000_000  # 2024-01-02 10:00:00 UTC
MIN_NS = 60 * 1_000_000_000


@pytest.mark.parametrize("tz, t0", [("America/New_York", NY_10AM_NS), ("UTC", UTC_10AM_NS)])
def test_local_time_formatter_reads_the_instruments_clock(tz, t0):
    fmt = report.LocalTimeFormatter(tz)
    assert fmt.format_ticks([t0, t0 + 30 * MIN_NS]) == ["10:00", "10:30"]
    assert fmt.format_ticks([t0, t0 + 30 * 1_000_000_000]) == ["10:00:00", "10:00:30"]
    assert fmt(float(t0)) == "10:00"


def test_local_time_ticks_fall_on_round_local_times():
    # India is UTC+5:30: whole UTC hours are half past the hour there
    t0 = 1_704_169_800_000_000_000  # 2024-01-02 04:30 UTC = 10:00 IST
    ticks = report.LocalTimeLocator("Asia/Kolkata").tick_values(t0 + 7 * MIN_NS, t0 + 6 * 60 * MIN_NS)
    assert report.LocalTimeFormatter("Asia/Kolkata").format_ticks(ticks) == ["11:00", "12:00", "13:00", "14:00",
                                                                             "15:00", "16:00"]
    short = report.LocalTimeLocator("America/New_York").tick_values(NY_10AM_NS + 1.5e9, NY_10AM_NS + 20e9)
    assert report.LocalTimeFormatter("America/New_York").format_ticks(short) == [
        "10:00:05", "10:00:10", "10:00:15", "10:00:20"]


def test_run_figures_label_time_in_the_instruments_zone(runs, monkeypatch):
    _, outs = runs
    seen: dict[str, tuple[str, list[str]]] = {}
    save = report._save

    def capture(fig, path):
        fig.canvas.draw()
        ax = fig.axes[0]
        seen[path.name] = (ax.get_xlabel(), [t.get_text() for t in ax.get_xticklabels()])
        return save(fig, path)

    monkeypatch.setattr(report, "_save", capture)
    report.run_report(outs[0].path)
    report.run_report(outs[3].path)  # a user strategy: position and PnL over time
    for name in ("price.png", "executed.png"):
        label, ticks = seen[name]
        assert label == "time (America/New_York)", name
        assert ticks and all(re.fullmatch(r"\d\d:\d\d(:\d\d)?", t) for t in ticks), (name, ticks)
    assert "09:35" in seen["price.png"][1]


# -- groups of a comparison -------------------------------------------------------------------------

BASE_TOML = """name = "g"
seed = 2

[data]
synthetic = {regime = "liquid_large_cap", seed = 3, duration_s = 900}

[parent]
side = "sell"
quantity = 2000
start = "09:32:00"
end = "09:40:00"

[schedule]
kind = "twap"
n_children = 4
style = "market"

[latency]
order_entry = 1
"""


def _grid_runs(tmp_path, sweep: dict[str, list]) -> list[report.StoredRun]:
    """Run a grid and store each run's ``sweep`` in its ``run.json`` as the grid runner does."""
    (tmp_path / "base.toml").write_text(BASE_TOML)
    lines = ['base = "base.toml"', "", "[sweep]"] + [f'"{k}" = {json.dumps(v)}' for k, v in sweep.items()]
    (tmp_path / "grid.toml").write_text("\n".join(lines) + "\n")
    out = []
    for scn, combo in zip(experiment.load_grid(tmp_path / "grid.toml"), itertools.product(*sweep.values())):
        run = experiment.run_scenario(scn, tmp_path / "results")
        meta = json.loads((run.path / "run.json").read_text())
        meta["sweep"] = dict(zip(sweep, combo))
        (run.path / "run.json").write_text(json.dumps(meta))
        out.append(report.StoredRun(run.path))
    return out


def test_a_box_per_grid_combination(tmp_path):
    runs = _grid_runs(tmp_path, {"schedule.n_children": [2, 3, 4], "schedule.style": ["market", "limit_touch"]})
    groups = report.group_runs(runs)
    assert [name for name, _ in groups] == [f"n_children={n}, style={s}" for n in (2, 3, 4)
                                            for s in ("market", "limit_touch")]
    assert all(len(rs) == 1 for _, rs in groups)
    page = report.compare_report([r.path for r in runs], tmp_path / "_cmp")
    assert "| n_children=3, style=limit_touch | twap/limit_touch |" in page.read_text()


def test_seeds_share_a_box(tmp_path):
    runs = _grid_runs(tmp_path, {"schedule.n_children": [2, 3, 4], "seed": [1, 2]})
    groups = report.group_runs(runs)
    assert [(name, [r.sweep for r in rs]) for name, rs in groups] == [
        (f"n_children={n}", [{"schedule.n_children": n}] * 2) for n in (2, 3, 4)]
    assert [sorted(r.scenario["seed"] for r in rs) for _, rs in groups] == [[1, 2]] * 3


def test_plain_runs_group_by_scenario_never_merging_different_ones(runs):
    _, outs = runs  # three runs named "rep": market seed 2, limit_touch seed 2, market seed 3
    groups = report.group_runs([report.StoredRun(o.path) for o in outs[:3]])
    assert [[r.run_id for r in rs] for _, rs in groups] == [[outs[0].run_id, outs[2].run_id], [outs[1].run_id]]
    names = [name for name, _ in groups]
    assert len(set(names)) == 2 and all(n.startswith("rep (") for n in names)
    assert "style=market" in names[0] and "style=limit_touch" in names[1]


# -- frontier: realised cost vs the model's risk of each run's schedule -----------------------------

def _copies(outs, tmp_path, risks: list[float | None]) -> list:
    dirs = []
    for o, risk in zip(outs, risks):
        d = tmp_path / o.run_id
        shutil.copytree(o.path, d)
        tca = json.loads((d / "tca.json").read_text())
        assert tca["risk"]["risk_bps"] > 0  # the runner stores the model's risk of the run's schedule
        if risk is None:
            del tca["risk"]  # as a run written before risks were stored
        else:
            tca["risk"] = {"risk_bps": risk}
        (d / "tca.json").write_text(json.dumps(tca))
        dirs.append(d)
    return dirs


def test_frontier_plots_stored_risk_against_realised_cost(runs, tmp_path, monkeypatch):
    _, outs = runs
    dirs = _copies(outs[:3], tmp_path, [11.0, 7.0, 13.0])
    points: list[tuple[float, float]] = []
    save = report._save

    def capture(fig, path):
        if path.name == "frontier.png":
            points.extend(tuple(xy) for c in fig.axes[0].collections if isinstance(c, PathCollection)
                          for xy in c.get_offsets())
        return save(fig, path)

    monkeypatch.setattr(report, "_save", capture)
    page = report.compare_report(dirs, tmp_path / "_cmp")
    assert "(frontier.png)" in page.read_text() and _is_png(tmp_path / "_cmp" / "frontier.png", 5_000)
    realised = {(risk, o.tca["shortfall"]["total_bps"]) for o, risk in zip(outs[:3], (11.0, 7.0, 13.0))}
    expected = {(risk, o.tca["pretrade"]["predicted_bps"]) for o, risk in zip(outs[:3], (11.0, 7.0, 13.0))}
    assert set(points) == realised | expected


def test_frontier_left_out_when_a_run_has_no_risk(runs, tmp_path):
    _, outs = runs
    dirs = _copies(outs[:3], tmp_path, [11.0, None, 13.0])
    (tmp_path / "_cmp").mkdir()
    (tmp_path / "_cmp" / "frontier.png").write_bytes(PNG)  # an earlier report's figure
    text = report.compare_report(dirs, tmp_path / "_cmp").read_text()
    assert "frontier.png" not in text and not (tmp_path / "_cmp" / "frontier.png").exists()
    assert "No frontier: 1 of 3 runs stored no pre-trade model risk" in text and outs[1].run_id in text


# -- shortfall parts: the one list in tca.shortfall -------------------------------------------------

def test_parts_follow_the_tca_list_and_older_runs_skip_theirs(runs, tmp_path):
    _, outs = runs
    text = report.run_report(outs[0].path).read_text()
    sf = outs[0].tca["shortfall"]
    for p in PARTS:
        assert f"| {p.replace('_', ' ')} | {sf[f'{p}_bps']:.2f} bps |" in text
    old = _copies(outs[:1], tmp_path, [None])[0]
    tca = json.loads((old / "tca.json").read_text())
    del tca["shortfall"][f"{PARTS[0]}_bps"]  # a run written before that part existed
    (old / "tca.json").write_text(json.dumps(tca))
    text = report.run_report(old).read_text()
    assert f"| {PARTS[0].replace('_', ' ')} |" not in text
    assert f"not stored by this run (an older version): {PARTS[0].replace('_', ' ')};" in text
    assert _is_png(old / "report" / "costs.png")
