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

_PLAIN = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
_INT64_MAX = (1 << 63) - 1


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
