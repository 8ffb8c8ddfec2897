"""Generated sample days: a seeded, deterministic L3 order-flow simulator.

The model, per trading session:

* A latent **efficient price** follows a geometric random walk with the
  regime's volatility (variance raised after news), plus optional Poisson
  jumps and one optional scheduled news jump.
* **Reference quotes**: the bid is the efficient price less half the spread,
  rounded to a tick; the ask is ``spread_ticks`` (rounded, at least 1) above.
* **New orders** arrive as a Poisson process at half of ``activity_eps``
  (each resting order later leaves again by a cancel or an execution, so the
  tape holds about ``activity_eps`` events per second at midday), scaled by
  an intraday U shape, a decaying news boost, and a self-exciting part that
  every market order raises (``burst_branching`` market orders triggered per
  market order on average, decaying with ``burst_decay_s``).
  A share ``market_share`` are market orders (lognormal size, median
  ``size_median * market_size_mult``); a share ``hidden_share`` of those are
  filled by hidden liquidity (an EXECUTE_HIDDEN print at the touch).
  The others are limit orders on a random side, ``k`` ticks behind their
  reference quote with ``P(k) ∝ exp(-depth_decay·k)``, ``k < depth_levels``.
  A limit order priced through the opposite touch (the efficient price moved)
  executes against the book up to its price and rests what is left.
* **Cancels**: every resting order is cancelled at ``cancel_rate_per_s``;
  a share ``partial_cancel_share`` of cancels only reduce it.
* **Executions** hit the front order of the best level, then the next
  (one EXECUTE_VISIBLE per resting order touched, all at the aggressor's
  timestamp). An aggressor never takes the last occupied level of a side,
  so neither side of the book empties through trading.
* **Planted signal** (``refill_half_life_s``): when an aggressor empties a
  price level, extra limit orders arrive at that side's reference quote, in
  total about the volume it took, at a rate decaying with that half-life —
  the touch refills after a sweep with a known half-life.
* The session opens with a book already resting (about the equilibrium
  number of orders, as ADDs at the opening timestamp).
* **Planted metaorders and planted impact** (``planted``, ``metaorders``):
  a hidden trader executes parent orders as market orders in the simulated
  book, and the latent price responds with a planted square-root law and a
  planted propagator; see :mod:`tickreplay.adapters.metaorders`. Off by
  default, and then nothing of it runs: the day is byte-identical to before.
* **Activity** (``activity``, default 1): multiplies every event rate of the
  regime — new-order arrivals (so market orders, their self-excitation and
  refills too) and the cancel hazard — so the tape has about ``activity``
  times the events per second with the same book shape (the equilibrium
  number of resting orders is unchanged). Prices move in real time as before.
* **Shared latent price** (``latent``, a :class:`~tickreplay.adapters.latent.LatentPath`): the efficient
  price is not drawn event by event but read from a path drawn on a time grid from its own seed; an event
  quotes around the price in force at its timestamp. Several venues (own ``MarketParams``, own seed) given one
  path are correlated venues of one instrument. Off by default (the day is then byte-identical to before);
  not combined with planted impact. With ``track`` the book also *tracks* the path: before every event each
  touch is put on its reference quote, as on a planted day (:mod:`~tickreplay.adapters.synthetic_kernel`,
  *Tracking*), so the mid stays within about half a tick of the path and the spread is ``spread_ticks``.

Time advances event by event (intensities are held constant between
events). Every random number comes from one ``numpy.random.Generator`` made
from ``SeedSequence(seed)``, so a seed gives byte-identical tapes; the hidden
trader's draws come from the spawned ``SeedSequence(seed).spawn(1)[0]``.
:class:`DayGenerator` yields a day's events chunk by chunk (memory bounded by
the resting book, not the day's length); :func:`generate_day` gathers them.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from tickreplay.adapters import metaorders as M
from tickreplay.adapters import synthetic_kernel as K
from tickreplay.adapters.latent import LatentPath
from tickreplay.adapters.synthetic_regimes import PRICE_SCALE, REGIMES, MarketParams, resolve
from tickreplay.clock import parse_hms, resolve_time, trading_date
from tickreplay.errors import ConfigError
from tickreplay.tape import Instrument, Tape

__all__ = ["DayGenerator", "LatentPath", "MarketParams", "REGIMES", "generate_day", "session_bounds_ns",
           "synthetic_key", "synthetic_symbol"]

SECONDS_PER_YEAR_OF_TRADING = 252 * 23_400  # annualisation of volatility_annual
DRAWS_PER_CHUNK = 1 << 16  # arrivals drawn from the generator at a time
MAX_OPENING_ORDERS = 5_000
PROGRESS_MIN_EVENTS = 500_000  # show a progress bar (progress=None) from this expected size


def session_bounds_ns(params: MarketParams, date: str) -> tuple[int, int]:
    """Session open and close as int64 ns since the UTC epoch (local clock times on ``date``)."""
    return (resolve_time(params.session_start, date, params.timezone, "MarketParams.session_start"),
            resolve_time(params.session_end, date, params.timezone, "MarketParams.session_end"))


_SYMBOL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_REGIME_RE = re.compile(r"[a-z0-9_]+")
_GENERATED_SYMBOL_RE = re.compile(
    r"(?P<market>(?:[A-Za-z0-9][A-Za-z0-9._-]*\.)?[a-z0-9_]+(?:-x[0-9.e+-]+)?(?:-m\d+-p[0-9a-f]{8})?)"
    r"-s\d+(?:-l[0-9a-f]{8}t?)?(?:-[0-9.e+-]+s)?")


def _number_text(x: float) -> str:
    """``x`` as an integer when whole, else Python's shortest exact float text."""
    return str(int(x)) if x.is_integer() else repr(x)


