"""What `tickreplay run` / `compare` print from tca.json: every part by its name, unfilled shares, fees in words."""

from __future__ import annotations

import pandas as pd

from tickreplay.cli.run import format_table, tca_lines
from tickreplay.trader.pnl import fees_phrase
from tickreplay.tca import PARTS

SHORTFALL = {"filled": 3_766, "quantity": 5_000, "total_bps": 7.5, "total_currency": 1_234.5,
             **{f"{p}_bps": float(k) for k, p in enumerate(PARTS)}}
UNFILLED = {"market_rest_beyond_visible_depth": {"shares": 1_000, "orders": 3, "label": "beyond visible depth"},
            "open_at_end": {"shares": 200, "orders": 1, "label": "resting at end"},
            "never_sent": {"shares": 34, "orders": 0, "label": "never sent"}}
PNL = {"total_pnl": 10.0, "realised_pnl": 8.0, "unrealised_pnl": 2.0, "fills": 4, "volume": 400, "final_position": 0,
       "max_abs_position": 200}


def test_run_summary_names_every_part_and_every_unfilled_share():
    lines = tca_lines({"shortfall": SHORTFALL, "unfilled": UNFILLED})
    parts = lines[1].strip()
    assert parts == ", ".join(f"{p} {k:.2f}" for k, p in enumerate(PARTS)) + " bps (+ = cost)"
    assert "half_spread 0.00, book_walk 1.00, drift_arrival_to_fill 2.00" in parts
    assert lines[2].strip() == ("unfilled 1,234: 1,000 beyond visible depth (3 orders), 200 resting at end (1 order), "
                                "34 never sent")


def test_pnl_line_says_whether_fees_were_paid_or_earned():
    paid = tca_lines({"pnl": {**PNL, "fees": 12.3}})[0]
    rebate = tca_lines({"pnl": {**PNL, "fees": -4.1}})[0]
    assert "fees paid 12.30" in paid and "rebate" not in paid
    assert "rebates earned 4.10" in rebate and "-4.10" not in rebate and "fees paid" not in rebate
    assert fees_phrase(-0.0) == "fees paid 0.00"


def test_comparison_table_shows_every_part_in_order():
    row = {"name": "a", "kind": "twap", "style": "market", "filled_pct": 100.0, "total_bps": 1.0,
           **{f"{p}_bps": 0.5 for p in PARTS}, "spread_bps": 9.0}
    header = format_table(pd.DataFrame([row])).splitlines()[0].split()
    assert header == ["name", "kind", "style", "filled_pct", "total_bps", *(f"{p}_bps" for p in PARTS)]
