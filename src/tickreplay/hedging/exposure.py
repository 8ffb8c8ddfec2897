"""Portfolio exposure over time: an exposure file read and checked, or a generated exposure path.

An exposure file (CSV or Parquet, format in docs/hedging.md) has one row per
observation of the risk system: the time (column ``time``, ISO-8601 with a UTC
offset, or column ``ts_ns``, int ns UTC), the ``instrument`` and the
``exposure`` in signed shares (+ long, − short; whole shares). Rows are sorted
by time (ties allowed). :func:`read_exposure` checks every field and raises an
:class:`~tickreplay.errors.InputError` naming the file, the row (CSV: the
line, header = row 1; Parquet: the record, first = row 1) and the field; with
a lenient :class:`~tickreplay.errors.AnomalyLog` it drops the bad rows and
counts them by kind instead.

:func:`generate_exposure` draws a path: compound Poisson jumps (rate per
session hour, lognormal size, random sign) plus a small Brownian diffusion
sampled on a grid, over the given sessions, carried over from one session to
the next; the same seed gives the same path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from tickreplay.checks import non_negative, positive, positive_int
from tickreplay.errors import AnomalyLog, ConfigError, InputError

NS_PER_HOUR = 3_600_000_000_000
_OFFSET = r"(?:Z|z|[+-]\d{2}(?::?\d{2})?)$"  # what an ISO-8601 time must end with: its UTC offset


@dataclass(frozen=True, eq=False)
class ExposurePath:
    """Exposure observations sorted by time: ``times_ns`` (int64 ns UTC), ``instruments`` (str), ``exposure_shares``
    (int64, signed: + long)."""

    times_ns: np.ndarray
    instruments: np.ndarray
    exposure_shares: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.times_ns)
        if not (len(self.instruments) == len(self.exposure_shares) == n):
            raise ConfigError("ExposurePath: times_ns, instruments and exposure_shares need one value per row, "
                              f"got {n}, {len(self.instruments)}, {len(self.exposure_shares)}")
        if n and np.any(np.diff(self.times_ns) < 0):
            raise ConfigError("ExposurePath: times_ns must be non-decreasing")

    def __len__(self) -> int:
        return len(self.times_ns)

    def for_instrument(self, instrument: str) -> tuple[np.ndarray, np.ndarray]:
        """(times_ns, exposure_shares) of one instrument, in time order."""
        m = self.instruments == instrument
        return self.times_ns[m], self.exposure_shares[m]


def check_sessions(sessions: Iterable[tuple[int, int]]) -> np.ndarray:
    """Sessions as an (n, 2) int64 array of [start_ns, end_ns]; ConfigError unless each is non-empty and they are
    in time order without overlap."""
    s = np.asarray(list(sessions), dtype=np.int64).reshape(-1, 2)
    if len(s) == 0:
        raise ConfigError("parameter 'sessions' must hold at least one (start_ns, end_ns) session")
    for k, (a, b) in enumerate(s):
        if b <= a:
            raise ConfigError(f"parameter 'sessions[{k}]': end_ns ({b}) must be after start_ns ({a})")
        if k and a < s[k - 1, 1]:
            raise ConfigError(f"parameter 'sessions[{k}]' starts ({a}) before sessions[{k - 1}] ends "
                              f"({s[k - 1, 1]}): sessions must be in time order without overlap")
    return s


def in_sessions(times_ns: np.ndarray, sessions: np.ndarray) -> np.ndarray:
    """True where a time lies in a session, both ends included (``sessions`` as :func:`check_sessions` returns)."""
    k = np.searchsorted(sessions[:, 0], times_ns, side="right") - 1
    ok = k >= 0
    kk = np.clip(k, 0, None)
    return ok & (times_ns <= sessions[kk, 1])


def _read_table(path: Path) -> tuple[Any, int]:
    """The file as a DataFrame of strings (CSV) or native types (Parquet), and the row number of its first record."""
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path), 1
        if suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False), 2
    except (OSError, ValueError) as err:
        raise InputError(str(path), None, None, f"cannot read the file ({err})") from None
    raise InputError(str(path), None, None, f"expected a .csv or .parquet exposure file, got {suffix or 'no suffix'!r}")


def read_exposure(path: str | Path, instruments: Iterable[str], sessions: Iterable[tuple[int, int]],
                  log: AnomalyLog | None = None) -> ExposurePath:
    """Read and check an exposure file (module docstring); ``instruments``: the known ones; ``sessions``: the days'
    sessions [start_ns, end_ns].

    Strict (``log`` None or strict): the first bad row raises an InputError
    naming file, row and field; kinds ``missing_column``, ``bad_time``,
    ``unknown_instrument``, ``outside_session``, ``bad_exposure``,
    ``unsorted_time``. Lenient: bad rows are dropped and counted by kind.
    """
    import pandas as pd

    path = Path(path)
    log = log if log is not None else AnomalyLog(strict=True)
    known = set(instruments)
    sess = check_sessions(sessions)
    df, first_row = _read_table(path)
    time_col = "ts_ns" if "ts_ns" in df.columns else "time"
    for col in (time_col, "instrument", "exposure"):
        if col not in df.columns:
            need = "'time' (ISO-8601 with offset) or 'ts_ns' (int ns UTC)" if col == time_col else f"'{col}'"
            raise InputError(str(path), None, col, f"missing column: expected {need}; the file has "
                             f"{list(map(str, df.columns))}", kind="missing_column")
    n = len(df)
    rows = np.arange(n) + first_row
    keep = np.ones(n, dtype=bool)

    def flag(bad: np.ndarray, field: str, kind: str, what) -> None:
        bad = bad & keep
        if not bad.any():
            return
        idx = np.flatnonzero(bad)
        err = InputError(str(path), int(rows[idx[0]]), field, what(idx[0]), kind=kind)
        log.report(err)  # raises in strict mode
        if len(idx) > 1:
            log.count(kind, str(err), len(idx) - 1)
        keep[idx] = False

    raw_t = df[time_col]
    if time_col == "ts_ns":
        text = raw_t.astype(str).str.strip()
        ok = text.str.fullmatch(r"[+-]?\d{1,19}").to_numpy(dtype=bool)
        big = np.iinfo(np.int64).max
        values = [int(v) if k else 0 for v, k in zip(text, ok)]
        ok = ok & np.array([abs(v) <= big for v in values], dtype=bool)
        t = np.array([v if k else 0 for v, k in zip(values, ok)], dtype=np.int64)
        flag(~ok, "ts_ns", "bad_time", lambda i: f"expected an integer time in ns UTC, got {raw_t.iloc[i]!r}")
    else:
        text = raw_t.astype(str).str.strip()
        has_offset = text.str.contains(_OFFSET, regex=True).to_numpy(dtype=bool)
        parsed = pd.to_datetime(text.where(has_offset, ""), format="ISO8601", utc=True, errors="coerce")
        ok = has_offset & ~parsed.isna().to_numpy()
        t = np.zeros(n, dtype=np.int64)
        t[ok] = parsed[ok].dt.tz_convert(None).astype("datetime64[ns]").to_numpy().astype(np.int64)
        flag(~ok, "time", "bad_time", lambda i: f"expected an ISO-8601 time with its UTC offset "
             f"(2024-01-02T09:30:00-05:00 or ...Z), got {raw_t.iloc[i]!r}")
    inst = df["instrument"].astype(str).str.strip().to_numpy(dtype=object)
    flag(~np.isin(inst, list(known)), "instrument", "unknown_instrument",
         lambda i: f"unknown instrument {inst[i]!r}; known: {sorted(known)}")
    flag(~in_sessions(t, sess), time_col, "outside_session",
         lambda i: f"time {int(t[i])} ns UTC is outside the days' sessions "
                   f"({', '.join(f'[{a}, {b}]' for a, b in sess[:3])}{', ...' if len(sess) > 3 else ''})")
    value = pd.to_numeric(df["exposure"], errors="coerce").to_numpy(dtype=np.float64)
    whole = np.isfinite(value) & (np.abs(value) < 2.0**53) & (value == np.round(value))
    flag(~whole, "exposure", "bad_exposure",
         lambda i: f"expected a whole number of shares (signed), got {df['exposure'].iloc[i]!r}")
    # unsorted: a time before an earlier kept row's time (checked among the rows still kept)
    tk = np.where(keep, t, np.iinfo(np.int64).min)
    before = np.concatenate([[np.iinfo(np.int64).min], np.maximum.accumulate(tk)[:-1]]) if n else tk
    flag(t < before, time_col, "unsorted_time",
         lambda i: f"time {int(t[i])} ns UTC is before the previous row's ({int(before[i])}): rows must be "
                   "sorted by time")
    return ExposurePath(t[keep], inst[keep].astype(str), value[keep].astype(np.int64))


def generate_exposure(sessions: Iterable[tuple[int, int]], instruments: Sequence[str], seed: int, *,
                      jump_rate_per_hour: float = 2.0, jump_median_shares: float = 5_000.0,
                      jump_sigma: float = 0.5, diffusion_shares_per_sqrt_hour: float = 500.0,
                      step_ns: int = 60_000_000_000, start_shares: int = 0) -> ExposurePath:
    """A seeded exposure path over ``sessions`` for each instrument (module docstring).

    Jumps arrive as a Poisson process of ``jump_rate_per_hour`` per session
    hour (uniform times), each of size lognormal with median
    ``jump_median_shares`` and log-sd ``jump_sigma`` and a random sign; the
    diffusion adds N(0, d² · dt_hours) shares per grid step of ``step_ns``
    (``d = diffusion_shares_per_sqrt_hour``). Observations: every grid time
    and every jump time (a jump is seen at its own time). The level carries
    over between sessions; values are rounded to whole shares. Instrument
    ``k`` draws from the ``k``-th child of ``SeedSequence(seed)``.
    """
    sess = check_sessions(sessions)
    non_negative("jump_rate_per_hour", jump_rate_per_hour)
    positive("jump_median_shares", jump_median_shares)
    non_negative("jump_sigma", jump_sigma)
    non_negative("diffusion_shares_per_sqrt_hour", diffusion_shares_per_sqrt_hour)
    step_ns = positive_int("step_ns", step_ns)
    if not instruments or len(set(instruments)) != len(instruments):
        raise ConfigError(f"parameter 'instruments' must be distinct names, at least one, got {list(instruments)}")
    parts = []
    for inst, child in zip(instruments, np.random.SeedSequence(seed).spawn(len(instruments))):
        rng = np.random.default_rng(child)
        level = float(start_shares)
        for a, b in sess:
            grid = np.arange(a, b + 1, step_ns, dtype=np.int64)
            n_jumps = rng.poisson(jump_rate_per_hour * (b - a) / NS_PER_HOUR)
            jt = np.sort(rng.integers(a, b + 1, size=n_jumps, dtype=np.int64))
            jumps = rng.choice([-1.0, 1.0], size=n_jumps) * rng.lognormal(np.log(jump_median_shares), jump_sigma,
                                                                          size=n_jumps)
            dt_h = np.diff(grid, prepend=a) / NS_PER_HOUR
            diff = rng.normal(0.0, 1.0, size=len(grid)) * diffusion_shares_per_sqrt_hour * np.sqrt(dt_h)
            times = np.concatenate([grid, jt])
            steps = np.concatenate([diff, jumps])
            order = np.argsort(times, kind="stable")  # a grid point before a jump at the same ns
            path = level + np.cumsum(steps[order])
            level = float(path[-1]) if len(path) else level
            parts.append((times[order], np.full(len(times), inst), np.round(path).astype(np.int64)))
    t = np.concatenate([p[0] for p in parts])
    order = np.lexsort((np.concatenate([p[1] for p in parts]), t))
    return ExposurePath(t[order], np.concatenate([p[1] for p in parts])[order],
                        np.concatenate([p[2] for p in parts])[order])
