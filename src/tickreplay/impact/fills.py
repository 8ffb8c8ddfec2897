"""Execution fills for impact calibration: a desk fills file, or the parents of the results store.

**Desk fills file** (Parquet or CSV, one row per execution; the contract between the desk, the planted-metaorder
generator and the calibration):

==============  ==========================================================================================
column          meaning
==============  ==========================================================================================
``parent_id``   string; one parent = one metaorder
``ts_ns``       int64, ns since the UTC epoch (the execution's exchange time)
``side``        +1 buy / -1 sell (CSV may write ``buy`` / ``sell``); the parent's side
``price``       float > 0, the quoted price (currency per share, per contract before the multiplier)
``size``        > 0, shares / contracts
``instrument``  symbol (the tape's ``Instrument.symbol``)
``tape``        catalog key of that day's tape, ``source/symbol/date``
==============  ==========================================================================================

Optional, constant within a parent: ``arrival_ns`` (the parent's decision time; default its first fill's
``ts_ns``), ``adv`` (average daily volume, shares) and ``daily_vol`` (daily volatility, a fraction, 0.02 = 2 %);
absent or empty, they are estimated from the parent's tape (:mod:`tickreplay.impact.parents`).

Every row of a parent must agree on ``side``, ``instrument``, ``tape`` and the optional columns, and
``arrival_ns`` must not be after the first fill. Each problem is an :class:`~tickreplay.errors.InputError`
naming the file, the row (1-based as a person counts lines: in a CSV the header is row 1, so the first
execution is row 2; in Parquet the first execution is row 1) and the field.

**Results store** (:func:`fills_from_results`): every stored run with fills is one parent (``parent_id`` = the
run id) of the run's side on the run's data key; ``arrival_ns`` is the parent's ``start_ns`` and its arrival mid
the TCA's ``shortfall.arrival_mid`` (column ``arrival_mid``); ``adv`` and ``daily_vol`` come from the TCA's
pre-trade inputs when the run had a pre-trade model.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from tickreplay.errors import InputError

REQUIRED = ("parent_id", "ts_ns", "side", "price", "size", "instrument", "tape")
OPTIONAL = ("arrival_ns", "adv", "daily_vol")
#: columns constant within a parent (checked row by row)
PER_PARENT = ("side", "instrument", "tape", "arrival_ns", "adv", "daily_vol")
_SIDES = {"buy": 1, "b": 1, "+1": 1, "1": 1, "sell": -1, "s": -1, "-1": -1}


def file_fingerprint(path: str | Path) -> str:
    """``"blake2b-128:<hex>"`` of the file's bytes (the provenance of a calibration)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return f"blake2b-128:{h.hexdigest()}"


def _read_raw(path: Path) -> tuple[pd.DataFrame, int]:
    """The file as a frame of raw columns and the file row of its first data row."""
    if not path.is_file():
        raise InputError(str(path), None, None, "no such fills file")
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pandas(), 1
        except Exception as err:  # pyarrow raises several kinds for a file that is not Parquet
            raise InputError(str(path), None, None, f"not a readable Parquet file ({err})") from None
    if path.suffix.lower() == ".csv":
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True), 2
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise InputError(str(path), None, None, f"not a readable CSV file ({err})") from None
    raise InputError(str(path), None, None, "a fills file must be .parquet or .csv")


def _blank(col: pd.Series) -> np.ndarray:
    """Missing cells: null, or empty text in a CSV."""
    s = col.astype(object)
    return (s.isna() | s.map(lambda v: isinstance(v, str) and not v.strip())).to_numpy()


def _bad(path: Path, first_row: int, mask: np.ndarray, fld: str, what: str, values: pd.Series | None = None):
    """Raise for the first row where ``mask`` holds."""
    if mask.any():
        i = int(np.argmax(mask))
        got = "" if values is None else f", got {values.iloc[i]!r}"
        raise InputError(str(path), first_row + i, fld, what + got)


