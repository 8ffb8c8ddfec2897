"""Binance ingest speed and peak memory: lines/s, events/s, peak RSS, min and median of repeats.

Each run is a child process (``resource.getrusage(RUSAGE_CHILDREN)`` gives its
peak RSS) that streams a capture through :class:`BinanceStream` with the
compiled L2 book kept across chunks (top-20 after every event, computed and
dropped chunk by chunk, as a streaming writer would), tick/lot given (one
pass) or inferred (two passes). The compiled kernels are loaded before the
clock starts (loading them from the numba cache takes ~0.5 s once per
process). Lines/s is wall time; lines per CPU-second is the child's own CPU
time, steadier on a shared machine.

    PYTHONPATH=src python benchmarks/bench_binance.py [--repeat-capture N] [--runs R]

``--repeat-capture N`` builds (once, under /tmp) the shared BTCUSDT capture
repeated N times, each copy's update ids and times shifted past the previous
one's (each copy starts with a gap that its own REST snapshot resyncs), to
see how memory grows with the length of the day.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "binance" / "btcusdt_20240808.gz"

_CHILD = r"""
import json, sys, time
from tickreplay.adapters.binance_stream import BinanceStream
from tickreplay.book.l2_fast import StreamingL2Book
import numpy as np
path, tick, lot, levels = sys.argv[1], sys.argv[2] or None, sys.argv[3] or None, int(sys.argv[4])
from tickreplay.adapters.binance_parse import parse_lines
z = np.zeros(1, np.int64)
StreamingL2Book(1).apply(z.astype(np.int8), z.astype(np.int8), z, z, levels)  # load the compiled kernels
parse_lines(np.frombuffer(b"1 {}\n", np.uint8), z, z + 4, "X")
t0, c0 = time.perf_counter(), time.process_time()
stream = BinanceStream([path], tick=tick, lot=lot, strict=False, chunk_events=1 << 17)
book = None
for chunk in stream:
    t = chunk.tape
    book = book or StreamingL2Book(t.instrument.tick_size)
    book.apply(t.kind, t.side, t.price, t.size, levels)
dt, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"s": dt, "cpu_s": cpu, "lines": stream.report["lines"], "events": stream.report["events"]}))
"""


def build_repeated(n: int) -> Path:
    """The shared capture repeated ``n`` times with shifted ids and times (gzip, under /tmp)."""
    out = Path(f"/tmp/bench_binance_btcusdt_x{n}.gz")
    if out.exists():
        return out
    lines = gzip.open(SHARED, "rb").read().splitlines(keepends=True)
    ids = [int(x) for x in re.findall(rb'"(?:U|u|pu|lastUpdateId)":(\d+)', b"".join(lines[:2000]))]
    id_span = 10 ** (len(str(max(ids))) - 2)  # ids are ~5e12: shift by 1e11 per copy
    t_span_ms = 10 * 60 * 1000
    num = re.compile(rb'"(U|u|pu|lastUpdateId|T|E)":(\d+)')
    tmp = out.with_suffix(".tmp")
    with gzip.open(tmp, "wb", compresslevel=1) as f:
        for r in range(n):
            def shift(m, r=r):
                k, v = m.group(1), int(m.group(2))
                return b'"%s":%d' % (k, v + r * (t_span_ms if k in (b"T", b"E") else id_span))
            for line in lines:
                head, _, body = line.partition(b" ")
                f.write(b"%d %s" % (int(head) + r * t_span_ms * 1_000_000, num.sub(shift, body)))
    tmp.rename(out)
    return out


def run(path: Path, tick: str, lot: str, levels: int) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), tick, lot, str(levels)], check=True,
                         capture_output=True, text=True).stdout
    res = json.loads(out.strip().splitlines()[-1])
    res["rss_mb"] = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat-capture", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--levels", type=int, default=20)
    args = ap.parse_args()
    path = SHARED if args.repeat_capture == 1 else build_repeated(args.repeat_capture)
    for label, tick, lot in (("units given", "0.1", "0.001"), ("units inferred", "", "")):
        rs = [run(path, tick, lot, args.levels) for _ in range(args.runs)]
        lps = [r["lines"] / r["s"] for r in rs]
        eps = [r["events"] / r["s"] for r in rs]
        cps = [r["lines"] / r["cpu_s"] for r in rs]
        print(f"binance {path.name} x{args.repeat_capture} ({label}): {rs[0]['lines']:,} lines, "
              f"{rs[0]['events']:,} events | lines/s min {min(lps):,.0f} median {statistics.median(lps):,.0f} | "
              f"lines per CPU-s min {min(cps):,.0f} median {statistics.median(cps):,.0f} | "
              f"events/s min {min(eps):,.0f} median {statistics.median(eps):,.0f} | peak RSS "
              f"{max(r['rss_mb'] for r in rs):,.0f} MB (first child {rs[0]['rss_mb']:,.0f} MB)", flush=True)


if __name__ == "__main__":
    main()
