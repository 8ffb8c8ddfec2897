"""Checks shared across the package: parameters (bad values raise ConfigError naming the parameter) and lists."""

from __future__ import annotations

import math
import numbers
from typing import Sequence

from tickreplay.errors import ConfigError


def finite(name: str, value: float) -> float:
    """``value`` as a float; ConfigError if it is not a finite number."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"parameter '{name}' must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ConfigError(f"parameter '{name}' must be finite, got {value!r}")
    return v


def positive(name: str, value: float) -> float:
    """``value`` > 0, else ConfigError naming ``name``."""
    v = finite(name, value)
    if v <= 0:
        raise ConfigError(f"parameter '{name}' must be > 0, got {value!r}")
    return v


def non_negative(name: str, value: float) -> float:
    """``value`` >= 0, else ConfigError naming ``name``."""
    v = finite(name, value)
    if v < 0:
        raise ConfigError(f"parameter '{name}' must be >= 0, got {value!r}")
    return v


def fraction(name: str, value: float) -> float:
    """``value`` in (0, 1], else ConfigError naming ``name``."""
    v = finite(name, value)
    if not 0 < v <= 1:
        raise ConfigError(f"parameter '{name}' must be in (0, 1], got {value!r}")
    return v


def percent(name: str, value: float) -> float:
    """A percentage in (0, 100] → a fraction in (0, 1]; ConfigError naming ``name`` otherwise."""
    v = finite(name, value)
    if not 0 < v <= 100:
        raise ConfigError(f"parameter '{name}' must be in (0, 100], got {value!r}")
    return v / 100.0


def positive_int(name: str, value: int) -> int:
    """An integer >= 1, else ConfigError naming ``name``."""
    if type(value) is int and value >= 1:  # the common case, without the ABC check (bool is not exactly int)
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"parameter '{name}' must be an integer, got {value!r}")
    v = int(value)
    if v < 1:
        raise ConfigError(f"parameter '{name}' must be >= 1, got {value!r}")
    return v


def side(name: str, value: int | str) -> int:
    """+1/-1, or 'buy'/'sell' → +1/-1."""
    if isinstance(value, str):
        m = {"buy": 1, "sell": -1}.get(value.lower())
        if m is None:
            raise ConfigError(f"parameter '{name}' must be 'buy' or 'sell', got {value!r}")
        return m
    if value not in (1, -1) or isinstance(value, bool):
        raise ConfigError(f"parameter '{name}' must be +1 (buy) or -1 (sell), got {value!r}")
    return int(value)


def list_mismatch(name: str, got: Sequence, want: Sequence) -> str | None:
    """A sentence saying how two lists differ, or None when equal."""
    got, want = list(got), list(want)
    if got == want:
        return None
    missing = [x for x in want if x not in got]
    extra = [x for x in got if x not in want]
    parts = []
    if missing:
        parts.append(f"missing {missing}")
    if extra:
        parts.append(f"unexpected {extra}")
    if not parts:
        parts.append("same entries in a different order")
    return f"{name} differs from the expected one: " + "; ".join(parts) + f" (model: {got}, expected: {want})"