def _ints(path: Path, first: int, col: pd.Series, fld: str) -> np.ndarray:
    """An int64 column; floats and text that are not whole numbers are errors (a float loses nanoseconds)."""
    if pd.api.types.is_integer_dtype(col.dtype):
        return col.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(col.dtype):
        _bad(path, first, np.zeros(len(col), bool) | True, fld,
             "expected an integer column (ns since the UTC epoch; floats lose nanoseconds)", col)
    text = col.astype(str).str.strip()
    ok = text.str.fullmatch(r"[+-]?\d{1,19}").to_numpy()
    _bad(path, first, ~ok, fld, "expected an integer (ns since the UTC epoch)", col)
    return text.astype(np.int64).to_numpy()


def _floats(path: Path, first: int, col: pd.Series, fld: str, what: str) -> np.ndarray:
    """A float column, every value finite and > 0."""
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        v = col.to_numpy(dtype=np.float64)
    else:
        v = pd.to_numeric(col.astype(str).str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    _bad(path, first, ~np.isfinite(v), fld, f"expected a number ({what})", col)
    _bad(path, first, v <= 0, fld, f"must be positive ({what})", col)
    return v


def _sides(path: Path, first: int, col: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
        v = col.to_numpy(dtype=np.float64)
        _bad(path, first, ~np.isin(v, (1.0, -1.0)), "side", "expected +1 (buy) or -1 (sell)", col)
        return v.astype(np.int8)
    v = col.astype(str).str.strip().str.lower().map(_SIDES)
    _bad(path, first, v.isna().to_numpy(), "side", "expected buy / sell or +1 / -1", col)
    return v.to_numpy(dtype=np.int8)


def _texts(path: Path, first: int, col: pd.Series, fld: str) -> np.ndarray:
    _bad(path, first, _blank(col), fld, "must not be empty", col)
    return col.astype(str).str.strip().to_numpy(dtype=object)


def check_fills(raw: pd.DataFrame, path: str | Path, first_row: int = 1) -> pd.DataFrame:
    """The validated, normalised fills of the module docstring, sorted by parent then time.

    Columns: ``row`` (the file row), the required columns (``side`` int8, ``price``/``size`` float64),
    ``arrival_ns`` (int64, defaulted to the parent's first fill), ``adv`` and ``daily_vol`` (NaN when not
    given) and ``arrival_mid`` when the input has it (the results store's arrival mids).
    """
    path = Path(path)
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise InputError(str(path), None, missing[0],
                         f"missing column(s) {', '.join(missing)}; a fills file has {', '.join(REQUIRED)} "
                         f"(optional: {', '.join(OPTIONAL)})")
    if not len(raw):
        raise InputError(str(path), None, None, "no fills")
    raw = raw.reset_index(drop=True)
    f = pd.DataFrame({"row": np.arange(first_row, first_row + len(raw), dtype=np.int64)})
    f["parent_id"] = _texts(path, first_row, raw["parent_id"], "parent_id")
    f["ts_ns"] = _ints(path, first_row, raw["ts_ns"], "ts_ns")
    f["side"] = _sides(path, first_row, raw["side"])
    f["price"] = _floats(path, first_row, raw["price"], "price", "currency per share")
    f["size"] = _floats(path, first_row, raw["size"], "size", "shares or contracts")
    f["instrument"] = _texts(path, first_row, raw["instrument"], "instrument")
    f["tape"] = _texts(path, first_row, raw["tape"], "tape")
    bad_key = ~pd.Series(f["tape"]).str.fullmatch(r"[^/.][^/]*/[^/.][^/]*/[^/.][^/]*").to_numpy()
    _bad(path, first_row, bad_key, "tape", "expected a catalog key source/symbol/date", f["tape"])
    given = {}
    for c, what in (("arrival_ns", None), ("adv", "shares per day"), ("daily_vol", "a fraction, 0.02 = 2 %")):
        blank = _blank(raw[c]) if c in raw.columns else np.ones(len(raw), bool)
        given[c] = ~blank
        vals = np.zeros(len(raw), np.int64) if c == "arrival_ns" else np.full(len(raw), np.nan)
        if (~blank).any():
            sub = raw[c][~blank].reset_index(drop=True)
            rows = f["row"].to_numpy()[~blank]
            try:
                vals[~blank] = (_ints(path, 0, sub, c) if what is None else _floats(path, 0, sub, c, what))
            except InputError as err:  # re-number: the sub-column lost the row positions
                raise InputError(str(path), int(rows[err.row]), c, err.message) from None
        f[c] = vals
    if "arrival_mid" in raw.columns:
        f["arrival_mid"] = raw["arrival_mid"].to_numpy(dtype=np.float64)
    f["_given_arrival"] = given["arrival_ns"]
    order = np.lexsort((f["row"].to_numpy(), f["ts_ns"].to_numpy(), pd.factorize(f["parent_id"])[0]))
    f = f.iloc[order].reset_index(drop=True)
    _check_parents(f, path)
    return f.drop(columns="_given_arrival")


def _check_parents(f: pd.DataFrame, path: Path) -> None:
    """Per-parent columns agree on every row; arrival defaults to the first fill and is not after it."""
    codes, _ = pd.factorize(f["parent_id"])
    start = np.r_[True, codes[1:] != codes[:-1]]  # rows are grouped by parent (sorted), first fill first
    first = np.maximum.accumulate(np.where(start, np.arange(len(f)), 0))
    g_arr = f["_given_arrival"].to_numpy()
    for c in PER_PARENT:
        v = f[c].to_numpy()
        if c == "arrival_ns":
            # a parent gives arrival_ns on all its rows or on none
            differ = g_arr != g_arr[first]
            if differ.any():
                i = int(np.argmax(differ))
                raise InputError(str(path), int(f["row"].iat[i]), c,
                                 f"parent {f['parent_id'].iat[i]!r} gives arrival_ns on some rows only; "
                                 "give it on every row of the parent or on none")
        if v.dtype.kind == "f":
            differ = ~((v == v[first]) | (np.isnan(v) & np.isnan(v[first])))
        else:
            differ = v != v[first]
        if differ.any():
            i = int(np.argmax(differ))
            raise InputError(str(path), int(f["row"].iat[i]), c,
                             f"parent {f['parent_id'].iat[i]!r} has {c} {v[first[i]]!r} on row "
                             f"{int(f['row'].iat[first[i]])} and {v[i]!r} here; a parent is one metaorder of one "
                             "side on one instrument and tape")
    ts = f["ts_ns"].to_numpy()
    arr = np.where(g_arr[first], f["arrival_ns"].to_numpy()[first], ts[first])
    late = arr > ts[first]
    if late.any():
        i = int(np.argmax(late))
        raise InputError(str(path), int(f["row"].iat[i]), "arrival_ns",
                         f"parent {f['parent_id'].iat[i]!r} arrives at {arr[i]}, after its first fill at {ts[i]}")
    f["arrival_ns"] = arr


def read_fills(path: str | Path) -> pd.DataFrame:
    """Read and check a desk fills file (module docstring); the frame of :func:`check_fills`."""
    path = Path(path)
    raw, first = _read_raw(path)
    return check_fills(raw, path, first)


def fills_from_results(root: str | Path) -> tuple[pd.DataFrame, dict]:
    """The fills of every stored run under ``root`` as desk fills (module docstring), and what was left out.

    The second value counts ``runs`` read and ``runs_without_fills`` (a run that filled nothing has no impact
    to measure; it is left out and counted)."""
    import orjson
    import pyarrow.parquet as pq

    from tickreplay.results import RUNS_FILE, store_index

    root = Path(root)
    index = store_index(root)
    if not len(index):
        raise InputError(str(root), None, None, "no stored runs under this results root")
    meta: dict[str, tuple[dict, dict]] = {}
    frames: list[pd.DataFrame] = []
    cols = ["exchange_ns", "price", "size"]
    for run_id, d in sorted(index.folders.items()):
        if not (d / "run.json").is_file() or not (d / "tca.json").is_file():
            raise InputError(str(d), None, None, "run folder without run.json and tca.json")
        meta[run_id] = (orjson.loads((d / "run.json").read_bytes()), orjson.loads((d / "tca.json").read_bytes()))
        if (d / "fills.parquet").is_file():
            t = pq.read_table(d / "fills.parquet", columns=cols).to_pandas()
            t.insert(0, "run_id", run_id)
            frames.append(t)
    for b in sorted(set(index.batches.values())):
        t = pq.read_table(b / RUNS_FILE, columns=["run_id", "run_json", "tca_json"])
        keep = {i for i, bb in index.batches.items() if bb == b}
        for i, rj, tj in zip(*(t.column(c).to_pylist() for c in ("run_id", "run_json", "tca_json"))):
            if i in keep:
                meta[i] = (orjson.loads(rj), orjson.loads(tj))
        if (b / "fills.parquet").is_file():
            ft = pq.read_table(b / "fills.parquet", columns=["run_id", *cols]).to_pandas()
            ft["run_id"] = ft["run_id"].astype(str)
            frames.append(ft[ft["run_id"].isin(keep)])
    fills = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run_id", *cols])
    with_fills = set(fills["run_id"])
    rows = []
    for run_id, (run, tca) in meta.items():
        if run_id not in with_fills:
            continue
        inst, parent = run.get("instrument", {}), tca.get("parent", {})
        pre = tca.get("pretrade") or {}
        where = f"{root / run_id} (run {run_id})"
        for k in ("price_scale", "symbol"):
            if k not in inst:
                raise InputError(where, None, f"run.json instrument.{k}", "missing")
        for k in ("side", "start_ns"):
            if k not in parent:
                raise InputError(where, None, f"tca.json parent.{k}", "missing")
        if "market_impact_bps" in (tca.get("shortfall") or {}):
            raise InputError(where, None, "tca.json shortfall.market_impact_bps",
                             "an impact-adjusted run ([impact]): the mids that measure its impact are the shifted "
                             "ones, whose path the results store does not keep, and the catalog tape has none of "
                             "our impact; calibrate from runs without [impact], the reactive market's fills or a "
                             "desk fills file (--fills)")
        rows.append({"run_id": run_id, "side": int(parent["side"]), "instrument": inst["symbol"],
                     "tape": run.get("data", ""), "arrival_ns": int(parent["start_ns"]),
                     "arrival_mid": float((tca.get("shortfall") or {}).get("arrival_mid", np.nan)),
                     "adv": pre.get("adv", np.nan), "daily_vol": pre.get("daily_vol", np.nan),
                     "price_scale": float(inst["price_scale"]), "size_scale": float(inst.get("size_scale", 1))})
    runs = pd.DataFrame(rows)
    f = fills.merge(runs, on="run_id", how="inner", validate="many_to_one").sort_values(["run_id", "exchange_ns"],
                                                                                           kind="stable")
    raw = pd.DataFrame({"parent_id": f["run_id"].to_numpy(), "ts_ns": f["exchange_ns"].to_numpy(np.int64),
                        "side": f["side"].to_numpy(np.int8),
                        "price": f["price"].to_numpy(np.float64) / f["price_scale"].to_numpy(),
                        "size": f["size"].to_numpy(np.float64) / f["size_scale"].to_numpy(),
                        "instrument": f["instrument"].to_numpy(object), "tape": f["tape"].to_numpy(object),
                        "arrival_ns": f["arrival_ns"].to_numpy(np.int64),
                        "adv": f["adv"].to_numpy(np.float64), "daily_vol": f["daily_vol"].to_numpy(np.float64),
                        "arrival_mid": f["arrival_mid"].to_numpy(np.float64)})
    if not len(raw):
        raise InputError(str(root), None, None, f"none of the {len(meta)} stored runs has fills")
    out = check_fills(raw, root / "<fills of the stored runs>", 1)
    return out, {"runs": len(meta), "runs_without_fills": len(meta) - len(with_fills)}
