"""Scenario files: one TOML file fully describes a run (schema in docs/scenarios.md).

:func:`load_scenario` / :func:`parse_scenario` turn the TOML into a frozen
:class:`Scenario`. Every table is checked against its schema: an unknown key
or a value of the wrong type is a :class:`~tickreplay.errors.ConfigError`
naming the key's path (``schedule.participation``). Times stay as written
(``"HH:MM:SS"`` local time of the data's day, ``"-1d HH:MM:SS"`` on the
calendar day before it, or int ns UTC) until the data is known:
:func:`resolve_time`. Relative file paths are kept as written and
resolved against :attr:`Scenario.base_dir` (the scenario file's folder).
"""

from __future__ import annotations

import numbers
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, ClassVar, TypeVar

from tickreplay.clock import TimeSpec, parse_local, resolve_time
from tickreplay.errors import ConfigError
from tickreplay.exchange import FeeSchedule
from tickreplay.impact.replay_impact import ImpactModel
from tickreplay.latency import LATENCY_MODELS, Constant, LatencyModel
from tickreplay.schedule.base import STYLES

SCHEDULE_KINDS = ("twap", "vwap", "pov", "almgren_chriss", "strategy")
OVERLAY_KINDS = ("twap", "vwap", "almgren_chriss")  # schedules with a child list the overlay can delay
QUEUE_MODELS = ("risk_averse", "probabilistic")
QUEUE_SHAPES = ("power", "log")

# -- checking values ------------------------------------------------------------------------------

def _fail(path: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"scenario key '{path}': expected {expected}, got {value!r}")


