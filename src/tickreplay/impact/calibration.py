"""Calibration files: fitted impact parameters as JSON, with where they came from and how well they predict.

A calibration file is one JSON object (never a pickle)::

    {"format": "tickreplay.calibration/1",
     "kind": "sqrt" | "propagator" | "almgren-chriss",
     "params":    {name: number, ...},             # the fitted values
     "intervals": {name: [low, high], ...},        # confidence intervals of params (level in "ci_level")
     "ci_level": 0.95,
     "data": [{"key": catalog key or file, "fingerprint": str, "start_ns": int, "end_ns": int}, ...],
     "oos": {"split": "by day" | "by parent" | ..., "scores": {...}, "default_scores": {...}},
     "fit": {...},                                 # kind-specific details (n, lags, regime, ...)
     "package_version": "0.1.0"}

``params`` names by kind (units in the fitting module's docstring):

* ``sqrt``: ``Y`` (dimensionless), ``delta`` (exponent) — I = Y·σ_daily·(Q/V)^δ.
* ``propagator``: ``G0`` (bps per trade), ``beta`` (kernel exponent), ``lag0`` (lag scale, trades) and
  optionally ``permanent_bps`` — G(ℓ) = G0 / (1 + ℓ/lag0)^β.
* ``almgren-chriss``: ``eta`` (temporary) and ``gamma`` (permanent), in the units of
  :class:`tickreplay.impact.almgren_chriss.ACParams`.

:func:`read_calibration` checks all of this and says what is wrong, naming the file and the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tickreplay.errors import InputError

FORMAT = "tickreplay.calibration/1"
KINDS: dict[str, tuple[str, ...]] = {
    "sqrt": ("Y", "delta"),
    "propagator": ("G0", "beta", "lag0"),
    "almgren-chriss": ("eta", "gamma"),
}


@dataclass(frozen=True)
class Calibration:
    """Fitted parameters of one impact model with their intervals, data provenance and out-of-sample scores."""

    kind: str
    params: dict[str, float]
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    ci_level: float = 0.95
    data: list[dict[str, Any]] = field(default_factory=list)
    oos: dict[str, Any] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)
    package_version: str = ""

    def __post_init__(self) -> None:
        _check(self.to_dict(), "<Calibration>")

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the file format (module docstring)."""
        return {"format": FORMAT, "kind": self.kind, "params": dict(self.params),
                "intervals": {k: [float(a), float(b)] for k, (a, b) in self.intervals.items()},
                "ci_level": self.ci_level, "data": list(self.data), "oos": dict(self.oos), "fit": dict(self.fit),
                "package_version": self.package_version}

    def write(self, path: str | Path) -> Path:
        """Write the calibration as JSON (atomically: a killed write leaves the old file)."""
        import orjson

        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
        tmp.replace(path)
        return path


def new_calibration(kind: str, params: dict[str, float], **rest: Any) -> Calibration:
    """A :class:`Calibration` stamped with this package's version."""
    from tickreplay import __version__

    return Calibration(kind=kind, params={k: float(v) for k, v in params.items()}, package_version=__version__,
                       **rest)


def _check(obj: Any, path: str) -> None:
    def bad(fld: str, what: str) -> InputError:
        return InputError(path, None, fld, what)

    if not isinstance(obj, dict):
        raise bad("(top level)", "expected a JSON object")
    if obj.get("format") != FORMAT:
        raise bad("format", f"expected {FORMAT!r}, got {obj.get('format')!r}")
    kind = obj.get("kind")
    if kind not in KINDS:
        raise bad("kind", f"expected one of {sorted(KINDS)}, got {kind!r}")
    params = obj.get("params")
    if not isinstance(params, dict):
        raise bad("params", "expected an object of parameter name → number")
    for name in KINDS[kind]:
        if name not in params:
            raise bad(f"params.{name}", f"missing: a {kind} calibration needs {', '.join(KINDS[kind])}")
    for name, value in params.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad(f"params.{name}", f"expected a finite number, got {value!r}")
    intervals = obj.get("intervals", {})
    if not isinstance(intervals, dict):
        raise bad("intervals", "expected an object of parameter name → [low, high]")
    for name, iv in intervals.items():
        if (not isinstance(iv, (list, tuple)) or len(iv) != 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in iv) or iv[0] > iv[1]):
            raise bad(f"intervals.{name}", f"expected [low, high] with low <= high, got {iv!r}")
    level = obj.get("ci_level", 0.95)
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise bad("ci_level", f"expected a number in (0, 1), got {level!r}")
    for fld in ("data",):
        if not isinstance(obj.get(fld, []), list):
            raise bad(fld, "expected a list")
    for fld in ("oos", "fit"):
        if not isinstance(obj.get(fld, {}), dict):
            raise bad(fld, "expected an object")


def read_calibration(path: str | Path, kind: str | None = None) -> Calibration:
    """Read and check a calibration file; ``kind``: the kind the caller needs (an error names the file if not)."""
    import orjson

    path = Path(path)
    try:
        obj = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as err:
        raise InputError(str(path), None, None, f"not valid JSON ({err})") from None
    _check(obj, str(path))
    if kind is not None and obj["kind"] != kind:
        raise InputError(str(path), None, "kind", f"expected a {kind!r} calibration, got {obj['kind']!r}")
    return Calibration(kind=obj["kind"], params={k: float(v) for k, v in obj["params"].items()},
                       intervals={k: (float(a), float(b)) for k, (a, b) in obj.get("intervals", {}).items()},
                       ci_level=float(obj.get("ci_level", 0.95)), data=list(obj.get("data", [])),
                       oos=dict(obj.get("oos", {})), fit=dict(obj.get("fit", {})),
                       package_version=str(obj.get("package_version", "")))


def ac_coefficients(cal: Calibration, path: str | Path) -> tuple[float, float]:
    """(η, γ) of an ``almgren-chriss`` calibration read from ``path``, checked usable: the model needs η > 0 (a
    fit with no cost rising with the trading rate clamps η to 0; fit.clamped says so)."""
    eta, gamma = cal.params["eta"], cal.params["gamma"]
    if not eta > 0:
        raise InputError(str(path), None, "params.eta",
                         f"the temporary impact eta = {eta!r}: Almgren-Chriss needs eta > 0 (the fit found no cost "
                         f"rising with the trading rate{'; clamped: ' + str(cal.fit['clamped']) if cal.fit.get('clamped') else ''}); "
                         "calibrate on more parents spread over trading rates")
    if gamma < 0:
        raise InputError(str(path), None, "params.gamma", f"the permanent impact gamma = {gamma!r}: expected >= 0")
    return eta, gamma

