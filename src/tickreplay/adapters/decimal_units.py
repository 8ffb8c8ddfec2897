"""Decimal strings ↔ venue integers, by string manipulation (never binary floats).

A *plain decimal* is ASCII digits with an optional fractional part:
``"61800.20"``, ``"0.001"``, ``"12"``. No sign, exponent, spaces or
underscores. A value is expressed in integer units of ``10**-exp`` by moving
the decimal point ``exp`` places: ``to_units("61800.20", 1) == 618002``.
Trailing zeros of the fraction carry no information (``"61800.20"`` has one
significant decimal), so a value fits ``exp`` when its *significant*
decimals are at most ``exp``; otherwise it is off the grid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from numba import njit

_PLAIN = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
_INT64_MAX = (1 << 63) - 1
_INT64_MAX_NB = np.int64(_INT64_MAX)


class OffGridError(ValueError):
    """A value with more significant decimals than the unit allows, or not a multiple of the step."""


def check_plain(text: object) -> str:
    """Return ``text`` if it is a plain decimal string; raise ``ValueError`` saying what was expected."""
    if not is_plain(text):
        raise ValueError(f"expected a plain decimal string such as '123.45', got {text!r}")
    return text


def is_plain(text: object) -> bool:
    """Whether ``text`` is a plain decimal string."""
    return isinstance(text, str) and _PLAIN.fullmatch(text) is not None


def significant_decimals(text: str) -> int:
    """Decimal places of a plain decimal once trailing zeros are dropped: ``"61800.20"`` → 1."""
    return len(text.partition(".")[2].rstrip("0"))


def to_units(text: str, exp: int) -> int:
    """Plain decimal ``text`` as an integer count of ``10**-exp``: ``to_units("0.014", 3) == 14``.

    Raises :class:`OffGridError` when ``text`` has more significant decimals
    than ``exp``, and ``ValueError`` when the result does not fit int64.
    """
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    if len(frac) > exp:
        raise OffGridError(f"{text} has {len(frac)} significant decimals, more than the {exp} the unit allows")
    value = int(whole + frac.ljust(exp, "0"))
    if value > _INT64_MAX:
        raise ValueError(f"{text} is too large for int64 in units of 10**-{exp}")
    return value


def parse_step(text: str) -> tuple[int, int]:
    """A tick or lot size → (``exp``, step in units of ``10**-exp``), ``exp`` as small as possible.

    ``"0.1"`` → (1, 1); ``"0.10"`` → (1, 1); ``"0.05"`` → (2, 5); ``"10"`` → (0, 10).
    The scale of the integers is then ``10**exp`` units per currency (or traded) unit.
    """
    check_plain(text)
    exp = significant_decimals(text)
    step = to_units(text, exp)
    if step <= 0:
        raise ValueError(f"a tick or lot size must be positive, got {text!r}")
    return exp, step


def units_to_text(value: int, exp: int) -> str:
    """Inverse of :func:`to_units` for reporting: ``units_to_text(1, 3) == "0.001"``."""
    digits = str(value).rjust(exp + 1, "0")
    return digits if exp == 0 else f"{digits[:-exp]}.{digits[-exp:]}"


# --------------------------------------------------------------------------- many values at once

#: 10**k for k = 0..18, the powers that fit int64
_POW10 = np.array([10**k for k in range(19)], dtype=np.int64)


@njit(cache=True)
def scan_one(buf, start, stop):
    """Scan the plain decimal in ``buf[start:stop]`` (uint8): (digits, sig, status).

    ``digits`` the integer of the whole part followed by the significant
    decimals (trailing zeros dropped), ``sig`` the number of significant
    decimals, ``status`` 0 plain and ``digits`` fits int64, 1 not a plain
    decimal, 2 too large for int64 (``digits``/``sig`` are 0 unless status 0 or 2).
    """
    limit = np.int64(922337203685477580)  # (2**63 - 1) // 10
    j = start
    v = np.int64(0)
    big = False
    while j < stop and 48 <= buf[j] <= 57:
        d = buf[j] - 48
        if v > limit or (v == limit and d > 7):
            big = True
        else:
            v = v * 10 + d
        j += 1
    if j == start:
        return np.int64(0), np.int64(0), np.int8(1)
    s = 0
    if j < stop:
        if buf[j] != 46:  # '.'
            return np.int64(0), np.int64(0), np.int8(1)
        j += 1
        f0 = j
        while j < stop and 48 <= buf[j] <= 57:
            j += 1
        if j == f0 or j != stop:
            return np.int64(0), np.int64(0), np.int8(1)
        last = stop
        while last > f0 and buf[last - 1] == 48:
            last -= 1
        for t in range(f0, last):
            d = buf[t] - 48
            if v > limit or (v == limit and d > 7):
                big = True
            else:
                v = v * 10 + d
        s = last - f0
    return v, np.int64(s), np.int8(2 if big else 0)


@njit(cache=True)
def _scan(buf, n):
    """Scan ``n`` values separated by b"\\n" in ``buf`` (uint8) with :func:`scan_one`: (digits, sig, status)."""
    digits = np.zeros(n, np.int64)
    sig = np.zeros(n, np.int64)
    status = np.zeros(n, np.int8)
    i = 0
    m = buf.shape[0]
    for k in range(n):
        start = i
        while i < m and buf[i] != 10:
            i += 1
        digits[k], sig[k], status[k] = scan_one(buf, start, i)
        i += 1  # past the separator
    return digits, sig, status


@njit(cache=True)
def _units(digits, sig, status, exp, pow10):
    """:meth:`Scanned.units` in one pass."""
    n = digits.shape[0]
    out = np.zeros(n, np.int64)
    ok = np.zeros(n, np.bool_)
    for i in range(n):
        shift = exp - sig[i]
        if status[i] == 0 and 0 <= shift <= 18 and digits[i] <= _INT64_MAX_NB // pow10[shift]:
            out[i] = digits[i] * pow10[shift]
            ok[i] = True
    return out, ok


@dataclass(frozen=True)
class Scanned:
    """Many plain decimals scanned at once: see :func:`scan_plain`. Arrays of one length, int64/int8."""

    digits: np.ndarray  # whole part and significant decimals as one integer (valid where status == 0)
    sig: np.ndarray  # significant decimals
    status: np.ndarray  # 0 plain and fits, 1 not plain, 2 too large

    def units(self, exp: int) -> tuple[np.ndarray, np.ndarray]:
        """(values in units of ``10**-exp``, ok): ``ok`` False where :func:`to_units` would raise."""
        return _units(self.digits, self.sig, self.status, exp, _POW10)


def scan_plain(values: list) -> Scanned:
    """Scan a list of values (decimal strings expected) in one compiled pass, never through floats.

    A value that is not a str, not ASCII or holds a newline is marked not plain
    (status 1), exactly as :func:`is_plain` would; ``status`` 2 marks a plain
    value whose digits do not fit int64 in any unit.
    """
    n = len(values)
    try:
        buf = "\n".join(values).encode("ascii")
    except (TypeError, UnicodeEncodeError):
        buf = None
    if buf is not None and buf.count(b"\n") == max(n - 1, 0):
        return Scanned(*_scan(np.frombuffer(buf, np.uint8), n))
    # some value is not an ASCII str without newlines: scan the clean ones, mark the rest
    clean = [isinstance(v, str) and v.isascii() and "\n" not in v for v in values]
    idx = [i for i, c in enumerate(clean) if c]
    out = Scanned(np.zeros(n, np.int64), np.zeros(n, np.int64), np.ones(n, np.int8))
    if idx:
        part = scan_plain([values[i] for i in idx])
        for name in ("digits", "sig", "status"):
            getattr(out, name)[idx] = getattr(part, name)
    return out