def _int(path: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise _fail(path, "an integer", v)
    return int(v)


def _pos_int(path: str, v: Any) -> int:
    if _int(path, v) <= 0:
        raise _fail(path, "a positive integer", v)
    return int(v)


def _num(path: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise _fail(path, "a number", v)
    return float(v)


def _pos_num(path: str, v: Any) -> float:
    if _num(path, v) <= 0:
        raise _fail(path, "a positive number", v)
    return float(v)


def _nonneg_num(path: str, v: Any) -> float:
    if _num(path, v) < 0:
        raise _fail(path, "a non-negative number", v)
    return float(v)


def _str(path: str, v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise _fail(path, "a non-empty string", v)
    return v


def _nonneg_int(path: str, v: Any) -> int:
    if _int(path, v) < 0:
        raise _fail(path, "a non-negative integer", v)
    return int(v)


def _text(path: str, v: Any) -> str:
    if not isinstance(v, str):
        raise _fail(path, "a string", v)
    return v


def _bool(path: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise _fail(path, "true or false", v)
    return v


def _table(path: str, v: Any) -> dict:
    if not isinstance(v, dict):
        raise _fail(path, "a table", v)
    return v


def _one_of(choices: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(path: str, v: Any) -> str:
        if v not in choices:
            raise _fail(path, "one of " + ", ".join(repr(c) for c in choices), v)
        return v
    return check


def _fraction(path: str, v: Any) -> float:
    x = _num(path, v)
    if not 0 < x <= 1:
        raise _fail(path, "a fraction in (0, 1]", v)
    return x


def _time(path: str, v: Any) -> TimeSpec:
    if isinstance(v, str):
        parse_local(v, f"scenario key '{path}'")
        return v
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise _fail(path, '"HH:MM:SS" local time (or "-1d HH:MM:SS", the day before) or an integer of ns UTC', v)
    return int(v)


def _fields(path: str, table: Any, spec: dict[str, Callable[[str, Any], Any]]) -> dict[str, Any]:
    """Check ``table`` against ``spec`` (key → checker); unknown keys are errors naming their path."""
    table = _table(path or "scenario", table)
    out = {}
    for key, value in table.items():
        kpath = f"{path}.{key}" if path else key
        if key not in spec:
            known = ", ".join(sorted(spec))
            raise ConfigError(f"unknown scenario key '{kpath}' (known here: {known})")
        out[key] = spec[key](kpath, value)
    return out


def _params(path: str, v: Any) -> dict:
    """A free table of keyword arguments (user strategy, model coefficients)."""
    return dict(_table(path, v))


# -- the sections ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class LobsterFiles:
    message: str
    orderbook: str
    symbol: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class SyntheticDay:
    regime: str
    seed: int = 1
    duration_s: float | None = None
    date: str = "2024-01-02"


@dataclass(frozen=True)
class DataSpec:
    """Exactly one source: ``catalog`` key, ``lobster`` files, or a ``synthetic`` day; an optional window."""

    catalog: str | None = None
    catalog_root: str | None = None  # None: tickreplay.catalog.default_root() ($TICKREPLAY_CATALOG, else ./replay)
    lobster: LobsterFiles | None = None
    synthetic: SyntheticDay | None = None
    start: TimeSpec | None = None
    end: TimeSpec | None = None
    levels: int = 5
    strict: bool = True


@dataclass(frozen=True)
class ParentSpec:
    side: int
    quantity: int
    start: TimeSpec
    end: TimeSpec
    arrival: TimeSpec | None = None  # the decision time whose mid is the benchmark; default: start


@dataclass(frozen=True, kw_only=True)
class ChildStyle:
    """How a schedule's child orders are sent (every kind of schedule has these keys)."""

    style: str = "market"
    offset_ticks: int = 0
    cancel_replace_after_s: float = 30.0
    max_replaces: int | None = None
    finish_with_market: bool = False
    lot_size: int | None = None  # default: the instrument's


@dataclass(frozen=True, kw_only=True)
class TwapSchedule(ChildStyle):
    """Equal children at equal intervals: ``n_children`` or ``interval_s`` (exactly one)."""

    kind: ClassVar[str] = "twap"
    n_children: int | None = None
    interval_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class VwapSchedule(ChildStyle):
    """Children following a volume profile: the same day's, or one from catalog keys, in bins of minutes."""

    kind: ClassVar[str] = "vwap"
    profile: str | tuple[str, ...] = "same_day"
    profile_bin_min: float = 30.0


@dataclass(frozen=True, kw_only=True)
class PovSchedule(ChildStyle):
    """Participation of volume: ``participation`` (fraction) of the volume the trader sees, children in bounds."""

    kind: ClassVar[str] = "pov"
    participation: float
    min_child: int
    max_child: int


@dataclass(frozen=True, kw_only=True)
class AlmgrenChrissSchedule(ChildStyle):
    """The Almgren–Chriss trajectory in ``n_children`` periods for risk aversion λ (1/$)."""

    kind: ClassVar[str] = "almgren_chriss"
    n_children: int
    risk_aversion: float = 0.0
    sigma: float | None = None  # $/share/day^0.5 (default: from the data)
    eta: float | None = None  # $·day/share² (default: the canonical model's mapping)


@dataclass(frozen=True, kw_only=True)
class UserStrategy(ChildStyle):
    """A user strategy class ``"module:Class"`` built with ``params`` as keyword arguments."""

    kind: ClassVar[str] = "strategy"
    strategy: str
    params: dict = field(default_factory=dict, hash=False, compare=False)


ScheduleSpec = TwapSchedule | VwapSchedule | PovSchedule | AlmgrenChrissSchedule | UserStrategy
SCHEDULE_TYPES: dict[str, type] = {t.kind: t for t in (TwapSchedule, VwapSchedule, PovSchedule,
                                                      AlmgrenChrissSchedule, UserStrategy)}


@dataclass(frozen=True)
class LatencySpec:
    """The three latency models (see :mod:`tickreplay.latency`), parsed from the scenario's tables."""

    market_data: LatencyModel = Constant(0)
    order_entry: LatencyModel = Constant(0)
    response: LatencyModel = Constant(0)
    allow_overtaking: bool = False


@dataclass(frozen=True)
class QueueSpec:
    model: str = "risk_averse"
    shape: str = "power"
    exponent: float = 2.0


@dataclass(frozen=True)
class PreTradeSpec:
    model: str = "canonical"
    params: dict = field(default_factory=dict, hash=False, compare=False)
    adv: float | None = None  # given inputs; default: estimated from the data
    daily_vol: float | None = None
    spread_bps: float | None = None
    shares_outstanding: float | None = None  # the almgren2005 model needs it
    participation: float | None = None  # default: pov rate, else quantity over the window's volume


@dataclass(frozen=True)
class OverlaySpec:
    """The micro-delay overlay: a saved delay model (folder, relative to the scenario file) and its limits."""

    model: str
    max_delay_s: float
    delays_s: tuple[float, ...] | None = None  # must equal the model's grid; default: the model's
    margin_bps: float | None = None  # wait only if the predicted saving exceeds this; default: the model's
    enabled: bool = True

    @property
    def active(self) -> bool:
        """Whether runs delay children at all (enabled and a positive max delay)."""
        return self.enabled and self.max_delay_s > 0


@dataclass(frozen=True)
class VenueSpec:
    """One ``[[venues]]`` entry: a venue of the instrument with its own tape, fees, latency and queue model.

    Its tape is a ``catalog`` key, or (``[data]`` synthetic) a ``share`` of the generated day's orders, or its own
    generated flow on the instrument's latent price (``generator``: a
    :class:`tickreplay.venues.generate.VenueGenerator`); :mod:`tickreplay.venues.generate`."""

    name: str
    catalog: str | None = None
    share: float | None = None
    generator: Any = None  # tickreplay.venues.generate.VenueGenerator (its module imports the generator)
    fees: FeeSchedule = FeeSchedule()
    latency: LatencySpec = LatencySpec()
    queue: QueueSpec = QueueSpec()


@dataclass(frozen=True)
class RouterSpec:
    """The ``[router]`` table: the routing policy of a multi-venue run (:mod:`tickreplay.venues.router_strategy`)."""

    policy: str
    venue: str | None = None
    horizon_s: float = 30.0
    lambda_under_ticks: float = 4.0
    lambda_over_ticks: float = 4.0
    n_windows: int = 40


@dataclass(frozen=True)
class Scenario:
    name: str
    data: DataSpec
    schedule: ScheduleSpec
    parent: ParentSpec | None = None
    latency: LatencySpec = LatencySpec()
    queue: QueueSpec = QueueSpec()
    fees: FeeSchedule = FeeSchedule()
    pretrade: PreTradeSpec | None = None
    overlay: OverlaySpec | None = None
    impact: ImpactModel | None = None  # the impact-adjusted replay; None: model "none", the replay does not react
    seed: int = 0
    venues: tuple[VenueSpec, ...] = ()  # several venues of the instrument; empty: the one venue of [data]
    router: RouterSpec | None = None  # how a multi-venue run routes the children (required with venues)
    pnl_step_s: float = 60.0
    description: str = ""
    base_dir: str = "."  # where relative paths resolve (the scenario file's folder)
    raw: dict = field(default_factory=dict, hash=False, compare=False, repr=False)  # the TOML as read
    source: str | None = field(default=None, compare=False)  # the file it was read from (errors name it)
    sweep: dict = field(default_factory=dict, hash=False, compare=False)  # a grid run's dotted keys → values

    def path(self, p: str) -> Path:
        """A path of the scenario resolved against its folder."""
        q = Path(p).expanduser()
        return q if q.is_absolute() else Path(self.base_dir) / q

    def where(self) -> str:
        """How errors name this scenario: its file (and grid combination), else its name."""
        label = ",".join(f"{k.split('.')[-1]}={v}" for k, v in self.sweep.items())
        return f"{self.source or self.name}" + (f" [{label}]" if label and self.source else "")

    def spec(self) -> dict:
        """What the run depends on, defaults filled in, as plain JSON-ready values: every field but the name,
        description, where the file lies and where its data is stored (the data's fingerprint stands for those)."""
        out = _plain(self)
        for k in ("name", "description", "base_dir", "raw", "source", "sweep"):
            out.pop(k)
        for k in ("catalog", "catalog_root", "lobster"):
            out["data"].pop(k)
        if self.overlay is not None and not self.overlay.active:
            out["overlay"] = None  # an inactive overlay runs the static run, byte for byte: the same run
        if self.impact is None:
            out.pop("impact")  # no [impact] or model "none": the run (and its id) of a scenario without one
        if not self.venues:  # a one-venue scenario: its run (and id) as before [[venues]] existed
            out.pop("venues")
            out.pop("router")
        for v in out.get("venues", ()):
            if v["generator"] is None:  # catalog and share venues: their runs (and ids) as before generated venues
                v.pop("generator")
        return out


def _plain(v: Any) -> Any:
    """Dataclasses (with their type name), tuples, numpy arrays → dicts, lists and scalars."""
    if hasattr(v, "__dataclass_fields__"):
        return {"type": type(v).__name__, **{f: _plain(getattr(v, f)) for f in v.__dataclass_fields__}}
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if hasattr(v, "tolist"):  # numpy arrays and scalars
        return v.tolist()
    return v


# -- parsing --------------------------------------------------------------------------------------

_UNITS_NS = {"_ns": 1, "_us": 1_000, "_ms": 1_000_000}
_LATENCY_KEYS = {  # model → its duration parameters (each given as <name>_ns, _us or _ms) and whether required
    "constant": {"latency": True},
    "normal": {"mean": True, "jitter": True},
    "lognormal": {"median": True, "jitter": True},
    "empirical": {"jitter": False},
    "burst": {"base": True, "per_msg": True, "window": True, "jitter": False},
}


def duration_ns(path: str, v: Any) -> int:
    """A non-negative duration in ns of a value whose key ends in ``_ns``, ``_us`` or ``_ms`` (the unit)."""
    unit = next((u for u in _UNITS_NS if path.endswith(u)), None)
    if unit is None:
        raise ConfigError(f"scenario key '{path}': a duration key ends in _ns, _us or _ms")
    return round(_nonneg_num(path, v) * _UNITS_NS[unit])


def _ns_list(path: str, v: Any) -> tuple[int, ...]:
    if not isinstance(v, list) or not v:
        raise _fail(path, "a non-empty list of integers (ns)", v)
    return tuple(_int(f"{path}[{k}]", x) for k, x in enumerate(v))


def parse_latency(path: str, v: Any) -> LatencyModel:
    """A latency model: a bare number is constant milliseconds; a table names its ``model`` and parameters."""
    if isinstance(v, bool):
        raise _fail(path, "milliseconds or a latency table", v)
    if isinstance(v, numbers.Real):
        return Constant(round(_nonneg_num(path, v) * 1_000_000))
    table = dict(_table(path, v))
    name = _one_of(tuple(_LATENCY_KEYS))(f"{path}.model", table.pop("model", None))
    params, kw = _LATENCY_KEYS[name], {}
    for key, value in table.items():
        base = key[:-3] if key[-3:] in _UNITS_NS else None
        if name == "empirical" and key in ("times_ns", "latencies_ns"):
            kw[key] = _ns_list(f"{path}.{key}", value)
        elif base in params and f"{base}_ns" not in kw:
            kw[f"{base}_ns"] = duration_ns(f"{path}.{key}", value)
        else:
            known = [f"{p}_ms" for p in params] + (["times_ns", "latencies_ns"] if name == "empirical" else [])
            raise ConfigError(f"unknown or repeated scenario key '{path}.{key}' for latency model '{name}' "
                              f"(known: {', '.join(known)}; durations in _ns, _us or _ms)")
    missing = [f"{p}_ms" for p, required in params.items() if required and f"{p}_ns" not in kw]
    if name == "empirical":
        missing += [k for k in ("times_ns", "latencies_ns") if k not in kw]
    if missing:
        raise ConfigError(f"scenario key '{path}': latency model '{name}' needs {', '.join(missing)}")
    try:
        return LATENCY_MODELS[name](**kw)
    except ConfigError as err:
        raise ConfigError(f"scenario key '{path}': {err}") from None


def _side(path: str, v: Any) -> int:
    if v in ("buy", "sell"):
        return 1 if v == "buy" else -1
    raise _fail(path, "'buy' or 'sell'", v)


def _profile(path: str, v: Any) -> str | tuple[str, ...]:
    if v == "same_day":
        return v
    if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
        return tuple(v)
    raise _fail(path, "'same_day' or a list of catalog keys", v)


def _data(path: str, v: Any) -> DataSpec:
    d = _fields(path, v, {
        "catalog": _str, "catalog_root": _str, "start": _time, "end": _time, "levels": _pos_int, "strict": _bool,
        "lobster": lambda p, x: LobsterFiles(**_fields(p, x, {"message": _str, "orderbook": _str, "symbol": _str,
                                                             "date": _str})),
        "synthetic": lambda p, x: SyntheticDay(**_fields(p, x, {"regime": _str, "seed": _int,
                                                               "duration_s": _pos_num, "date": _str})),
    })
    sources = [k for k in ("catalog", "lobster", "synthetic") if k in d]
    if len(sources) != 1:
        raise ConfigError(f"scenario key '{path}': give exactly one of catalog, lobster, synthetic (got "
                          f"{', '.join(sources) or 'none'})")
    if "lobster" in d and not ({"message", "orderbook"} <= set(v["lobster"])):
        raise ConfigError(f"scenario key '{path}.lobster': needs both 'message' and 'orderbook'")
    if "synthetic" in d and "regime" not in v["synthetic"]:
        raise ConfigError(f"scenario key '{path}.synthetic.regime' is required")
    if "start" in d and "end" in d:
        check_order(path, "start", d["start"], "end", d["end"])
    return DataSpec(**d)


def parse_data(table: dict) -> DataSpec:
    """The ``[data]`` table alone (checked as in a scenario)."""
    return _data("data", table)


def _required(path: str, table: dict, keys: tuple[str, ...]) -> None:
    for k in keys:
        if k not in table:
            raise ConfigError(f"scenario key '{path}.{k}' is required")


def _parent(path: str, v: Any) -> ParentSpec:
    d = _fields(path, v, {"side": _side, "quantity": _pos_int, "start": _time, "end": _time, "arrival": _time})
    _required(path, d, ("side", "quantity", "start", "end"))
    return ParentSpec(**d)


_CHILD_STYLE = {
    "style": _one_of(STYLES), "offset_ticks": _int, "cancel_replace_after_s": _pos_num, "max_replaces": _nonneg_int,
    "finish_with_market": _bool, "lot_size": _pos_int,
}
_KIND_KEYS: dict[str, dict[str, Callable[[str, Any], Any]]] = {
    "twap": {"n_children": _pos_int, "interval_s": _pos_num},
    "vwap": {"profile": _profile, "profile_bin_min": _pos_num},
    "pov": {"participation": _fraction, "min_child": _pos_int, "max_child": _pos_int},
    "almgren_chriss": {"n_children": _pos_int, "risk_aversion": _nonneg_num, "sigma": _pos_num, "eta": _pos_num},
    "strategy": {"strategy": _str, "params": _params},
}
_REQUIRED = {"pov": ("participation", "min_child", "max_child"), "almgren_chriss": ("n_children",),
             "strategy": ("strategy",)}


def _schedule(path: str, v: Any) -> ScheduleSpec:
    table = _table(path, v)
    if "kind" not in table:
        raise ConfigError(f"scenario key '{path}.kind' is required")
    kind = _one_of(SCHEDULE_KINDS)(f"{path}.kind", table["kind"])
    own = _KIND_KEYS[kind]
    for key in table:
        if key != "kind" and key not in own and any(key in keys for keys in _KIND_KEYS.values()):
            raise ConfigError(f"scenario key '{path}.{key}' does not apply to schedule kind '{kind}' "
                              f"(its keys: {', '.join(own)})")
    d = _fields(path, {k: x for k, x in table.items() if k != "kind"}, {**_CHILD_STYLE, **own})
    _required(path, d, _REQUIRED.get(kind, ()))
    if kind == "twap" and ("n_children" in d) == ("interval_s" in d):
        raise ConfigError(f"scenario keys '{path}.n_children' / '{path}.interval_s': give exactly one for twap")
    if kind == "strategy" and ":" not in d["strategy"]:
        raise _fail(f"{path}.strategy", "'module.path:ClassName'", d["strategy"])
    return SCHEDULE_TYPES[kind](**d)


def _delays_s(path: str, v: Any) -> tuple[float, ...]:
    if not isinstance(v, list) or not v:
        raise _fail(path, "a non-empty list of seconds", v)
    out = tuple(_nonneg_num(f"{path}[{k}]", x) for k, x in enumerate(v))
    if any(b <= a for a, b in zip(out, out[1:])):
        raise _fail(path, "increasing seconds", v)
    return out


def _overlay(path: str, v: Any) -> OverlaySpec:
    d = _fields(path, v, {"model": _str, "max_delay_s": _nonneg_num, "delays_s": _delays_s,
                          "margin_bps": _nonneg_num, "enabled": _bool})
    _required(path, d, ("model", "max_delay_s"))
    return OverlaySpec(**d)


_IMPACT_KEYS: dict[str, dict[str, Callable[[str, Any], Any]]] = {
    "none": {},
    "propagator": {"G0": _nonneg_num, "permanent_bps": _nonneg_num, "trade_size": _pos_num},
    "sqrt": {"Y": _nonneg_num, "delta": _pos_num, "daily_vol": _pos_num, "adv": _pos_num},
}
_IMPACT_COMMON = {"calibration": _str, "clock": _one_of(("seconds", "trades")), "beta": _nonneg_num,
                  "tau0": _pos_num}
_IMPACT_REQUIRED = {"propagator": ("G0", "beta", "tau0"), "sqrt": ("Y", "delta", "beta", "tau0")}
#: calibration file parameter → [impact] key, per model (a propagator's lag0 is in tape trades)
_CALIBRATION_KEYS = {"propagator": {"G0": "G0", "beta": "beta", "lag0": "tau0", "permanent_bps": "permanent_bps"},
                     "sqrt": {"Y": "Y", "delta": "delta"}}


def _impact(path: str, v: Any, base_dir: str | Path) -> ImpactModel | None:
    """The ``[impact]`` table (docs/scenarios.md): None for model "none"; a calibration file's parameters merged
    with the inline keys (a parameter given both ways is an error)."""
    table = _table(path, v)
    model = _one_of(("none", "propagator", "sqrt"))(f"{path}.model", table.get("model", "none"))
    own = {**_IMPACT_COMMON, **_IMPACT_KEYS[model]} if model != "none" else {}
    known = {*_IMPACT_COMMON, *(k for keys in _IMPACT_KEYS.values() for k in keys)}
    for key in table:
        if key != "model" and key not in own and key in known:
            raise ConfigError(f"scenario key '{path}.{key}' does not apply to impact model '{model}'"
                              + (f" (its keys: {', '.join(own)})" if own else " (it has no parameters)"))
    d = _fields(path, {k: x for k, x in table.items() if k != "model"}, own)
    if model == "none":
        return None
    if "calibration" in d:
        from tickreplay.errors import InputError
        from tickreplay.impact.calibration import read_calibration

        file = Path(d["calibration"]).expanduser()
        file = file if file.is_absolute() else Path(base_dir) / file
        if not file.is_file():
            raise ConfigError(f"scenario key '{path}.calibration': no calibration file {file}")
        try:
            cal = read_calibration(file, kind=model)
        except InputError as err:
            raise ConfigError(f"scenario key '{path}.calibration': {err}") from None
        for name, key in _CALIBRATION_KEYS[model].items():
            if name not in cal.params:
                continue
            if key in d:
                raise ConfigError(f"scenario key '{path}.{key}': also given by the calibration file {file} "
                                  f"(params.{name} = {cal.params[name]!r}); give it in one place only")
            d[key] = _nonneg_num(f"{path}.calibration: params.{name}", cal.params[name])
        if model == "propagator" and "lag0" in cal.params:
            if d.get("clock", "trades") != "trades":
                raise ConfigError(f"scenario key '{path}.clock': the propagator calibration {file} counts its lag0 "
                                  f"in tape trades; use clock = \"trades\" (or no calibration file)")
            d["clock"] = "trades"
            # the calibration's G(l) (l >= 1) is the mid just before the l-th next trade; the replay's G(tau) is
            # in force tau trades after our own trade: G_replay(tau) = G(tau + 1) exactly, i.e. amplitude
            # G0 (1 + 1/lag0)^-beta and scale lag0 + 1 (docs/impact_replay.md)
            lag0 = d["tau0"]
            d["G0"] = d["G0"] * (1.0 + 1.0 / lag0) ** -d["beta"]
            d["tau0"] = lag0 + 1.0
    missing = [k for k in _IMPACT_REQUIRED[model] if k not in d]
    if missing:
        raise ConfigError(f"scenario key '{path}.{missing[0]}' is required for impact model '{model}' "
                          f"(inline or from a calibration file; missing: {', '.join(missing)})")
    if not d["tau0"] > 0:
        raise _fail(f"{path}.tau0", "a positive number", d["tau0"])
    return ImpactModel(model=model, **d)


def _latency_table(p: str, x: Any) -> LatencySpec:
    return LatencySpec(**_fields(p, x, {"market_data": parse_latency, "order_entry": parse_latency,
                                        "response": parse_latency, "allow_overtaking": _bool}))


def _queue_table(p: str, x: Any) -> QueueSpec:
    return QueueSpec(**_fields(p, x, {"model": _one_of(QUEUE_MODELS), "shape": _one_of(QUEUE_SHAPES),
                                      "exponent": _pos_num}))


def _fee_table(p: str, x: Any) -> FeeSchedule:
    return FeeSchedule(**_fields(p, x, {k: _num for k in ("maker_bps", "taker_bps", "maker_per_unit",
                                                          "taker_per_unit")}))


ROUTER_POLICIES = ("single", "best", "cont-kukanov")


VENUE_MODES = {"catalog": "a catalog tape ('catalog')", "share": "a share of one generated day ('share')",
               "generator": "its own generated flow ('seed', 'regime', ...)"}


def venue_mode(v: VenueSpec) -> str:
    """How a venue's tape is made: ``catalog``, ``share`` or ``generator``."""
    return "catalog" if v.catalog is not None else "share" if v.share is not None else "generator"


def _venues(path: str, v: Any) -> tuple[VenueSpec, ...]:
    """The ``[[venues]]`` array: names unique, each a ``catalog`` tape, a ``share`` of one generated day or a
    generated flow (:data:`tickreplay.venues.generate.GENERATOR_KEYS`), all venues alike."""
    from tickreplay.venues.generate import GENERATOR_KEYS, INSTRUMENT_FIELDS, venue_generator

    if not isinstance(v, list) or not v:
        raise _fail(path, "an array of tables ([[venues]])", v)
    own = {"name": _str, "catalog": _str, "share": _pos_num, "fees": _fee_table, "latency": _latency_table,
           "queue": _queue_table}
    out = []
    for k, entry in enumerate(v):
        p = f"{path}[{k}]"
        d = _fields(p, entry, {**own, **{key: lambda _, x: x for key in GENERATOR_KEYS + INSTRUMENT_FIELDS}})
        _required(p, d, ("name",))
        gen = {key: d.pop(key) for key in list(d) if key not in own}
        if ("catalog" in d) + ("share" in d) + bool(gen) != 1:
            raise ConfigError(f"scenario key '{p}': give exactly one of 'catalog' (the venue's tape), 'share' (its "
                              "share of a generated day's orders) or the venue's generator ('seed' with optional "
                              "'regime', 'activity', 'track' and MarketParams fields: its own flow on the "
                              "instrument's latent price)")
        if any(o.name == d["name"] for o in out):
            raise ConfigError(f"scenario key '{p}.name': venue {d['name']!r} appears twice")
        if gen:
            d["generator"] = venue_generator(gen, lambda key, p=p: f"scenario key '{p}.{key}'")
        out.append(VenueSpec(**d))
        mode, first = venue_mode(out[-1]), venue_mode(out[0])
        if mode != first:
            key = mode if mode != "generator" else next(iter(gen))
            raise ConfigError(f"scenario key '{p}.{key}': venue {d['name']!r} is {VENUE_MODES[mode]} but venue "
                              f"{out[0].name!r} is {VENUE_MODES[first]}: every venue of a scenario is made the "
                              "same way (catalog tapes, shares of one generated day, or generated flows on one "
                              "latent price)")
    return tuple(out)


def _router(path: str, v: Any) -> RouterSpec:
    d = _fields(path, v, {"policy": _one_of(ROUTER_POLICIES), "venue": _str, "horizon_s": _pos_num,
                          "lambda_under_ticks": _nonneg_num, "lambda_over_ticks": _nonneg_num,
                          "n_windows": _pos_int})
    _required(path, d, ("policy",))
    if (d["policy"] == "single") != ("venue" in d):
        raise ConfigError(f"scenario key '{path}.venue': " + ("required for policy 'single'" if d["policy"] == "single"
                                                              else f"applies to policy 'single' only"))
    return RouterSpec(**d)


def _check_venues(top: dict) -> None:
    """[[venues]] and [router] go together; shares need a generated [data] day; a single venue must exist."""
    venues, router = top.get("venues"), top.get("router")
    if router is not None and not venues:
        raise ConfigError("scenario table '[router]' needs '[[venues]]' (several venues of the instrument)")
    if not venues:
        return
    if router is None:
        raise ConfigError("scenario table '[router]' is required with '[[venues]]' (policy = \"single\", \"best\" or "
                          "\"cont-kukanov\")")
    if venues[0].share is not None and top["data"].synthetic is None:
        raise ConfigError("scenario key 'venues[0].share': venue shares split a generated day: give "
                          "[data.synthetic] (or a 'catalog' key per venue)")
    if venues[0].generator is not None:
        _check_generated_venues(top["data"], venues)
    if venues[0].catalog is not None and (top["data"].synthetic is not None or top["data"].lobster is not None):
        raise ConfigError("scenario key 'venues[0].catalog': venues with catalog keys read the catalog of [data]; "
                          "[data] then gives the window (start, end, levels, catalog_root) and its own 'catalog' key "
                          "(the first venue's)")
    if router.venue is not None and router.venue not in [v.name for v in venues]:
        raise ConfigError(f"scenario key 'router.venue': unknown venue {router.venue!r} (venues: "
                          f"{', '.join(v.name for v in venues)})")
    for key in ("impact", "overlay"):
        if key in top:
            raise ConfigError(f"scenario table '[{key}]' runs on one venue only; remove it or the '[[venues]]'")
    if top["schedule"].kind not in OVERLAY_KINDS:
        raise ConfigError(f"scenario key 'schedule.kind': a multi-venue run routes a schedule's children "
                          f"({', '.join(OVERLAY_KINDS)}), not '{top['schedule'].kind}'")


def _check_generated_venues(data: DataSpec, venues: tuple[VenueSpec, ...]) -> None:
    """Generated venues quote around the latent price of ``[data.synthetic]``'s instrument: it is required, and
    every venue's params must be valid on it."""
    from tickreplay.adapters.synthetic_regimes import REGIMES
    from tickreplay.venues.generate import check_generators

    if data.synthetic is None:
        raise ConfigError("scenario key 'venues[0].seed': generated venues quote around the latent price of one "
                          "generated instrument: give [data.synthetic] (regime: the instrument and its price; seed: "
                          "the latent path's; duration_s and date: the venues' day)")
    index = {v.name: k for k, v in enumerate(venues)}

    def key(name: str, k: str | None) -> str:
        return f"scenario key 'venues[{index[name]}]" + (f".{k}'" if k else "'")

    if data.synthetic.regime not in REGIMES:
        raise _fail("data.synthetic.regime", "one of " + ", ".join(repr(r) for r in REGIMES), data.synthetic.regime)
    check_generators({v.name: v.generator for v in venues}, data.synthetic.regime, key)


def parse_scenario(doc: dict, name: str | None = None, base_dir: str | Path = ".") -> Scenario:
    """A :class:`Scenario` from a parsed TOML document (see module docstring)."""
    top = _fields("", doc, {
        "name": _str, "description": _text,
        "seed": _int, "pnl_step_s": _pos_num, "data": _data, "parent": _parent, "schedule": _schedule,
        "latency": _latency_table, "queue": _queue_table, "fees": _fee_table,
        "pretrade": lambda p, x: PreTradeSpec(**_fields(p, x, {
            "model": _str, "params": _params, "adv": _pos_num, "daily_vol": _pos_num, "spread_bps": _nonneg_num,
            "shares_outstanding": _pos_num, "participation": _fraction})),
        "overlay": _overlay,
        "impact": lambda p, x: _impact(p, x, base_dir),
        "venues": _venues, "router": _router,
    })
    for key in ("data", "schedule"):
        if key not in top:
            raise ConfigError(f"scenario table '[{key}]' is required")
    if top["schedule"].kind != "strategy" and "parent" not in top:
        raise ConfigError(f"scenario table '[parent]' is required for schedule kind '{top['schedule'].kind}'")
    if "overlay" in top and top["schedule"].kind not in OVERLAY_KINDS:
        raise ConfigError(f"scenario table '[overlay]' applies to schedule kinds {', '.join(OVERLAY_KINDS)}, "
                          f"not '{top['schedule'].kind}'")
    if top.get("impact", 0) is None:
        del top["impact"]
    _check_venues(top)
    top.setdefault("name", name or "scenario")
    if "parent" in top:
        _check_parent_times(top["parent"])
    return Scenario(**top, base_dir=str(base_dir), raw=doc)


def _check_parent_times(p: ParentSpec) -> None:
    """start < end and arrival ≤ start, where the times can be compared before the data's day is known."""
    check_order("parent", "start", p.start, "end", p.end)
    if p.arrival is not None:
        check_order("parent", "arrival", p.arrival, "start", p.start, strict=False)


def check_order(path: str, first: str, a: TimeSpec, second: str, b: TimeSpec, strict: bool = True) -> None:
    """ConfigError unless ``path.second`` (``b``) after ``path.first`` (``a``), or not before it unless ``strict``, when the two can be
    compared before the data's day is known: both local times, or both ns UTC (one of each: when the data is)."""
    if isinstance(a, str) != isinstance(b, str):
        return
    x, y = (parse_local(a), parse_local(b)) if isinstance(a, str) else (a, b)
    if y < x or (strict and y == x):
        how = "after" if strict else "at or after"
        raise ConfigError(f"scenario key '{path}.{second}': expected a time {how} {path}.{first} ({a!r}), got {b!r}")


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file; its name defaults to the file name."""
    return load_toml(path, parse_scenario)


_Parsed = TypeVar("_Parsed")


def load_toml(path: str | Path, parse: Callable[[dict, str, Path], _Parsed]) -> _Parsed:
    """Read the TOML file ``path`` and check it with ``parse(document, file name stem, folder)``; the result (a
    dataclass with a ``source`` field) gets ``source=str(path)``. Errors start with the file's name."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    try:
        return replace(parse(doc, path.stem, path.parent), source=str(path))
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def with_overrides(doc: dict, overrides: dict[str, Any]) -> dict:
    """A copy of a scenario document with dotted keys (``schedule.participation``) set."""
    out = _deep_copy(doc)
    for dotted, value in overrides.items():
        keys = dotted.split(".")
        cur = out
        for k in keys[:-1]:
            nxt = cur.setdefault(k, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"grid key '{dotted}': '{k}' is not a table in the base scenario")
            cur = nxt
        cur[keys[-1]] = value
    return out


def _deep_copy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deep_copy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deep_copy(v) for v in d]
    return d