def _checked(params: MarketParams | str, seed: int, duration_s: float | None,
             activity: float | None = None) -> tuple[str, MarketParams, float, float]:
    """(regime name or 'custom', params, duration in seconds, activity) after checking the generator's inputs."""
    name, p = resolve(params)
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed = {seed!r}: expected a non-negative integer")
    session_s = p.session_seconds()
    dur = float(session_s if duration_s is None else duration_s)
    if not 0 < dur <= session_s:
        raise ConfigError(f"duration_s = {duration_s!r}: expected a number of seconds in (0, {session_s:g}]")
    act = 1.0 if activity is None else activity
    if (isinstance(act, bool) or not isinstance(act, (int, float, np.integer, np.floating))
            or not (math.isfinite(act) and act > 0)):
        raise ConfigError(f"activity = {activity!r}: expected a positive finite number "
                          "(it multiplies the regime's event rates; 1 is the regime as it is)")
    return name, p, dur, float(act)


def _hidden(planted: M.PlantedImpact | None, metaorders: int | M.HiddenTrader | None) -> M.HiddenTrader | None:
    """The hidden trader of a day (None: a plain day) after checking ``planted`` and ``metaorders``."""
    trader = metaorders if isinstance(metaorders, M.HiddenTrader) else M.HiddenTrader(metaorders or 0)
    if planted is None:
        if trader.n:
            raise ConfigError(f"metaorders = {trader.n}: a hidden trader needs planted=PlantedImpact(...) "
                              "(CLI: --planted-impact Y,DELTA,G0,BETA); Y = 0 plants no square-root impact")
        return None
    if not isinstance(planted, M.PlantedImpact):
        raise ConfigError(f"planted = {planted!r}: expected a PlantedImpact or None")
    return trader


