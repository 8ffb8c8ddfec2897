"""Market data for runs: the only place a run's tape, book snapshots and replay precomputation are loaded.

:func:`load_data_spec` reads a ``[data]`` table's source — a catalog entry, a
LOBSTER file pair, or a generated day — applies its time window and builds
what the engine and TCA read (:class:`~tickreplay.book.replay.ReplayData`,
:class:`~tickreplay.tca.MarketSeries`). Loads are cached per process: a study
replays one day many times. :func:`from_tape` wraps a tape already in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from tickreplay.book.fast import compute_snapshots
from tickreplay.book.replay import ReplayData
from tickreplay.book.snapshots import Snapshots
from tickreplay.catalog import Catalog, default_root
from tickreplay.errors import ConfigError
from tickreplay.experiment.scenario import DataSpec, Scenario, resolve_time
from tickreplay.market.inputs import BAR_NS, EstimatedInputs, estimate_inputs
from tickreplay.tape import Instrument, Tape
from tickreplay.tca import MarketSeries

NS = 1_000_000_000
MARKET_POINTS = 2_000  # samples of the market path stored for reports


@dataclass(frozen=True, eq=False)
class MarketData:
    """One scenario's data: the tape, its snapshots, the replay precomputation and the TCA's market series."""

    key: str
    tape: Tape
    snapshots: Snapshots
    replay: ReplayData
    market: MarketSeries
    day_ns: int | None  # the trading day's length when the source knows it (generated days)
    report: dict = field(default_factory=dict)
    source_fingerprint: str | None = None  # the whole source tape's, before any window (default: this tape's)

    @cached_property
    def fingerprint(self) -> str:
        """The content fingerprint of the data's source tape (:meth:`~tickreplay.tape.Tape.fingerprint`): the same
        tape under any key or path has the same one."""
        return self.source_fingerprint or self.tape.fingerprint()

    @cached_property
    def estimated(self) -> EstimatedInputs:
        """ADV, daily volatility, spread and volume profile of this data (5-minute bars; >= 20 bars on short data,
        of at least 1 s): a :class:`ConfigError` saying why on data that cannot give them (shorter than 2 bars: the
        volatility needs 2 mid returns)."""
        span = int(self.tape.ts_ns[-1] - self.tape.ts_ns[0])
        bar = BAR_NS if span >= 20 * BAR_NS else max(NS, span // 20)
        if span < 2 * bar:
            raise ConfigError(f"the data {self.key} has {span / NS:g} s of events: too short to estimate ADV, daily "
                              f"volatility and spread from (the volatility needs at least {2 * bar / NS:g} s: 2 mid "
                              f"returns of {bar / NS:g} s bars)")
        try:
            return estimate_inputs([_InMemoryEntry(self)], bar_ns=bar, day_ns=self.day_ns,
                                   profile_bin_ns=min(30 * 60 * NS, max(NS, span // 4)))
        except ConfigError as err:
            raise ConfigError(f"cannot estimate ADV, daily volatility and spread from the data {self.key} "
                              f"({span / NS:g} s of events, {bar / NS:g} s bars): {err}") from None


@dataclass(frozen=True)
class _InMemoryEntry:
    """What :func:`estimate_inputs` reads from a catalog entry, for data already in memory."""

    data: MarketData

    @property
    def key(self) -> str:
        return self.data.key

    def read_tape(self) -> Tape:
        return self.data.tape

    def read_snapshots(self) -> Snapshots:
        return self.data.snapshots


def _bounds(inst: Instrument, spec: DataSpec) -> tuple[int | None, int | None]:
    """The ``[data]`` window's start and end, ns (None: open)."""
    t0 = None if spec.start is None else resolve_time(spec.start, inst.date, inst.timezone, "data.start")
    t1 = None if spec.end is None else resolve_time(spec.end, inst.date, inst.timezone, "data.end")
    return t0, t1


def _as_session(tape: Tape, t0: int | None, t1: int | None, first_ns: int, last_ns: int) -> Tape:
    """The window's events with the window as their session (a run cannot trade past the data it has: orders
    outside it are rejected, and a parent window outside it is an error); ``first_ns``/``last_ns``: the whole
    day's first and last event time, the session where the data names none."""
    inst = tape.instrument
    if not len(tape):
        raise ConfigError(f"scenario keys 'data.start'/'data.end' leave no event of {inst.symbol} {inst.date}")
    meta = dict(tape.extra_meta or {})
    s0, s1 = meta.get("session_start_ns", first_ns), meta.get("session_end_ns", last_ns)
    meta.update(session_start_ns=int(s0 if t0 is None else max(s0, t0)),
                session_end_ns=int(s1 if t1 is None else min(s1, t1)))
    return replace(tape, extra_meta=meta)


def _window(tape: Tape, snaps: Snapshots, spec: DataSpec) -> tuple[Tape, Snapshots]:
    """The events of the ``[data]`` window of a tape in memory (see :func:`_as_session`)."""
    if spec.start is None and spec.end is None:
        return tape, snaps
    t0, t1 = _bounds(tape.instrument, spec)
    lo = 0 if t0 is None else int(np.searchsorted(tape.ts_ns, t0, side="left"))
    hi = len(tape) if t1 is None else int(np.searchsorted(tape.ts_ns, t1, side="right"))
    hi = max(lo, hi)
    win = _as_session(tape.slice(lo, hi), t0, t1, int(tape.ts_ns[0]), int(tape.ts_ns[-1]))
    return win, Snapshots(*(getattr(snaps, f)[lo:hi] for f in ("ask_price", "ask_size", "bid_price", "bid_size")))


