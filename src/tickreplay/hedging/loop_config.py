"""The loop scenario: a TOML file with a ``[loop]`` table (schema in docs/loop.md), checked key by key.

Every key is checked with the scenario helpers of :mod:`tickreplay.experiment.scenario` (an unknown key or a
value of the wrong type is a :class:`~tickreplay.errors.ConfigError` naming the key's path, e.g.
``loop.update.half_life_days``); :func:`load_loop` prefixes the file name. The planted impact of a generated
regime and the response of catalog tapes are ``[impact]`` tables (docs/scenarios.md), parsed by the same code
as a run's ``[impact]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tickreplay.errors import ConfigError
from tickreplay.experiment import scenario as S
from tickreplay.hedging.regimes import RegimeRules, rules_from_config
from tickreplay.impact.replay_impact import ImpactModel

POLICIES = ("static", "daily", "regime")
MARKETS = ("impact-replay", "reactive")  # how a generated day responds to our hedges (docs/loop.md)
UPDATE_EVERY = ("hedge", "day")
NS = 1_000_000_000

#: planted response per generated regime when the scenario gives none: a propagator in seconds, linear in the
#: size (bps of the reference mid per ``trade_size`` shares), with a permanent part (AC's gamma, docs/loop.md)
DEFAULT_PLANTED: dict[str, dict[str, Any]] = {
    "liquid_large_cap": {"model": "propagator", "G0": 1.0, "permanent_bps": 0.5, "trade_size": 1000.0,
                         "beta": 0.5, "tau0": 60.0},
    "high_volatility": {"model": "propagator", "G0": 3.0, "permanent_bps": 1.5, "trade_size": 1000.0,
                        "beta": 0.5, "tau0": 60.0},
    "thin_small_cap": {"model": "propagator", "G0": 6.0, "permanent_bps": 3.0, "trade_size": 1000.0,
                       "beta": 0.5, "tau0": 60.0},
    "news_spike": {"model": "propagator", "G0": 2.0, "permanent_bps": 1.0, "trade_size": 1000.0,
                   "beta": 0.5, "tau0": 60.0},
}

#: planted impact per regime in the reactive market (``market = "reactive"``) when the scenario gives none: the
#: generator's :class:`~tickreplay.adapters.metaorders.PlantedImpact` keys. ``delta = 1`` and ``beta = 0`` make
#: the planted law exactly Almgren–Chriss's permanent impact, ``gamma = Y·σ_daily·mid/V`` ($/share²), with no
#: decay and no background propagator (``G0 = 0``); ``Y`` doubles from the calm regime to the others.
DEFAULT_REACTIVE_PLANTED: dict[str, dict[str, float]] = {
    "liquid_large_cap": {"Y": 20.0, "delta": 1.0, "G0": 0.0, "beta": 0.0},
    "high_volatility": {"Y": 40.0, "delta": 1.0, "G0": 0.0, "beta": 0.0},
    "thin_small_cap": {"Y": 40.0, "delta": 1.0, "G0": 0.0, "beta": 0.0},
    "news_spike": {"Y": 40.0, "delta": 1.0, "G0": 0.0, "beta": 0.0},
}
PLANTED_KEYS = ("Y", "delta", "G0", "beta", "lag0")


@dataclass(frozen=True)
class CatalogDay:
    """A day from the catalog: its key and the regime the desk labels it with (None: no rule applies)."""

    key: str
    regime: str | None = None


@dataclass(frozen=True)
class GeneratedDays:
    """``days`` consecutive business days from ``start_date``, regime ``regimes[k % len]`` on day ``k``, each
    ``duration_s`` long from the regime's open, seeded ``seed + k``; ``market``: how the day responds to our
    hedges — ``impact-replay`` (``planted``: a propagator per regime, for the impact-adjusted replay) or
    ``reactive`` (``planted``: a :class:`~tickreplay.adapters.metaorders.PlantedImpact` per regime; each hedge
    runs inside the generated day, :mod:`tickreplay.reactive`)."""

    days: int
    regimes: tuple[str, ...]
    start_date: str = "2024-01-02"
    duration_s: float = 3600.0
    seed: int = 1
    market: str = "impact-replay"
    planted: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExposureSpec:
    """An exposure ``file`` (docs/hedging.md), or a generated path with these keyword arguments."""

    file: str | None = None
    generate: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoopConfig:
    """A checked loop scenario (docs/loop.md); times in ns, λ in 1/currency."""

    name: str
    instrument: str
    threshold_shares: int
    exposure: ExposureSpec
    catalog_days: tuple[CatalogDay, ...] = ()
    generated: GeneratedDays | None = None
    catalog_root: str | None = None
    impact: ImpactModel | None = None  # the response of catalog tapes
    target_shares: int = 0
    risk_aversion: float = 1e-6
    period_ns: int = 60 * NS
    n_horizons: int = 30
    pause_ns: int = 900 * NS
    policy: str = "regime"
    calibration: str | None = None  # an almgren-chriss file; None: textbook default
    half_life_days: float = 5.0
    prior_weight: float = 1.0  # each textbook pseudo-parent's weight relative to a first-day hedge (at most)
    update_every: str = "hedge"
    rules: RegimeRules = field(default_factory=RegimeRules)
    replace_after_ns: int = 20 * NS
    max_replaces: int = 2
    post_ns: int = 600 * NS
    router: S.RouterSpec | None = None  # [loop.router]: each generated day split across `venues` and routed
    venues: tuple[S.VenueSpec, ...] = ()  # [[loop.venues]]: name, share or generator, fees, latency, queue
    router_compare: tuple[S.RouterSpec, ...] = ()  # [loop.router] compare: the routers of --compare-routers
    seed: int = 0
    base_dir: str = "."
    source: str | None = None
    raw: dict = field(default_factory=dict, compare=False)

    def where(self) -> str:
        return self.source or f"loop scenario {self.name!r}"

    def path(self, p: str) -> Path:
        """``p`` resolved against the scenario file's folder."""
        q = Path(p).expanduser()
        return q if q.is_absolute() else Path(self.base_dir) / q