def synthetic_symbol(regime: MarketParams | str, seed: int, duration_s: float | None = None,
                     symbol: str | None = None, activity: float | None = None,
                     planted: M.PlantedImpact | None = None,
                     metaorders: int | M.HiddenTrader | None = None, latent: LatentPath | None = None,
                     track: bool = False) -> str:
    """The instrument symbol of a generated day:
    ``[SYMBOL.]REGIME[-xACTIVITY][-mN-pHASH]-sSEED[-lTAG[t]][-DURATIONs]``.

    ``REGIME`` is the regime name, or ``custom_<16 hex>`` (a hash of every
    parameter) for params that are no named regime; ``ACTIVITY`` the
    multiplier of the event rates, left out at 1; ``SEED`` the seed;
    ``DURATION`` the seconds generated, left out for the whole session
    (numbers as an integer when whole, else Python's shortest exact float
    text); ``SYMBOL`` the user's symbol, only if one is given; ``-mN-pHASH``
    only on a day with planted impact: ``N`` metaorders, ``HASH`` 8 hex of the
    planted impact and the hidden trader (:func:`~tickreplay.adapters.metaorders.planted_tag`); ``-lTAG`` only
    on a day quoting around a shared latent price (:meth:`~tickreplay.adapters.latent.LatentPath.tag`: like
    the seed, part of the day, not of the market; ``t`` after it when the book tracks the path). Every input
    that changes the generated tape is in the name, and the name can be read
    back uniquely, so two different generated days never share a name (nor,
    with the date, a catalog key). Examples: ``liquid_large_cap-s2``,
    ``thin_small_cap-s4-600s``, ``ABC.news_spike-s1-900.5s``,
    ``liquid_large_cap-x65-s1``.
    """
    name, p, dur, act = _checked(regime, seed, duration_s, activity)
    if name == "custom":
        digest = hashlib.blake2b(json.dumps(asdict(p), sort_keys=True).encode(), digest_size=8).hexdigest()
        name = f"custom_{digest}"
    if not _REGIME_RE.fullmatch(name):  # the name must not hold the separators
        raise ConfigError(f"regime name {name!r}: expected lower-case letters, digits and '_'")
    out = name if act == 1.0 else f"{name}-x{_number_text(act)}"
    trader = _hidden(planted, metaorders)
    if trader is not None:
        out += f"-{M.planted_tag(planted, trader)}"
    out += f"-s{int(seed)}"
    if latent is not None:
        out += f"-l{_latent(latent, p, planted).tag()}" + ("t" if track else "")
    elif track:
        raise ConfigError("track=True needs latent=LatentPath(...): it puts the book on the shared path "
                          "(a planted day tracks its own latent price already)")
    if dur != p.session_seconds():
        out += f"-{_number_text(dur)}s"
    if symbol is not None:
        if not isinstance(symbol, str) or not _SYMBOL_RE.fullmatch(symbol):
            raise ConfigError(f"symbol = {symbol!r}: expected letters, digits, '.', '_' or '-' "
                              "(starting with a letter or digit); it names a catalog folder")
        out = f"{symbol}.{out}"
    return out


def synthetic_market(symbol: str) -> str | None:
    """The market a generated day's symbol names, without the day's seed, latent path and duration
    (``[SYMBOL.]REGIME[-xACTIVITY][-mN-pHASH]``); None when ``symbol`` is not of :func:`synthetic_symbol`'s form. Two seeds
    of one market are two of its days; another activity is another market."""
    m = _GENERATED_SYMBOL_RE.fullmatch(symbol)
    return m["market"] if m else None


def synthetic_key(regime: MarketParams | str, seed: int, date: str, duration_s: float | None = None,
                  symbol: str | None = None, activity: float | None = None,
                  planted: M.PlantedImpact | None = None, metaorders: int | M.HiddenTrader | None = None,
                  latent: LatentPath | None = None, track: bool = False) -> str:
    """The catalog key ``synthetic/<synthetic_symbol(...)>/<date>`` of a generated day.

    It is the key :func:`generate_day` with the same arguments produces when
    stored with ``Catalog.write("synthetic", tape)``: the tape's instrument
    symbol and date are these parts. See :func:`synthetic_symbol` for the rule.
    """
    name = synthetic_symbol(regime, seed, duration_s, symbol, activity, planted, metaorders, latent, track)
    return f"synthetic/{name}/{trading_date(date).isoformat()}"


