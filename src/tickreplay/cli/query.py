"""``tickreplay query``: SQL over every run's results (DuckDB views ``fills``, ``orders``, ``runs``)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("query", help="SQL over all runs under a results root (views fills, orders, runs)")
    p.add_argument("sql", help='e.g. "SELECT run_id, shortfall_total_bps FROM runs ORDER BY 2"')
    p.add_argument("--root", help="results root folder (default: results)")
    p.add_argument("--csv", action="store_true", help="print CSV instead of an aligned table")
    p.set_defaults(func=_query)


def _query(args: argparse.Namespace) -> int:
    import pandas as pd

    from tickreplay.results import DEFAULT_ROOT, query

    df = query(args.sql, args.root or DEFAULT_ROOT)
    if args.csv:
        print(df.to_csv(index=False), end="")
    elif df.empty:
        print(f"(no rows; columns: {', '.join(map(str, df.columns))})")
    else:
        with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", None):
            print(df.to_string(index=False))
    return 0
