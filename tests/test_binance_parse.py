"""The compiled line parser against the exact parser (stdlib json), on lines made from the shared capture.

Lines are the capture's own, re-serialised with keys reordered and JSON
whitespace, and mutated (values of other types, missing and extra keys,
another symbol, bad decimals, escapes, leading zeros, odd receive times).
Whatever the compiled parser accepts, the exact parser must accept with the
same values; whatever it does not, goes to the exact parser, so a batch
reads exactly as line-by-line exact parsing does, errors included.
"""

from __future__ import annotations

import gzip
import json
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import shared_file
from tickreplay.adapters.binance_parse import LV_P0, LV_P1, LV_PD, LV_PS, LV_PST, LV_Q0, LV_Q1, LV_QD, LV_QS, LV_QST, \
    parse_lines
from tickreplay.adapters.binance_stream import _CODE, _FastParser, _Parser
from tickreplay.adapters.capture_lines import StreamPosition
from tickreplay.adapters.decimal_units import scan_plain
from tickreplay.errors import AnomalyLog, InputError

SYMBOL = "BTCUSDT"


def _sample() -> list[tuple[bytes, dict]]:
    """The first 40 lines of each stream of the BTCUSDT capture: (receive time, JSON object)."""
    out, per_kind = [], {}
    with gzip.open(shared_file("binance", "btcusdt_20240808.gz"), "rb") as f:
        for line in f:
            head, _, body = line.rstrip(b"\n").partition(b" ")
            obj = json.loads(body)
            kind = obj.get("data", {}).get("e")
            if kind and per_kind.get(kind, 0) < 40:
                per_kind[kind] = per_kind.get(kind, 0) + 1
                out.append((head, obj))
            if len(per_kind) == 3 and min(per_kind.values()) == 40:
                break
    return out


SAMPLE = _sample()

BAD_DECIMALS = ["-1", "1e5", " 1", "1 ", "1_0", "", ".5", "5.", "+1", "1.2.3", "\u0661", "NaN", "0x10", "1,5",
                "99999999999999999999999", "0.0000000000000000000001", "00012.50", "0", "0.000"]
VALUES = st.one_of(st.integers(-5, 2**70), st.booleans(), st.none(), st.sampled_from(BAD_DECIMALS),
                   st.floats(allow_nan=True, allow_infinity=False), st.text(max_size=4),
                   st.lists(st.sampled_from(["1.0", "2"]), max_size=2), st.dictionaries(st.sampled_from("ab"),
                                                                                         st.integers(0, 3)))


def _dump(v, rng: random.Random, sep: tuple[str, str], ascii_only: bool) -> str:
    """JSON text of ``v`` with keys in a random order and the given separators."""
    if isinstance(v, dict):
        items = list(v.items())
        rng.shuffle(items)
        return "{" + sep[0].join(f"{json.dumps(k)}{sep[1]}{_dump(x, rng, sep, ascii_only)}" for k, x in items) + "}"
    if isinstance(v, list):
        return "[" + sep[0].join(_dump(x, rng, sep, ascii_only) for x in v) + "]"
    return json.dumps(v, ensure_ascii=ascii_only)


@st.composite
def capture_lines(draw, mutate: bool = True) -> bytes:
    head, obj = draw(st.sampled_from(SAMPLE))
    obj = json.loads(json.dumps(obj))
    data = obj["data"]
    for _ in range(draw(st.integers(0, 3)) if mutate else 0):
        what = draw(st.sampled_from(["value", "drop", "extra", "level", "unwrap", "symbol", "event"]))
        if what == "value":
            data[draw(st.sampled_from(sorted(data)))] = draw(VALUES)
        elif what == "drop":
            data.pop(draw(st.sampled_from(sorted(data))), None)
        elif what == "extra":
            data[draw(st.sampled_from(["x", "E2", "t", "lastUpdateId", "stream", "data", "M"]))] = draw(VALUES)
        elif what == "level":
            key = draw(st.sampled_from([k for k in ("b", "a", "p", "q", "B", "A") if k in data] or ["p"]))
            bad = draw(st.sampled_from(BAD_DECIMALS))
            if isinstance(data.get(key), list) and data[key] and isinstance(data[key][0], list):
                data[key][draw(st.integers(0, len(data[key]) - 1))][draw(st.integers(0, 1))] = bad
            else:
                data[key] = bad
        elif what == "unwrap":
            obj = data
        elif what == "symbol":
            data["s"] = draw(st.sampled_from(["btcusdt", "ETHUSDT", "BTCUSDT ", 7]))
        else:
            data["e"] = draw(st.sampled_from(["aggTrade", "depthupdate", "trade", "bookTicker", "depthUpdate"]))
    rng = random.Random(draw(st.integers(0, 2**16)))
    sep = draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,\t", " :  "), (",", ":\r")]))
    body = _dump(obj, rng, sep, draw(st.booleans()))
    pad = draw(st.sampled_from(["", " ", "\t"]))
    text = (pad + body + pad).encode()
    if mutate:
        raw = draw(st.sampled_from(["none", "none", "leading_zero", "escape", "float", "tail", "cut"]))
        if raw == "leading_zero":
            text = text.replace(b'"T":', b'"T":0', 1).replace(b'"u":', b'"u":0', 1)
        elif raw == "escape":
            text = text.replace(b'"BTCUSDT"', b'"BTCUSD\\u0054"', 1).replace(b'.', b'\\u002e', 1)
        elif raw == "float":
            text = text.replace(b'"T":', b'"T":-', 1) if draw(st.booleans()) else text.replace(b',"s"', b'.0,"s"', 1)
        elif raw == "tail":
            text += draw(st.sampled_from([b"x", b"}", b",", b" 1"]))
        elif raw == "cut":
            text = text[: draw(st.integers(0, len(text)))]
        head = draw(st.sampled_from([head, head, b"00" + head, b"-1", b"", b"9" * 20, head + b"x",
                                     b"9223372036854775807", b"9223372036854775808"]))
    return head + b" " + text