def _latent(latent: LatentPath, p: MarketParams, planted: M.PlantedImpact | None) -> LatentPath:
    """``latent`` after checking that a day with ``p`` (and ``planted``) can quote around it."""
    if not isinstance(latent, LatentPath):
        raise ConfigError(f"latent = {latent!r}: expected a LatentPath or None")
    if planted is not None:
        raise ConfigError("latent= with planted impact is not supported: the planted impact moves the latent price "
                          "of one day, a shared path cannot respond to one venue's trades; generate the planted "
                          "day without latent=")
    latent.check_venue(p)
    return latent


def _pack(p: MarketParams, duration_s: float, news_sign: float, activity: float = 1.0,
          planted: M.PlantedImpact | None = None) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Kernel parameter arrays, the price grid size (ticks) and the opening order count."""
    start_ticks = p.start_price // p.tick_size
    margin = p.margin_ticks()
    grid = 2 * start_ticks + 2 * margin
    base_rate = p.activity_eps / 2.0
    fp = np.zeros(K.N_FP)
    fp[K.P_HALF_SPREAD] = p.spread_ticks / 2.0
    fp[K.P_DECAY] = p.depth_decay
    fp[K.P_SIZE_MU] = math.log(p.size_median)
    fp[K.P_SIZE_SIGMA] = p.size_sigma
    fp[K.P_ROUND_SHARE] = p.round_lot_share
    fp[K.P_MKT_MU] = math.log(p.size_median * p.market_size_mult)
    fp[K.P_MKT_SHARE] = p.market_share
    fp[K.P_CANCEL] = p.cancel_rate_per_s * activity
    fp[K.P_PARTIAL] = p.partial_cancel_share
    fp[K.P_HIDDEN] = p.hidden_share
    fp[K.P_BURST_ETA] = p.burst_branching / (p.burst_decay_s * p.market_share)
    fp[K.P_BURST_TAU] = p.burst_decay_s
    fp[K.P_JUMP_RATE] = p.jump_rate_per_hour / 3600.0
    fp[K.P_JUMP_SD] = p.jump_bps * 1e-4
    fp[K.P_SIGMA] = p.volatility_annual / math.sqrt(SECONDS_PER_YEAR_OF_TRADING)
    fp[K.P_BASE_RATE] = base_rate * activity
    fp[K.P_INTRADAY_U] = p.intraday_u
    fp[K.P_NEWS_T] = -1.0
    if p.news_time is not None:
        fp[K.P_NEWS_T] = parse_hms(p.news_time, "news_time") - parse_hms(p.session_start, "session_start")
    fp[K.P_NEWS_JUMP] = news_sign * p.news_jump_bps * 1e-4
    fp[K.P_NEWS_MULT] = p.news_activity_mult
    fp[K.P_NEWS_HL] = p.news_half_life_s
    fp[K.P_REFILL_HL] = p.refill_half_life_s or 0.0
    fp[K.P_REFILL_PER_SHARE] = math.log(2) / p.refill_half_life_s / p.mean_size() if p.refill_half_life_s else 0.0
    fp[K.P_T_END] = duration_s
    fp[K.P_SESSION_LEN] = p.session_seconds()
    fp[K.P_M_LO] = margin
    fp[K.P_M_HI] = grid - margin
    ip = np.zeros(K.N_IP, np.int64)
    ip[K.I_DEPTH] = p.depth_levels
    ip[K.I_LOT] = p.round_lot
    ip[K.I_SPREAD] = max(1, int(math.floor(p.spread_ticks + 0.5)))
    if planted is not None:
        ip[K.I_PLANTED] = 1
        fp[K.P_DELTA] = planted.delta
        fp[K.P_G0] = planted.G0 * 1e-4
    limit_rate = base_rate * (1.0 - p.market_share)  # the opening book does not depend on the activity
    n_open = MAX_OPENING_ORDERS
    if p.cancel_rate_per_s > 0:
        n_open = min(n_open, int(round(limit_rate / p.cancel_rate_per_s)))
    return fp, ip, grid, max(2, n_open)


def expected_events(params: MarketParams | str, duration_s: float | None = None, activity: float = 1.0) -> int:
    """Rough expected number of tape events (for progress bars and buffer sizes)."""
    _, p = resolve(params)
    dur = p.session_seconds() if duration_s is None else duration_s
    return int(activity * p.activity_eps * dur
               * (1.0 + 2.0 * p.intraday_u * K.OPEN_CLOSE_DECAY_S / p.session_seconds()))


class DayGenerator:
    """One generated session of L3 order flow, produced chunk by chunk.

    The arguments are :func:`generate_day`'s. ``instrument`` and ``meta`` are
    known before any event is drawn; :meth:`chunks` draws the events (each
    call starts the day afresh, so every call gives the same chunks).

    ``planted``: a :class:`~tickreplay.adapters.metaorders.PlantedImpact` (None:
    a plain day); ``metaorders``: the hidden trader's parent count or a
    :class:`~tickreplay.adapters.metaorders.HiddenTrader`. After :meth:`chunks`
    has run to the end, :meth:`desk_fills` and :meth:`metaorders` give the
    hidden trader's executions and the truth per parent.

    ``added_parent``: ``(side, times_s, shares)``, one more parent of the plan after the hidden trader's
    (:func:`~tickreplay.adapters.metaorders.with_parent`: child slots at ``times_s`` seconds after the open of
    ``shares`` each, 0 for a spare slot; it needs ``planted``). It is executed inside the day like the hidden
    trader's parents, so the market reacts to it (how :mod:`tickreplay.reactive` runs our schedule); its
    slots' draws come from ``SeedSequence(seed).spawn(2)[1]``, so every other draw of the day is unchanged. Its
    fills and truth are the last parent's rows of :meth:`desk_fills` and :meth:`metaorders`.

    ``latent``: a :class:`~tickreplay.adapters.latent.LatentPath` (None: the price is drawn from the day's own
    stream, event by event). The day's events quote around the path's price in force at their timestamps; the
    order flow's draws are those of the plain day of ``seed``. ``params`` must agree with the path's on
    :data:`~tickreplay.adapters.latent.SHARED_FIELDS`; its price fields are the path's. :meth:`latent_price`
    reads the path back at tape timestamps. Not with ``planted`` (a ConfigError). ``track`` (needs ``latent``):
    before every event each touch is put on its reference quote from the path (the planted day's tracking), so
    venues of one path keep their mids within a few ticks of each other (docs/generate.md).
    """

    def __init__(self, params: MarketParams | str, seed: int, date: str = "2024-01-02", symbol: str | None = None,
                 duration_s: float | None = None, activity: float | None = None,
                 planted: M.PlantedImpact | None = None, metaorders: int | M.HiddenTrader | None = None,
                 added_parent: tuple[int, Sequence[float], Sequence[int]] | None = None,
                 latent: LatentPath | None = None, track: bool = False) -> None:
        name, self.params, self.duration_s, self.activity = _checked(params, seed, duration_s, activity)
        self.regime = name
        self.seed = int(seed)
        date = trading_date(date).isoformat()
        self.open_ns, _ = session_bounds_ns(self.params, date)
        p = self.params
        self.planted = planted
        self.trader = _hidden(planted, metaorders)
        self.latent = None if latent is None else _latent(latent, p, planted)
        self.track = bool(track)
        self.instrument = Instrument(symbol=synthetic_symbol(p, seed, duration_s, symbol, activity, planted, metaorders,
                                                             latent, self.track),
                                     venue="SYNTH", date=date, price_scale=PRICE_SCALE, tick_size=p.tick_size,
                                     timezone=p.timezone, source="synthetic")
        self.key = f"synthetic/{self.instrument.symbol}/{date}"
        self.meta = {"generator": "tickreplay.synthetic", "regime": name, "seed": self.seed,
                     "duration_s": self.duration_s, "params": asdict(p), "session_start_ns": int(self.open_ns),
                     "session_end_ns": int(self.open_ns + round(self.duration_s * 1e9))}
        if self.activity != 1.0:  # the default day's metadata stays as it always was
            self.meta["activity"] = self.activity
        if self.latent is not None:
            self.meta["latent"] = self.latent.meta()
            if self.track:  # an untracked latent day's metadata stays as it was
                self.meta["latent"]["track"] = True
        self.plan: M.Plan | None = None
        self._planted_out: dict[str, np.ndarray] | None = None
        if self.trader is not None:
            adv = M.expected_daily_volume(p, self.activity)
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed).spawn(1)[0]))
            self.plan = M.plan(self.trader, planted, p, self.duration_s, adv, rng)
            self.meta["planted"] = {**asdict(planted), "metaorders": int(self.trader.n),
                                    "qv_range": list(self.trader.qv_range),
                                    "participation": self.trader.participation,
                                    "child_size": self.plan.child_shares, "adv": adv,
                                    "daily_vol": self.plan.sigma_daily}
            if added_parent is not None:
                side, times_s, shares = added_parent
                added_rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed).spawn(2)[1]))
                self.plan = M.with_parent(self.plan, side, times_s, shares, self.duration_s, added_rng)
                self.meta["added_parent"] = {"side": int(side), "slots": len(shares),
                                             "quantity": int(np.sum(shares)), "first_s": float(times_s[0]),
                                             "last_s": float(times_s[-1])}
        elif added_parent is not None:
            raise ConfigError("added_parent: a parent added to the day needs planted=PlantedImpact(...) "
                              "(Y = 0, G0 = 0 plants no price response)")

    def price_bounds(self) -> tuple[int, int]:
        """Lowest and highest price (price units) an event of this day can have: the generator's price grid."""
        start_ticks = self.params.start_price // self.params.tick_size
        grid = 2 * start_ticks + 2 * self.params.margin_ticks()
        return 0, (grid - 1) * self.params.tick_size

    def expected_events(self) -> int:
        """Rough expected number of events of the day."""
        return expected_events(self.params, self.duration_s, self.activity)

    def chunks(self, progress: bool | None = None) -> Iterator[dict[str, np.ndarray]]:
        """The day's events in time order, as chunks of tape columns (``ts_ns``, ``kind``, ``side``, ``price``,
        ``size``, ``order_id``; at most a few hundred thousand events each). ``progress``: show a tqdm bar over
        the session's seconds (default: only for large days)."""
        p, dur = self.params, self.duration_s
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed)))
        news_sign = 1.0 if rng.random() < 0.5 else -1.0
        fp, ip, grid, n_open = _pack(p, dur, news_sign, self.activity, self.planted)
        planted = self._planted_arrays()
        pk, ch_f, ch_i, par_f, par_i, rec = planted
        fills: list[tuple[np.ndarray, ...]] = []
        self._planted_out = None

        state = K.new_state(grid, 1 << 16)
        fs = np.zeros(K.N_FS)
        fs[K.F_MID] = p.start_price / p.tick_size
        lat = self._latent_ticks(fp, ip)
        st = np.zeros(K.N_ST, np.int64)
        st[K.S_NEXT_OID] = 1
        st[K.S_BEST_BID] = st[K.S_BEST_ASK] = -1
        st[K.S_SEED_LEFT] = n_open

        show = self.expected_events() >= PROGRESS_MIN_EVENTS if progress is None else progress
        U = Z = np.empty((0, 0))
        offset, done, events = 0, False, 0
        with tqdm(total=round(dur), unit="s", desc=f"generating {self.regime}", disable=not show,
                  leave=False) as bar:
            while not done:
                if offset >= len(U):
                    U = rng.random((DRAWS_PER_CHUNK, K.N_U))
                    Z = rng.standard_normal((DRAWS_PER_CHUNK, K.N_Z))
                    offset = 0
                if st[K.S_N_LIVE] + 2 > len(state["o_size"]):
                    for key in K.ORDER_ARRAYS:
                        state[key] = np.concatenate([state[key], np.zeros_like(state[key])])
                cap = 4 * DRAWS_PER_CHUNK + 2 * int(st[K.S_N_LIVE])
                out = (np.empty(cap, np.int64), np.empty(cap, np.int8), np.empty(cap, np.int8),
                       np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.int64))
                offset, n, done = K.run(U, Z, offset, fp, ip, fs, st, state["head"], state["tail"], state["vol"],
                                        *(state[k] for k in K.ORDER_ARRAYS), *out, *planted, lat)
                ts, kind, side, tick, size, oid = (a[:n] for a in out)
                if st[K.S_N_REC]:
                    fills.append(self._child_fills(rec[: st[K.S_N_REC]], ch_i, ts, tick, size))
                    st[K.S_N_REC] = 0
                events += n
                bar.set_postfix_str(f"{events:,} events", refresh=False)
                bar.update(int(fs[K.F_T]) - bar.n)
                if n:
                    yield {"ts_ns": ts + self.open_ns, "kind": kind, "side": side, "price": tick * p.tick_size,
                           "size": size, "order_id": oid}
        if self.plan is not None:
            parent, ts, tick, size = ([np.concatenate(c) for c in zip(*fills)] if fills
                                      else [np.zeros(0, np.int64)] * 4)
            self._planted_out = {"parent": parent, "ts_ns": ts + self.open_ns, "price": tick * p.tick_size,
                                 "size": size, "latent": par_f[:, 2:4] * p.tick_size, "filled": par_i[:, 1].copy()}

    def _latent_ticks(self, fp: np.ndarray, ip: np.ndarray) -> np.ndarray:
        """The kernel's latent price array (ticks; empty on a plain day), after switching ``ip`` to it."""
        if self.latent is None:
            return np.zeros(0)
        lat = self.latent.ticks(self.latent.steps_for(self.duration_s))
        lo, hi = float(lat.min()), float(lat.max())
        if lo < fp[K.P_M_LO] or hi > fp[K.P_M_HI]:
            tick = self.params.tick_size
            raise ConfigError(f"latent path {self.latent.tag()} reaches {lo * tick:.0f}..{hi * tick:.0f} (price "
                              f"units), outside this venue's price grid {fp[K.P_M_LO] * tick:.0f}.."
                              f"{fp[K.P_M_HI] * tick:.0f} (depth_levels and spread_ticks set its margins); use "
                              "shallower depth or another latent seed")
        ip[K.I_LATENT] = 1
        ip[K.I_LAT_STEP_NS] = self.latent.step_ns
        ip[K.I_TRACK] = int(self.track)
        return lat

    def latent_price(self, ts_ns: np.ndarray | int) -> np.ndarray:
        """The shared latent price (price units, float) in force at tape timestamps ``ts_ns`` (ns since the
        epoch, at or after the open): what this day's events at those times quoted around."""
        if self.latent is None:
            raise ConfigError("this day has no latent path: latent_price needs "
                              "DayGenerator(..., latent=LatentPath(...))")
        return self.latent.price_at(np.asarray(ts_ns, dtype=np.int64) - self.open_ns)

    def _planted_arrays(self) -> tuple[np.ndarray, ...]:
        """The kernel's planted arrays (module docstring of :mod:`~tickreplay.adapters.synthetic_kernel`);
        empty ones on a plain day."""
        pl, imp = self.plan, self.planted
        if imp is None:
            return (np.zeros((3, 0)), np.zeros((0, 4)), np.zeros((0, 4), np.int64), np.zeros((0, 4)),
                    np.zeros((0, 5), np.int64), np.zeros((0, 3), np.int64))
        decay, weight = M.kernel_exponentials(imp.beta, imp.lag0)
        pk = np.vstack([decay, weight, np.zeros_like(decay)])
        n = len(pl.side)
        par_f = np.zeros((n, 4))
        par_f[:, 0] = imp.Y * pl.sigma_daily / pl.adv ** imp.delta
        par_i = np.zeros((n, 5), np.int64)
        par_i[:, 0] = pl.side
        par_i[:, 3] = pl.target
        return pk, pl.ch_f, pl.ch_i, par_f, par_i, np.zeros((len(pl.ch_f), 3), np.int64)

    @staticmethod
    def _child_fills(rec: np.ndarray, ch_i: np.ndarray, ts: np.ndarray, tick: np.ndarray,
                     size: np.ndarray) -> tuple[np.ndarray, ...]:
        """(parent, ts from the open, tick, size) of the executions the children in ``rec`` wrote."""
        rows = np.concatenate([np.arange(a, b) for a, b, _ in rec])
        parent = np.repeat(ch_i[rec[:, 2], 0], rec[:, 1] - rec[:, 0])
        return parent, ts[rows], tick[rows], size[rows]

    def _generated(self) -> dict[str, np.ndarray]:
        if self.plan is None:
            raise ConfigError("this day has no hidden trader: desk fills and metaorders need planted=PlantedImpact(...)")
        if self._planted_out is None:
            raise ConfigError("the day has not been generated yet: run chunks() (or tape()) to the end first")
        return self._planted_out

    def parent_ids(self) -> list[str]:
        """The hidden trader's parent ids: ``<date>-<symbol>-<index>`` (unique across generated days)."""
        return [f"{self.instrument.date}-{self.instrument.symbol}-{j:04d}" for j in range(len(self.plan.side))]

    def desk_fills(self) -> pa.Table:
        """The hidden trader's executions in the desk fills format (:func:`~tickreplay.adapters.metaorders.fills_table`)."""
        out, pl = self._generated(), self.plan
        arrival = self.open_ns + (pl.start_s * 1e9).astype(np.int64)
        return M.fills_table(self.instrument.symbol, self.key, self.parent_ids(), out["parent"], out["ts_ns"],
                             pl.side[out["parent"]], out["price"], out["size"], arrival, pl.adv, pl.sigma_daily)

    def metaorders(self) -> pa.Table:
        """The truth per parent (:func:`~tickreplay.adapters.metaorders.metaorders_table`)."""
        out, pl = self._generated(), self.plan
        n = len(pl.side)
        end = np.full(n, -1, np.int64)
        np.maximum.at(end, out["parent"], out["ts_ns"])
        arrival = self.open_ns + (pl.start_s * 1e9).astype(np.int64)
        return M.metaorders_table(self.parent_ids(), pl, self.planted, out["filled"], arrival, end,
                                  np.bincount(out["parent"], minlength=n), out["latent"])

    def tape(self, progress: bool | None = None) -> Tape:
        """The whole day as one tape."""
        parts = list(self.chunks(progress))
        cols = {k: np.concatenate([c[k] for c in parts]) for k in parts[0]}
        return Tape.from_columns(self.instrument, extra_meta=self.meta, **cols)


