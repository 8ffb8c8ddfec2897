"""The dynamic update: a calibration and new parents in, the next calibration out (exponentially weighted refit).

:func:`update` refits the calibration's model (``sqrt`` or ``almgren-chriss``) on the parents it was fitted on
(kept in its ``fit["sample"]``) together with the new ones, each parent weighted by its age::

    w = 0.5 ** (age_days / half_life_days),   age_days = (latest trading date - the parent's date) in days

so a parent ``half_life_days`` older than the newest counts half as much (``math.inf``: every parent counts
fully, and the result's parameters are those of a fit on all the data). Ages are recomputed from the dates at
each update, so updating twice equals one update with both batches. The weights enter the least squares of
:mod:`.fit_sqrt` / :mod:`.fit_ac` and their bootstrap (parents resampled, each keeping its weight).

Out of sample: the new parents are the held-out set, scored by the fit on the earlier parents (the weighted
previous data: what the desk would have predicted before they came), next to the uncalibrated default; a
bucket with fewer than the minimum of earlier parents gets its own split. Buckets (``fit["by"]``) keep their
definition: a ``vol-spread`` calibration keeps its tercile edges.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from tickreplay.errors import ConfigError, InputError
from tickreplay.impact import fit_ac, fit_sqrt
from tickreplay.impact.calibration import Calibration


def age_weights(dates: np.ndarray, half_life_days: float) -> np.ndarray:
    """``0.5 ** (age / half_life_days)`` per parent, ages in days before the latest of ``dates`` (ISO text)."""
    if not (half_life_days > 0):
        raise ConfigError(f"parameter 'half_life_days' must be > 0 (math.inf: no decay), got {half_life_days!r}")
    day = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
    if math.isinf(half_life_days):
        return np.ones(len(day))
    return 0.5 ** ((day.max() - day) / half_life_days)


def update(calibration: Calibration, new_parents: pd.DataFrame, half_life_days: float, *,
           bootstrap: int | None = None, seed: int | None = None, data: list[dict] | None = None,
           where: str = "<new parents>") -> Calibration:
    """The next calibration after ``new_parents`` (:func:`tickreplay.impact.parents.measure_parents`), refitted
    with exponential age weights of ``half_life_days`` (module docstring). ``data``: the new parents' tape
    provenance, appended to the calibration's."""
    kind = calibration.kind
    if kind not in ("sqrt", "almgren-chriss"):
        raise ConfigError(f"update works on sqrt and almgren-chriss calibrations, not {kind!r}")
    if "sample" not in calibration.fit:
        raise ConfigError("this calibration keeps no fit['sample'] of its parents: refit it with this version")
    fit = calibration.fit
    by = fit.get("by")
    bootstrap = int(fit.get("bootstrap", fit_sqrt.BOOTSTRAP) if bootstrap is None else bootstrap)
    seed = int(fit.get("seed", fit_sqrt.SEED) if seed is None else seed)
    cols = fit_sqrt.SAMPLE_COLUMNS if kind == "sqrt" else fit_ac.SAMPLE_COLUMNS
    old = pd.DataFrame({c: fit["sample"][c] for c in cols})
    if kind == "sqrt":
        new = fit_sqrt.sqrt_sample(new_parents)
        kept = new_parents
    else:
        new, _ = fit_ac.ac_sample(new_parents)
        kept = new_parents[new_parents["duration_days"] > 0].reset_index(drop=True)
    if not len(new):
        raise InputError(where, None, None, "no new parents to update with")
    if by is not None:
        new["bucket"] = fit_sqrt.bucket_labels(kept, by, where, fit.get("bucket_edges"))[0]
    sample = pd.concat([old, new], ignore_index=True)
    if by is None or (kind == "almgren-chriss" and by != "instrument"):
        inst = sample["instrument"].to_numpy(object)
        if (inst != inst[0]).any():
            i = int(np.argmax(new["instrument"].to_numpy(object) != inst[0]))
            raise InputError(where, int(kept["row"].iat[i]), "instrument",
                             f"{new['instrument'].iat[i]!r}, but the calibration is of {inst[0]!r}")
    w = age_weights(sample["date"].to_numpy(object), half_life_days)
    test = np.r_[np.zeros(len(old), bool), np.ones(len(new), bool)]
    split = {"split": "new parents (fitted on the earlier ones)", "test_days": sorted(set(new["date"]))}
    extra: dict[str, Any] = {k: v for k, v in fit.items() if k in ("bucket_edges", "post_ns")}
    extra["update"] = {"half_life_days": half_life_days if math.isfinite(half_life_days) else "inf",
                       "as_of": str(max(sample["date"])), "n_new": int(len(new)),
                       "previous_params": dict(calibration.params), "updates": int(fit.get("update", {})
                                                                                    .get("updates", 0)) + 1}
    where_all = f"{where} (with the {len(old)} earlier parents)"
    args = dict(by=by, weights=w, bootstrap=bootstrap, seed=seed, data=[*calibration.data, *(data or [])],
                source=fit.get("source"), test=test, split=split, extra_fit=extra, where=where_all)
    if kind == "sqrt":
        return fit_sqrt.calibrate_sample(sample, **args)
    return fit_ac.calibrate_ac_sample(sample, **args)