def _exact(line: bytes):
    """(message or None, anomaly counts, first error text) of the exact parser on one line."""
    pos = StreamPosition()
    pos.start_file("capture", 0)
    log = AnomalyLog(strict=False)
    msg = _Parser(pos, log, SYMBOL).parse(0, line)
    return msg, dict(log.counts), log.examples


def _compiled(line: bytes):
    buf = np.frombuffer(line + b"\n", np.uint8)
    return parse_lines(buf, np.zeros(1, np.int64), np.array([len(line)], np.int64), SYMBOL), line + b"\n"


def _assert_same(line: bytes) -> bool:
    """Whether the compiled parser took the line; if it did, the exact parser read the same values."""
    p, buf = _compiled(line)
    if p.status[0]:
        return False
    msg, counts, _ = _exact(line)
    assert msg is not None and counts == {}, line
    assert (_CODE[msg.kind], msg.recv_ns, msg.ts_ns, msg.U, msg.u, msg.pu, len(msg.bids), len(msg.asks)) == \
        (p.code[0], p.recv[0], p.ts[0], p.U[0], p.u[0], p.pu[0], p.nb[0], p.na[0]), line
    levels = msg.bids + msg.asks
    got = [(buf[r[LV_P0]:r[LV_P1]].decode(), buf[r[LV_Q0]:r[LV_Q1]].decode()) for r in p.lv]
    assert got == levels, line
    for j, (d, s, t) in enumerate(((LV_PD, LV_PS, LV_PST), (LV_QD, LV_QS, LV_QST))):
        sc = scan_plain([lvl[j] for lvl in levels])
        assert np.array_equal(p.lv[:, [d, s, t]], np.stack([sc.digits, sc.sig, sc.status], 1)), line
    return True


def test_capture_lines_are_taken_as_they_are():
    """Every depth diff, ticker and trade line of the sample, as captured, is read by the compiled parser."""
    for head, obj in SAMPLE:
        assert _assert_same(head + b" " + json.dumps(obj, separators=(",", ":")).encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=capture_lines(mutate=False))
def test_reordered_keys_and_whitespace_are_taken(line):
    assert _assert_same(line)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=capture_lines())
def test_mutated_lines_same_values_or_left_to_the_exact_parser(line):
    _assert_same(line)


def _messages(b) -> list[tuple]:
    out = []
    for k in range(len(b.code)):
        a, n = int(b.start[k]), int(b.nb[k] + b.na[k])
        out.append((int(b.code[k]), int(b.line[k]), int(b.recv[k]), int(b.ts[k]), int(b.U[k]), int(b.u[k]),
                    int(b.pu[k]), int(b.nb[k]), [b.text(i) for i in range(a, a + n)]))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(capture_lines(), min_size=1, max_size=12), strict=st.booleans())
def test_batch_reads_as_the_exact_parser_line_by_line(lines, strict):
    """A batch of mutated lines: the same messages, counts and (strict) the same first error."""
    pos = StreamPosition()
    pos.start_file("capture", 0)
    want, want_log, want_err = [], AnomalyLog(strict=strict), None
    exact = _Parser(pos, want_log, None)
    for i, line in enumerate(lines):
        try:
            m = exact.parse(i, line)
        except InputError as err:
            want_err = str(err)
            break
        if m is not None:
            levels = m.bids + m.asks
            want.append((_CODE[m.kind], i, m.recv_ns, m.ts_ns, m.U, m.u, m.pu, len(m.bids), levels))
    log = AnomalyLog(strict=strict)
    fast = _FastParser(pos, log, None)
    if want_err is not None:
        with pytest.raises(InputError) as exc:
            fast.parse_batch(0, b"".join(line + b"\n" for line in lines))
        assert str(exc.value) == want_err
        return
    b = fast.parse_batch(0, b"".join(line + b"\n" for line in lines))
    assert _messages(b) == want
    assert (dict(log.counts), log.examples) == (dict(want_log.counts), want_log.examples)
    assert fast.symbol == exact.symbol
    px, qt = scan_plain([t[0] for m in want for t in m[8]]), scan_plain([t[1] for m in want for t in m[8]])
    for got, ref in ((b.px, px), (b.qt, qt)):
        assert np.array_equal(got.digits, ref.digits) and np.array_equal(got.sig, ref.sig)
        assert np.array_equal(got.status, ref.status)