def generate_day(
    params: MarketParams | str,
    seed: int,
    date: str = "2024-01-02",
    symbol: str | None = None,
    duration_s: float | None = None,
    progress: bool | None = None,
    activity: float | None = None,
    planted: M.PlantedImpact | None = None,
    metaorders: int | M.HiddenTrader | None = None,
    latent: LatentPath | None = None,
) -> Tape:
    """Generate one session of L3 order flow as a tape.

    ``params``: a :class:`MarketParams` or a regime name from :data:`REGIMES`.
    ``duration_s``: generate only the first seconds of the session (default:
    all of it). ``symbol``: an optional name put in front of the instrument
    symbol, which is always :func:`synthetic_symbol` of the inputs (so the
    tape's catalog key is :func:`synthetic_key`). ``activity``: a positive
    multiplier of every event rate of the regime (default 1). ``progress``:
    show a tqdm bar (default: only for large days). ``planted``/``metaorders``: a
    day with planted impact (:class:`DayGenerator`; use it to get the fills too). ``latent``: quote around a
    shared :class:`~tickreplay.adapters.latent.LatentPath` (correlated venues of one instrument).
    Kinds used: ADD, PARTIAL_CANCEL, DELETE, EXECUTE_VISIBLE, EXECUTE_HIDDEN.
    For days too large to hold, use :class:`DayGenerator` and its chunks.
    """
    return DayGenerator(params, seed, date, symbol, duration_s, activity, planted, metaorders,
                        latent=latent).tape(progress)
