"""Time generating correlated venues: two venues of ``liquid_large_cap`` on one latent path (docs/venues.md).

The venues are ``scenarios/two_venues_latent.toml``'s — A as the regime, B with ``spread_ticks = 3``,
``depth_levels = 10``, ``size_median = 300``, ``activity = 0.5`` — on the path of seed 3, ``--duration-s`` long
(default one hour), tracked and untracked, beside a plain day of the same length. Each way is run ``--repeat``
times after one untimed warm-up (the compiled kernel loaded); it prints the events per venue and the CPU time
(``time.process_time``: drawing the path, generating both venues' events), min and median.

Usage: ``PYTHONPATH=src python benchmarks/bench_latent_venues.py [--duration-s 3600] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

from tickreplay.adapters.synthetic import generate_day
from tickreplay.venues.generate import VenueGenerator, generated_venues

THIN = (("depth_levels", 10), ("size_median", 300), ("spread_ticks", 3.0))


def _cpu(fn, repeat: int) -> tuple[list[float], object]:
    fn()
    times, out = [], None
    for _ in range(repeat):
        t = time.process_time()
        out = fn()
        times.append(time.process_time() - t)
    return times, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration-s", type=float, default=3600.0)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    for track in (True, False):
        venues = {"A": VenueGenerator(1, track=track), "B": VenueGenerator(2, activity=0.5, track=track,
                                                                           overrides=THIN)}
        times, tapes = _cpu(lambda: generated_venues("liquid_large_cap", 3, venues, duration_s=args.duration_s),
                            args.repeat)
        events = ", ".join(f"{n} {len(t):,}" for n, t in tapes.items())
        print(f"2 venues, track={track}: events {events}; CPU min {min(times):.3f} s, "
              f"median {statistics.median(times):.3f} s")
    times, day = _cpu(lambda: generate_day("liquid_large_cap", 3, duration_s=args.duration_s, progress=False),
                      args.repeat)
    print(f"plain day: {len(day):,} events; CPU min {min(times):.3f} s, median {statistics.median(times):.3f} s")


if __name__ == "__main__":
    main()
