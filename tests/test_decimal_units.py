"""The compiled decimal scan agrees with the exact string conversion on every value, good or bad."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickreplay.adapters.decimal_units import OffGridError, is_plain, scan_plain, to_units

_DECIMALS = st.from_regex(r"[0-9]{1,21}(\.[0-9]{0,12})?", fullmatch=True)
_ANY = st.one_of(_DECIMALS, st.text(max_size=8), st.sampled_from(["", ".", "1.", ".5", "1e5", "-1", "\u0661", "1\n2"]))


def _exact(text, exp):
    """(value, ok) as to_units gives it (ok False where it raises)."""
    if not is_plain(text):
        return 0, False
    try:
        return to_units(text, exp), True
    except (OffGridError, ValueError):
        return 0, False


@settings(max_examples=400, deadline=None)
@given(values=st.lists(_ANY, max_size=30), exp=st.integers(0, 20))
def test_scan_matches_to_units(values, exp):
    sc = scan_plain(values)
    got_v, got_ok = sc.units(exp)
    for i, text in enumerate(values):
        want_v, want_ok = _exact(text, exp)
        if got_ok[i]:  # never a value to_units refuses, never another value
            assert want_ok and int(got_v[i]) == want_v, text
        elif exp <= 18:  # beyond, the compiled pass leaves values to to_units
            assert not want_ok, text
        assert (sc.status[i] != 1) == is_plain(text), text


@pytest.mark.parametrize("text, exp, value", [("61800.20", 1, 618002), ("0.001", 3, 1), ("9223372036854775807", 0,
                                               2**63 - 1), ("0.000", 0, 0), ("12", 3, 12000)])
def test_scan_examples(text, exp, value):
    v, ok = scan_plain([text]).units(exp)
    assert ok[0] and int(v[0]) == value


def test_scan_rejects_what_to_units_rejects():
    v, ok = scan_plain(["9223372036854775808", "61800.25", "1.5x", "", None]).units(1)
    assert not ok.any()