def _regime(path: str, v: Any) -> str:
    from tickreplay.adapters.synthetic_regimes import REGIMES

    if v not in REGIMES:
        raise S._fail(path, "one of " + ", ".join(repr(r) for r in sorted(REGIMES)), v)
    return v


def _catalog_days(path: str, v: Any) -> tuple[CatalogDay, ...]:
    if not isinstance(v, list) or not v:
        raise S._fail(path, "a non-empty list of catalog keys (or {key, regime} tables)", v)
    out = []
    for k, item in enumerate(v):
        p = f"{path}[{k}]"
        if isinstance(item, str):
            out.append(CatalogDay(S._str(p, item)))
        else:
            d = S._fields(p, item, {"key": S._str, "regime": S._str})
            if "key" not in d:
                raise ConfigError(f"scenario key '{p}.key' is required")
            out.append(CatalogDay(d["key"], d.get("regime")))
    return tuple(out)


def _generated(path: str, v: Any, base_dir: str) -> GeneratedDays:
    table = S._table(path, v)
    d = S._fields(path, {k: x for k, x in table.items() if k != "planted"}, {
        "days": S._pos_int, "start_date": S._str, "duration_s": S._pos_num, "seed": S._nonneg_int,
        "market": S._one_of(MARKETS),
        "regimes": lambda p, x: tuple(_regime(f"{p}[{i}]", r) for i, r in enumerate(
            x if isinstance(x, list) and x else [] if isinstance(x, list) else [x]))})
    if "days" not in d:
        raise ConfigError(f"scenario key '{path}.days' is required (the number of generated days)")
    if not d.get("regimes"):
        raise ConfigError(f"scenario key '{path}.regimes' is required: a non-empty list of regimes, cycled over "
                          "the days")
    planted_t = S._table(f"{path}.planted", table.get("planted", {}))
    planted: dict[str, Any] = {}
    reactive = d.get("market") == "reactive"
    for regime in sorted(set(d["regimes"])):
        if reactive:
            planted[regime] = _planted_impact(f"{path}.planted.{regime}",
                                              planted_t.get(regime, DEFAULT_REACTIVE_PLANTED[regime]))
            continue
        spec = planted_t.get(regime, DEFAULT_PLANTED[regime])
        model = S._impact(f"{path}.planted.{regime}", spec, base_dir)
        if model is None or model.model != "propagator" or model.trade_size is None:
            raise ConfigError(f"scenario key '{path}.planted.{regime}': the planted response must be a propagator "
                              "with its trade_size (its permanent_bps per trade_size shares is the planted gamma)")
        planted[regime] = model
    extra = sorted(set(planted_t) - set(d["regimes"]))
    if extra:
        raise ConfigError(f"scenario key '{path}.planted.{extra[0]}': no generated day has this regime "
                          f"(regimes: {', '.join(d['regimes'])})")
    return GeneratedDays(planted=planted, **d)


