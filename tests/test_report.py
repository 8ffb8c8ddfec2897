"""Reports: figures and pages written from stored run folders alone."""

from __future__ import annotations

import shutil

import pytest

from tickreplay import cli, experiment
from tickreplay.experiment.scenario import parse_scenario, with_overrides

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
    for name in ("cost_by_schedule.png", "frontier.png"):
        assert _is_png(root / "_cmp" / name, 5_000) and f"({name})" in text
    assert text.count("| twap/") == 3 and "twap/limit_touch" in text
    for o in outs[:3]:
        assert _is_png(o.path / "report" / "price.png")