def _market_data(key: str, tape: Tape, snaps: Snapshots, day_ns: int | None, report: dict,
                 source_fingerprint: str | None = None) -> MarketData:
    return MarketData(key, tape, snaps, ReplayData.build(tape, snaps), MarketSeries.from_tape(tape, snaps), day_ns,
                      report, source_fingerprint)


def from_tape(tape: Tape, key: str, levels: int = 5, day_ns: int | None = None) -> MarketData:
    """A :class:`MarketData` for a tape already in memory (e.g. a generated day with custom parameters)."""
    return _market_data(key, tape, compute_snapshots(tape, levels), day_ns, {})


@lru_cache(maxsize=4)
def _load(spec: DataSpec, base_dir: str) -> MarketData:
    def path(p: str) -> Path:
        q = Path(p).expanduser()
        return q if q.is_absolute() else Path(base_dir) / q

    day_ns, report = None, {}
    if spec.catalog is not None:
        entry = Catalog(path(spec.catalog_root)).find(spec.catalog)
        levels = [k for k in entry.snapshot_levels() if k >= spec.levels]
        depth = levels[0] if levels else None
        key, report, fingerprint = entry.key, entry.read_report(), entry.fingerprint
        if spec.start is None and spec.end is None:
            tape, snaps = entry.read_tape(), entry.read_snapshots(depth)
        else:  # only the window's row groups and the book checkpoint before it
            from tickreplay.tape import instrument_of

            t0, t1 = _bounds(instrument_of(entry.folder / "tape.parquet")[0], spec)
            tape, snaps = entry.read_window(t0, t1, depth)
            tape = _as_session(tape, t0, t1, *entry.time_span())
        return _market_data(key, tape, snaps, day_ns, report, fingerprint)
    elif spec.lobster is not None:
        from tickreplay.adapters.lobster import read_lobster

        lob = spec.lobster
        res = read_lobster(path(lob.message), path(lob.orderbook), lob.symbol, lob.date, strict=spec.strict)
        tape, snaps = res.tape, res.snapshots
        key = f"lobster/{tape.instrument.symbol}/{tape.instrument.date}"
        report = {"anomalies": res.anomalies.to_dict(), **res.report}
        fingerprint = tape.fingerprint()
    else:
        from tickreplay.adapters.synthetic import generate_day, synthetic_key
        from tickreplay.adapters.synthetic_regimes import resolve

        syn = spec.synthetic
        tape = generate_day(syn.regime, syn.seed, date=syn.date, duration_s=syn.duration_s)
        snaps = compute_snapshots(tape, spec.levels)
        key = synthetic_key(syn.regime, syn.seed, syn.date, syn.duration_s)
        day_ns = round(resolve(syn.regime)[1].session_seconds() * NS)
        fingerprint = tape.fingerprint()
    tape, snaps = _window(tape, snaps, spec)
    return _market_data(key, tape, snaps, day_ns, report, fingerprint)


def load_data(scenario: Scenario) -> MarketData:
    """The scenario's data, loaded once per process for equal data specs; errors name the scenario."""
    try:
        return load_data_spec(scenario.data, scenario.base_dir)
    except ConfigError as err:
        raise ConfigError(f"{scenario.where()}: {err}") from None


def load_data_spec(spec: DataSpec, base_dir: str | Path = ".") -> MarketData:
    """The data of a ``[data]`` table (relative paths against ``base_dir``; a catalog entry with no ``catalog_root``
    in :func:`tickreplay.catalog.default_root`), cached per process."""
    if spec.catalog is not None and spec.catalog_root is None:
        spec = replace(spec, catalog_root=str(default_root()))
    return _load(spec, str(Path(base_dir).resolve()))


def time_grid(t0: int, t1: int) -> np.ndarray:
    """Points from ``t0`` to ``t1`` (ns) for stored market paths: at most ``MARKET_POINTS``, at least 0.1 s apart."""
    step = max(NS // 10, (t1 - t0) // MARKET_POINTS)
    return np.arange(t0, t1 + 1, step, dtype=np.int64)


def market_path(data: MarketData, t0: int, t1: int) -> pd.DataFrame:
    """Touch, mid (×2) and cumulative market volume as of each point of a grid over ``[t0, t1]``."""
    t = time_grid(t0, min(t1, int(data.tape.ts_ns[-1])))
    i = np.searchsorted(data.replay.ts_ns, t, side="right") - 1  # -1: before the first event (no book, no volume)
    j = np.maximum(i, 0)
    snap = data.snapshots
    return pd.DataFrame({"ts_ns": t, "bid": np.where(i >= 0, snap.bid_price[j, 0], 0),
                         "ask": np.where(i >= 0, snap.ask_price[j, 0], 0),
                         "mid_x2": data.market.mid_x2_at(t), "cum_volume": data.market.cum_volume[i + 1]})