def _planted_impact(path: str, v: Any):
    """A reactive regime's planted impact: a table of :data:`PLANTED_KEYS` (``Y`` and ``delta`` required)."""
    from tickreplay.adapters.metaorders import PlantedImpact

    d = S._fields(path, v, {"Y": S._nonneg_num, "delta": S._pos_num, "G0": S._nonneg_num, "beta": S._nonneg_num,
                            "lag0": S._pos_num})
    for key in ("Y", "delta"):
        if key not in d:
            raise ConfigError(f"scenario key '{path}.{key}' is required (the planted law Y·σ_daily·(Q/V)^delta)")
    try:
        return PlantedImpact(d["Y"], d["delta"], d.get("G0", 0.0), d.get("beta", 0.0), d.get("lag0", 1.0))
    except ConfigError as err:
        raise ConfigError(f"scenario key '{path}': {err}") from None


def _exposure(path: str, v: Any) -> ExposureSpec:
    d = S._fields(path, v, {"file": S._str, "seed": S._nonneg_int, "jump_rate_per_hour": S._nonneg_num,
                            "jump_median_shares": S._pos_num, "jump_sigma": S._nonneg_num,
                            "diffusion_shares_per_sqrt_hour": S._nonneg_num, "step_s": S._pos_num,
                            "start_shares": S._int})
    file = d.pop("file", None)
    if file is not None and d:
        raise ConfigError(f"scenario key '{path}.{sorted(d)[0]}': an exposure file and a generated path exclude "
                          "each other")
    if "step_s" in d:
        d["step_ns"] = round(d.pop("step_s") * NS)
    return ExposureSpec(file, d)


