"""``tickreplay overlay train`` and ``tickreplay overlay compare`` (:mod:`tickreplay.experiment.evaluate`).

``train`` builds a dataset of counterfactual delay costs from catalog tapes
or generated days, with the child order of a scenario template (side, child
size = parent quantity / number of children, style, latency, queue model,
fees), fits the delay model with purged walk-forward validation, prints the
out-of-sample figures and feature importance, and saves the model folder
(plus ``train_report.json``).

The decision window (the scenario's ``data.start``/``data.end``), the delay
grid (``overlay.delays_s``) and the largest delay (``overlay.max_delay_s``)
come from the scenario; a flag given overrides it and says so in one line.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tickreplay.clock import flag_time_ns, resolve_time
from tickreplay.errors import ConfigError
from tickreplay.io import json_text

if TYPE_CHECKING:
    import numpy as np

NS = 1_000_000_000
WARMUP_S = 60.0  # first decision this long after the session start (the features' longest window)
DEFAULT_DELAYS = "0,0.5,1,2,5,10"  # seconds: the training delay grid when neither flag nor scenario gives one


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("overlay", help="the LightGBM micro-delay overlay: train (and compare) delay models")
    osub = p.add_subparsers(dest="overlay_command", required=True, metavar="SUBCOMMAND")
    t = osub.add_parser("train", help="build counterfactual labels from tapes and a scenario, fit and save a model")
    t.add_argument("--scenario", required=True, help="scenario TOML: side, child size and style, latency, fees")
    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument("--tapes", nargs="+", metavar="KEY", help="catalog keys (catalog root of the scenario's data)")
    src.add_argument("--synthetic", nargs="+", metavar="REGIME:SEED", help="generated days")
    t.add_argument("--duration-s", type=float, help="generated days: only the first seconds of the session")
    t.add_argument("--refill-half-life-s", type=float,
                   help="generated days: plant the refill signal (the touch refills a sweep with this half-life)")
    t.add_argument("--out", required=True, help="model folder to write")
    t.add_argument("--every-s", type=float, default=5.0, help="seconds between decision times (default 5)")
    t.add_argument("--delays", help="delay grid, seconds (default: the scenario's overlay.delays_s, else "
                                    f"{DEFAULT_DELAYS})")
    t.add_argument("--max-delay-s", type=float, help="largest delay allowed (default: the scenario's "
                                                     "overlay.max_delay_s, else the grid's largest)")
    t.add_argument("--start", help="first decision no earlier than this, local HH:MM:SS or ns (default: the "
                                   "scenario's data.start, else the session open + 60 s)")
    t.add_argument("--end", help="decisions before this, local HH:MM:SS or ns (default: the scenario's data.end, "
                                 "else the session close)")
    t.add_argument("--horizon-s", type=float, default=30.0,
                   help="label horizon after the largest delay; unfilled rest costed at the mid then (default 30)")
    t.add_argument("--child-qty", type=int, help="child size (default: parent quantity / n_children)")
    t.add_argument("--folds", type=int, default=3, help="walk-forward folds (default 3)")
    t.add_argument("--rounds", type=int, default=200, help="boosting rounds per delay (default 200)")
    t.add_argument("--margin-bps", type=float, default=0.0, help="wait only if the predicted saving exceeds this")
    t.add_argument("--json", action="store_true", help="print the training report as JSON")
    t.set_defaults(func=_train)
    _register_compare(osub)


def _delays(text: str) -> tuple[int, ...]:
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--delays {text!r}: expected comma-separated seconds, e.g. 0,0.5,1,2,5,10") from None
    return tuple(round(v * NS) for v in vals)


def _data(args: argparse.Namespace, scn, window: tuple) -> list:
    """The market data of each tape key (the scenario's catalog and levels, the training ``window``) or
    generated day."""
    from tickreplay.experiment import load_data_spec
    from tickreplay.experiment.scenario import DataSpec, SyntheticDay

    if args.tapes:
        if args.refill_half_life_s is not None:
            raise ConfigError("--refill-half-life-s applies to generated days (--synthetic) only")
        return [load_data_spec(DataSpec(catalog=k, catalog_root=scn.data.catalog_root, levels=scn.data.levels,
                                        start=window[0], end=window[1]), scn.base_dir) for k in args.tapes]
    out = []
    for item in args.synthetic:
        regime, _, seed = item.partition(":")
        if not seed.isdigit():
            raise ConfigError(f"--synthetic {item!r}: expected REGIME:SEED, e.g. liquid_large_cap:1")
        if args.refill_half_life_s is None:
            spec = DataSpec(synthetic=SyntheticDay(regime, int(seed), args.duration_s), levels=scn.data.levels,
                            start=window[0], end=window[1])
            out.append(load_data_spec(spec, scn.base_dir))
        else:
            out.append(_planted_day(regime, int(seed), args.duration_s, args.refill_half_life_s, scn.data.levels))
    return out


def _planted_day(regime: str, seed: int, duration_s: float | None, refill_s: float, levels: int):
    """A generated day of ``regime`` with the refill signal planted (half-life ``refill_s``)."""
    from dataclasses import replace

    from tickreplay.adapters.synthetic import generate_day, synthetic_key
    from tickreplay.adapters.synthetic_regimes import resolve
    from tickreplay.experiment.data import from_tape

    _, params = resolve(regime)
    params = replace(params, refill_half_life_s=refill_s)
    tape = generate_day(params, seed, duration_s=duration_s)
    key = synthetic_key(params, seed, tape.instrument.date, duration_s)
    return from_tape(tape, key, levels, round(params.session_seconds() * NS))


def _settings(args: argparse.Namespace, scn) -> tuple[tuple[int, ...], int, list[str]]:
    """The delay grid (ns) and largest delay (ns) from the flags, else the scenario's ``[overlay]``, else the
    defaults; and one line per flag that overrides a scenario value."""
    notes = []
    ov = scn.overlay
    scn_delays = None if ov is None or ov.delays_s is None else list(ov.delays_s)
    if args.delays is not None:
        delays = _delays(args.delays)
        if scn_delays is not None:
            notes.append(f"--delays {args.delays} overrides the scenario's overlay.delays_s "
                         f"[{', '.join(f'{d:g}' for d in scn_delays)}]")
    else:
        delays = tuple(round(d * NS) for d in scn_delays) if scn_delays is not None else _delays(DEFAULT_DELAYS)
    if args.max_delay_s is not None:
        max_delay = round(args.max_delay_s * NS)
        if ov is not None:
            notes.append(f"--max-delay-s {args.max_delay_s:g} overrides the scenario's overlay.max_delay_s "
                         f"{ov.max_delay_s:g}")
    else:
        max_delay = round(ov.max_delay_s * NS) if ov is not None else max(delays)
    if max_delay <= 0:
        raise ConfigError(f"{scn.where()}: largest delay {max_delay / NS:g} s (overlay.max_delay_s) leaves nothing "
                          "to learn: give --max-delay-s")
    kept = [d / NS for d in delays if d <= max_delay]
    if scn_delays is not None and kept != scn_delays:
        notes.append(f"the model's delay grid will be [{', '.join(f'{d:g}' for d in kept)}] (delays up to "
                     f"{max_delay / NS:g} s), not the scenario's overlay.delays_s: runs of this scenario will "
                     "refuse the model until they are equal")
    for flag, key in (("start", "data.start"), ("end", "data.end")):
        given, own = getattr(args, flag), getattr(scn.data, flag)
        if given is not None and own is not None:
            notes.append(f"--{flag} {given} overrides the scenario's {key} {own}")
    return delays, max_delay, notes


def _window(args: argparse.Namespace, scn) -> tuple[str | int | None, str | int | None]:
    """The training window's start and end: the flag if given, else the scenario's ``data.start``/``data.end``."""
    def pick(text: str | None, own):
        return own if text is None else int(text) if text.isdigit() else text
    return pick(args.start, scn.data.start), pick(args.end, scn.data.end)


def _decision_times(every_s: float, window: tuple, data) -> np.ndarray:
    """Every ``every_s`` seconds from the warm-up after the later of the session open and the window's start
    to the earlier of the session close and the window's end, ns."""
    r, inst = data.replay, data.tape.instrument
    start, end = r.session_start_ns, r.session_end_ns
    if window[0] is not None:
        start = max(start, resolve_time(window[0], inst.date, inst.timezone, "training window start"))
    start += round(WARMUP_S * NS)
    if window[1] is not None:
        end = min(end, resolve_time(window[1], inst.date, inst.timezone, "training window end"))
    import numpy as np

    return np.arange(start, end, round(every_s * NS), dtype=np.int64)


def _train(args: argparse.Namespace) -> int:
    from tickreplay.experiment import engine_config
    from tickreplay.io import atomic_path
    from tickreplay.overlay import Dataset, build_dataset, train_model
    from tickreplay.experiment.scenario import load_scenario

    scn = load_scenario(args.scenario)
    if scn.parent is None:
        raise ConfigError(f"{args.scenario}: the scenario needs a [parent] (side, quantity) as the child template")
    s = scn.schedule
    qty = args.child_qty or math.ceil(scn.parent.quantity / (s.n_children or 1))
    delays, max_delay, notes = _settings(args, scn)
    for line in notes:
        print(line, file=sys.stderr if args.json else sys.stdout)
    horizon = round(args.horizon_s * NS)
    parts, t0, n_dec = [], time.perf_counter(), 0
    window = _window(args, scn)
    for data in _data(args, scn, window):
        times = _decision_times(args.every_s, window, data)
        n_dec += len(times)
        parts.append(build_dataset(data.replay, times, scn.parent.side, qty, s.style, delays,
                                   engine_config(scn, data), max_delay, horizon, s.offset_ticks,
                                   round(s.cancel_replace_after_s * NS), source=data.key,
                                   fingerprint=data.fingerprint))
    ds = Dataset.concat(parts)
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    model, report = train_model(ds, n_folds=args.folds, num_boost_round=args.rounds, margin_bps=args.margin_bps)
    fit_s = time.perf_counter() - t1
    report.update(child_quantity=qty, style=s.style, side=scn.parent.side, scenario=str(args.scenario),
                  dataset_seconds=build_s, examples_per_second=len(ds) / build_s if build_s > 0 else None,
                  fit_seconds=fit_s, dropped=[p.meta["dropped"] for p in parts], notes=notes,
                  max_delay_ns=max_delay)
    out = model.save(args.out)
    with atomic_path(Path(out) / "train_report.json") as tmp:
        Path(tmp).write_text(json_text(report, indent=2))
    if args.json:
        print(json_text(report, indent=2))
        return 0
    print(f"dataset: {len(ds):,} examples from {len(parts)} tape(s) ({n_dec - len(ds):,} decisions left out: "
          f"label window past the session end or no mid), {build_s:.1f} s ({len(ds) / max(build_s, 1e-9):,.0f} "
          f"examples/s); child {qty:,} {s.style}, side {scn.parent.side:+d}")
    print(f"fit: {len(report['folds'])} walk-forward folds + final model, {fit_s:.1f} s")
    oos = report["oos"]
    print("out of sample, per delay:   delay_s  mae_cost_bps  mae_extra_bps  mae_extra_if_zero_bps")
    for k, d in enumerate(ds.delays_ns):
        print(f"{'':27}{d / NS:8g}  {oos['mae_cost_bps'][k]:12.3f}  {oos['mae_extra_bps'][k]:13.3f}  "
              f"{oos['mae_extra_zero_bps'][k]:21.3f}")
    for line in worse_than_zero_lines(report):
        print(line)
    print(f"out of sample: saving of the model's choices {oos['saving_bps']:.3f} bps vs sending now "
          f"(hindsight oracle {oos['oracle_saving_bps']:.3f} bps), delayed {oos['share_delayed']:.0%} of children")
    top = list(report["feature_importance"].items())[:10]
    print("feature importance (gain): " + ", ".join(f"{k} {v:,.0f}" for k, v in top))
    print(f"model saved to {out}")
    return 0


def worse_than_zero_lines(report: dict) -> list[str]:
    """One line per delay of ``report["worse_than_zero"]`` (:func:`tickreplay.overlay.train.worse_than_zero`)."""
    return [f"delay {w['delay_s']:g} s: the model predicts the extra cost worse than predicting zero "
            f"({w['mae_extra_bps']:.2f} vs {w['mae_extra_zero_bps']:.2f} bps MAE)" for w in report["worse_than_zero"]]


def _time_arg(text: str | None, data, default: int, name: str) -> int:
    if text is None:
        return default
    inst = data.tape.instrument
    return flag_time_ns(name, text, inst.date, inst.timezone)


def _register_compare(sub: argparse._SubParsersAction) -> None:
    """Add ``compare`` to the ``tickreplay overlay`` sub-commands."""
    p = sub.add_parser("compare", help="static vs overlay vs random-delay placebo vs hindsight oracle on held-out "
                                       "parents, with bootstrap intervals")
    p.add_argument("--model", required=True, help="model folder written by 'tickreplay overlay train'")
    p.add_argument("--scenario", required=True, help="scenario TOML: parent template (side, quantity, duration), "
                                                     "schedule, latency, fees")
    p.add_argument("--tapes", nargs="+", required=True, metavar="KEY",
                   help="catalog keys of the held-out tapes (catalog root of the scenario's data)")
    p.add_argument("--start", help="held-out range start, local HH:MM:SS or ns (default: session open)")
    p.add_argument("--end", help="held-out range end, local HH:MM:SS or ns (default: session close)")
    p.add_argument("--max-delay-s", type=float, help="largest delay allowed (default: the scenario's "
                                                     "overlay.max_delay_s, else the model grid's largest)")
    p.add_argument("--step-s", type=float, help="seconds between parent starts (default: the parent's duration)")
    p.add_argument("--horizon-s", type=float,
                   help="oracle label horizon and room left at the range's end (default 30)")
    p.add_argument("--seed", type=int, default=0, help="seed of the engine runs, placebo and bootstrap")
    p.add_argument("--n-boot", type=int, help="bootstrap resamples (default 2000)")
    p.add_argument("--allow-overlap", action="store_true",
                   help="do not refuse a test range that overlaps the model's training data")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(func=_compare)


def _compare(args: argparse.Namespace) -> int:
    from tickreplay.experiment import load_data_spec
    from tickreplay.experiment.evaluate import Segment, evaluate, session_bounds
    from tickreplay.overlay.labels import DEFAULT_HORIZON_NS
    from tickreplay.overlay.stats import DEFAULT_N_BOOT
    from tickreplay.experiment.scenario import DataSpec, load_scenario
    from tickreplay.overlay import DelayModel
    from tickreplay.trader import FEATURE_NAMES

    scn = load_scenario(args.scenario)
    model = DelayModel.load(args.model, expect_features=FEATURE_NAMES)
    if args.max_delay_s is not None:
        max_delay = round(args.max_delay_s * NS)
    elif scn.overlay is not None:
        max_delay = round(scn.overlay.max_delay_s * NS)
    else:
        max_delay = max(model.delays_ns)
    segments = []
    for key in args.tapes:
        data = load_data_spec(DataSpec(catalog=key, catalog_root=scn.data.catalog_root, levels=scn.data.levels),
                              scn.base_dir)
        t0, t1 = session_bounds(data)
        segments.append(Segment(data, _time_arg(args.start, data, t0, "--start"),
                                _time_arg(args.end, data, t1, "--end")))
    evaluation = evaluate(scn, segments, model, max_delay_ns=max_delay, seed=args.seed,
                          step_ns=None if args.step_s is None else round(args.step_s * NS),
                          horizon_ns=DEFAULT_HORIZON_NS if args.horizon_s is None else round(args.horizon_s * NS),
                          allow_overlap=args.allow_overlap)
    summary = evaluation.summary(seed=args.seed, n_boot=DEFAULT_N_BOOT if args.n_boot is None else args.n_boot)
    if args.json:
        print(json_text(summary, indent=2))
        return 0
    for line in format_summary(summary):
        print(line)
    return 0


def _ci_text(block: dict) -> str:
    """``95% CI lo to hi`` of a saving block, or why there is none (too few parents)."""
    if block.get("ci95_bps") is None:
        return f"{block['n_parents']} parents: too few for an interval"
    lo, hi = block["ci95_bps"]
    return f"95% CI {lo:.3f} to {hi:.3f}"


def format_summary(s: dict) -> list[str]:
    """The comparison as a few lines of text (no interval for a group of fewer than 10 parents)."""
    n = s["n_parents"]
    lines = [f"{n} parents, {s['n_children']} children; implementation shortfall (bps, mean / median):"]
    for name, block in s["policies"].items():
        lines.append(f"  {name:8} {block['mean_is_bps']:8.3f} / {block['median_is_bps']:8.3f}")
    lines.append(f"overlay saving vs static: {s['mean_saving_bps']:.3f} bps ({_ci_text({**s, 'n_parents': n})}), "
                 f"median {s['median_saving_bps']:.3f}, win rate {s['win_rate']:.0%}")
    lines.append(f"placebo saving {s['placebo_saving_bps']:.3f} bps; overlay vs placebo "
                 f"{s['overlay_vs_placebo']['mean_saving_bps']:.3f} bps "
                 f"({_ci_text({**s['overlay_vs_placebo'], 'n_parents': n})})")
    lines.append(f"oracle saving {s['oracle_saving_bps']:.3f} bps; share captured {s['captured_share']:.0%}")
    for kind, rows in s["regimes"].items():
        for r in rows:
            if r.get("ci95_bps") is None:
                lines.append(f"  {kind} {r['tercile']:4}: {r['n_parents']} parents: too few for an interval")
            else:
                lines.append(f"  {kind} {r['tercile']:4}: {r['n_parents']:3} parents, saving "
                             f"{r['mean_saving_bps']:.3f} bps ({_ci_text(r)})")
    if s.get("ci95_bps") is None:
        verdict = f"none: {n} parents are too few for an interval (at least 10 needed)"
    else:
        lo, hi = s["ci95_bps"]
        verdict = ("the overlay is cheaper (interval above zero)" if lo > 0 else
                   "the overlay is dearer (interval below zero)" if hi < 0 else
                   "no saving shown: the interval contains zero")
    lines.append(f"verdict: {verdict}")
    return lines