def parse_loop(doc: dict, name: str | None = None, base_dir: str | Path = ".") -> LoopConfig:
    """A :class:`LoopConfig` from a parsed TOML document (errors name the key path)."""
    base = str(base_dir)
    top = S._fields("", doc, {"name": S._str, "description": S._text, "seed": S._nonneg_int,
                              "loop": S._table})
    if "loop" not in top:
        raise ConfigError("scenario table '[loop]' is required")
    t = top["loop"]
    d = S._fields("loop", {k: x for k, x in t.items() if k not in ("generate", "regimes", "impact", "router",
                                                                  "venues")}, {
        "instrument": S._str, "days": _catalog_days, "catalog_root": S._str, "exposure": _exposure,
        "threshold_shares": S._pos_int, "target_shares": S._nonneg_int, "risk_aversion": S._nonneg_num,
        "period_s": S._pos_num, "n_horizons": S._pos_int, "pause_s": S._pos_num,
        "policy": S._one_of(POLICIES), "calibration": S._str,
        "update": lambda p, x: S._fields(p, x, {"half_life_days": S._pos_num, "every": S._one_of(UPDATE_EVERY),
                                                "prior_weight": S._pos_num}),
        "execution": lambda p, x: S._fields(p, x, {"replace_after_s": S._pos_num, "max_replaces": S._nonneg_int,
                                                   "post_s": S._pos_num})})
    for key in ("instrument", "threshold_shares", "exposure"):
        if key not in d:
            raise ConfigError(f"scenario key 'loop.{key}' is required")
    days = d.pop("days", ())
    generated = _generated("loop.generate", t["generate"], base) if "generate" in t else None
    if bool(days) == (generated is not None):
        raise ConfigError("scenario keys 'loop.days' (catalog keys) and '[loop.generate]' (generated days): give "
                          "exactly one")
    impact = S._impact("loop.impact", t["impact"], base) if "impact" in t else None
    if impact is not None and generated is not None:
        raise ConfigError("scenario key 'loop.impact' applies to catalog days; generated days respond with "
                          "'loop.generate.planted.<regime>'")
    rules = rules_from_config(S._table("loop.regimes", t.get("regimes", {})), "loop.regimes")
    if generated is not None and generated.market == "reactive":
        for regime in sorted(set(generated.regimes)):
            _, rule = rules.for_regime(regime)
            if rule.style != "market" and rule.action != "pause":
                raise ConfigError(f"scenario key 'loop.regimes.{regime}.style': the reactive market executes market "
                                  f"children only, the rule for {regime} sends {rule.style!r} children: set "
                                  f"style = \"market\" (or action = \"pause\") for it")
    upd, ex = d.pop("update", {}), d.pop("execution", {})
    kw: dict[str, Any] = _routing(t, generated)
    for key, scale in (("period_s", "period_ns"), ("pause_s", "pause_ns")):
        if key in d:
            kw[scale] = round(d.pop(key) * NS)
    if "calibration" in d and d["calibration"] == "default":
        d.pop("calibration")
    if "half_life_days" in upd:
        kw["half_life_days"] = upd["half_life_days"]
    if "every" in upd:
        kw["update_every"] = upd["every"]
    if "prior_weight" in upd:
        if upd["prior_weight"] > 1:
            raise ConfigError(f"scenario key 'loop.update.prior_weight': expected a weight in (0, 1] (each textbook "
                              f"pseudo-parent relative to a first-day hedge), got {upd['prior_weight']!r}")
        kw["prior_weight"] = upd["prior_weight"]
    if "replace_after_s" in ex:
        kw["replace_after_ns"] = round(ex["replace_after_s"] * NS)
    if "max_replaces" in ex:
        kw["max_replaces"] = ex["max_replaces"]
    if "post_s" in ex:
        kw["post_ns"] = round(ex["post_s"] * NS)
    if d.get("target_shares", 0) >= d["threshold_shares"]:
        raise ConfigError(f"scenario key 'loop.target_shares': expected below loop.threshold_shares "
                          f"({d['threshold_shares']}), got {d['target_shares']!r}")
    if not math.isfinite(kw.get("half_life_days", 1.0)):
        raise ConfigError("scenario key 'loop.update.half_life_days': expected a finite number of days")
    return LoopConfig(name=top.get("name", name or "loop"), catalog_days=days, generated=generated, impact=impact,
                      rules=rules, seed=top.get("seed", 0), base_dir=base, raw=doc, **d, **kw)


def _routing(t: dict, generated: GeneratedDays | None) -> dict[str, Any]:
    """``router``, ``venues`` and ``router_compare`` of ``[loop.router]`` / ``[[loop.venues]]`` (parsed as a run's
    ``[router]`` and ``[[venues]]``; ``compare``: :func:`_router_compare`): both or neither; venues by ``share`` of
    generated days, or generated venues (a flow ``seed``, regime, activity, MarketParams overrides) on each day's
    latent path — checked on every regime of the days; the days are the impact-adjusted replay (the planted
    response, one shift across the venues; its decay in seconds: a kernel in tape trades has no single clock across
    venues) — the reactive market runs on one venue."""
    if "router" not in t and "venues" not in t:
        return {}
    if "router" not in t or "venues" not in t:
        have, missing = ("loop.router", "[[loop.venues]]") if "router" in t else ("loop.venues", "[loop.router]")
        raise ConfigError(f"scenario key '{have}' needs '{missing}': the router splits each hedge across the "
                          "venues (give both, or neither for the one-venue loop)")
    venues = S._venues("loop.venues", t["venues"])
    table = S._table("loop.router", t["router"])
    router = S._router("loop.router", {k: x for k, x in table.items() if k != "compare"})
    if venues[0].catalog is not None:
        raise ConfigError("scenario key 'loop.venues[0].catalog': the loop splits each generated day across its "
                          "venues; give each venue a 'share' of the day's orders (or its generator: 'seed', ...)")
    if "generate" not in t:
        raise ConfigError("scenario key 'loop.router': routing runs on generated days ('[loop.generate]'), each "
                          "day split across '[[loop.venues]]'; catalog days replay on one venue")
    if generated.market == "reactive":
        raise ConfigError("scenario key 'loop.generate.market': the reactive market runs on one venue only; with "
                          "'[loop.router]' each day is split across the venues and replayed with the planted response "
                          "(market = \"impact-replay\")")
    for regime, model in sorted(generated.planted.items()):
        if model.clock != "seconds":
            raise ConfigError(f"scenario key 'loop.generate.planted.{regime}.clock': with '[loop.router]' one shift "
                              "moves every venue and a kernel in tape trades has no single clock across venues; give "
                              "the decay in seconds (clock = \"seconds\")")
    names = [v.name for v in venues]
    if venues[0].generator is not None:  # generated is set: '[loop.generate]' is there (checked above)
        from tickreplay.venues.generate import check_generators

        for regime in dict.fromkeys(generated.regimes):
            def key(name: str, k: str | None, regime: str = regime) -> str:
                return (f"scenario key 'loop.venues[{names.index(name)}]" + (f".{k}'" if k else "'") +
                        f" (on the {regime} days of loop.generate.regimes)")

            check_generators({v.name: v.generator for v in venues}, regime, key)
    if router.venue is not None and router.venue not in names:
        raise ConfigError(f"scenario key 'loop.router.venue': unknown venue {router.venue!r} (venues: "
                          f"{', '.join(names)})")
    compare = _router_compare("loop.router.compare", table.get("compare"), router, names)
    return {"router": router, "venues": venues, "router_compare": compare}


def _router_compare(path: str, v: Any, router: S.RouterSpec, names: list[str]) -> tuple[S.RouterSpec, ...]:
    """The routers ``tickreplay loop --compare-routers`` runs, the first the baseline: labels ``"single:<venue>"``,
    ``"best"``, ``"cont-kukanov"`` (the ``[loop.router]`` table's ``horizon_s``, ``lambda_*_ticks``, ``n_windows``)
    or router tables; default (no ``compare``): ``single`` on the first venue, ``best``, ``cont-kukanov``."""
    from dataclasses import replace

    if v is None:
        v = [f"single:{names[0]}", "best", "cont-kukanov"]
    if not isinstance(v, list) or len(v) < 2:
        raise S._fail(path, "a list of at least two routers (labels such as \"single:A\", \"best\", "
                            "\"cont-kukanov\", or router tables), the first the baseline", v)
    out, labels = [], []
    for k, item in enumerate(v):
        p = f"{path}[{k}]"
        if isinstance(item, str):
            kind, _, venue = item.partition(":")
            if kind not in S.ROUTER_POLICIES or (kind == "single") != bool(venue):
                raise S._fail(p, "\"single:<venue>\", \"best\" or \"cont-kukanov\"", item)
            spec = replace(router, policy=kind, venue=venue or None)
        else:
            spec = S._router(p, item)
        if spec.venue is not None and spec.venue not in names:
            raise ConfigError(f"scenario key '{p}': unknown venue {spec.venue!r} (venues: {', '.join(names)})")
        label = f"single:{spec.venue}" if spec.policy == "single" else spec.policy
        if label in labels:
            raise ConfigError(f"scenario key '{p}': router {label!r} is listed twice")
        labels.append(label)
        out.append(spec)
    return tuple(out)


def load_loop(path: str | Path) -> LoopConfig:
    """Read and check a loop scenario file; errors start with the file's name."""
    return S.load_toml(path, parse_loop)
