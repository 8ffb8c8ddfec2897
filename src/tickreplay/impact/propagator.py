"""The propagator (transient impact) model calibrated from public trades.

Notation (one day, trades n = 0..N-1 as :mod:`tickreplay.impact.trades` signs and groups them): ``ε_n`` the
aggressor's sign, ``m_n`` the mid just before trade n, and the mid in bps of the day's level
``x_n = 1e4 · (m_n − m̄) / m̄`` with ``m̄`` the mean of the day's ``m_n`` (one constant scale per day, so the
estimators are linear in prices). Lags ℓ count trades.

Estimators (ℓ = 0..L, L = ``max_lag``; all lags at once by FFT, O(N log N), no Python loop over trades):

* sign autocorrelation, *uncentred* (the moments the model's identity below uses; the day's mean sign is
  not removed): ``C(ℓ) = 1/(N−ℓ) Σ_{n<N−ℓ} ε_n ε_{n+ℓ}``, so ``C(0) = 1``;
* response, bps: ``R(ℓ) = 1/(N−ℓ) Σ_{n<N−ℓ} ε_n (x_{n+ℓ} − x_n)``, ``R(0) = 0``.

Several days are pooled lag by lag with the days' pair counts as weights,
``C(ℓ) = Σ_d (N_d − ℓ) C_d(ℓ) / Σ_d (N_d − ℓ)`` (the same for R): every pair of trades ℓ apart within a
day counts once, and no pair spans two days.

Model (Bouchaud, Gefen, Potters & Wyart 2004): ``x_n = Σ_{i<n} G(n − i) ε_i + noise`` with ``G(0) = 0``.
With ``g(k) = G(k+1) − G(k)`` (k ≥ 0, so ``g(0) = G(1)``), ``x_{n+1} − x_n = Σ_{k≥0} g(k) ε_{n−k} + noise``,
hence for the discrete derivative of the response

    S(ℓ) := R(ℓ+1) − R(ℓ) = Σ_{k≥0} g(k) C(ℓ − k),   C(−j) = C(j).

Truncating the kernel at k < L gives, for ℓ = 0..L−1, the symmetric Toeplitz system ``T g = S`` with
``T[ℓ, k] = C(|ℓ − k|)``, solved by :func:`scipy.linalg.solve_toeplitz`; then ``G(ℓ) = Σ_{k<ℓ} g(k)``,
ℓ = 1..L (bps per trade). With iid signs (``C(j) = δ_j``) this is ``G(ℓ) = R(ℓ)``. Forward, a kernel and a
sign autocorrelation give the response ``R(ℓ) = Σ_{m<ℓ} S(m)`` with ``S = T g``
(:func:`predict_response`, :func:`scipy.linalg.matmul_toeplitz`).

Fits, on the reported lags (:func:`log_lags`: about 10 a decade from 1 to L, so each decade weighs alike):

* ``C_c(ℓ) ≈ c ℓ^−γ`` on the *centred* autocorrelation ``C_c(ℓ) = (C(ℓ) − ε̄²)/(1 − ε̄²)`` (``ε̄`` the day's
  mean sign; days pooled as above): least squares of ``log C_c`` on ``log ℓ`` over the reported lags in
  ``[c_fit_min, c_fit_max]`` (default 1..L) where ``C_c > 0`` (lags with ``C_c ≤ 0`` are left out and counted).
  The uncentred C, right for the Toeplitz identity, has a floor ``ε̄²`` from a day's buy/sell imbalance that
  would read as long memory (iid signs 55/45 give γ ≈ 0 uncentred, none centred);
* ``G(ℓ) ≈ G0 / (1 + ℓ/lag0)^β`` (``G0`` bps per trade, ``lag0`` trades): :func:`scipy.optimize.least_squares`
  on the bps residuals at the reported lags;
* the check of a diffusive price, ``β ≈ (1 − γ)/2``, is reported as ``β − (1 − γ)/2``, never asserted.

Out of sample (:func:`out_of_sample`): with several days, each day in turn is held out, the kernel is fitted
on the others and the held-out day's response is predicted from *its own* C and the fitted power-law G; with
one day, the kernel is fitted on the first half of its trades and the second half is predicted. The default
it is compared with is a constant kernel ``G(ℓ) = R_fit(1)`` (every trade's lag-1 response, permanent). Scores
at the reported lags: RMSE and MAE in bps, and R² against the held-out response's mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import scipy.fft
import scipy.linalg
import scipy.optimize

from tickreplay.errors import ConfigError
from tickreplay.impact.trades import SignedTrades

if TYPE_CHECKING:
    from tickreplay.catalog import Entry
    from tickreplay.impact.calibration import Calibration

MIN_TRADES = 100  # fewest trades a tape must have (and more than max_lag) to enter a fit
DEFAULT_MAX_LAG = 1000


def log_lags(max_lag: int, per_decade: int = 10) -> np.ndarray:
    """Reported lags: about ``per_decade`` distinct integers a decade from 1 to ``max_lag`` (both included)."""
    k = max(2, int(math.ceil(per_decade * math.log10(max(max_lag, 1)))) + 1)
    return np.unique(np.rint(np.logspace(0, math.log10(max_lag), k)).astype(np.int64))


def _lagged_sums(a: np.ndarray, b: np.ndarray, max_lag: int) -> np.ndarray:
    """``s[ℓ] = Σ_{n<N−ℓ} a_n b_{n+ℓ}`` for ℓ = 0..max_lag (FFT with zero padding: no wrap-around)."""
    size = scipy.fft.next_fast_len(len(a) + max_lag + 1, real=True)
    fa = scipy.fft.rfft(a, size)
    fb = fa if b is a else scipy.fft.rfft(b, size)
    return scipy.fft.irfft(np.conj(fa) * fb, size)[: max_lag + 1]


@dataclass(frozen=True)
class DayEstimate:
    """One day's (or one segment's) estimators at ℓ = 0..L: ``C`` (sign autocorrelation), ``R`` (response, bps)."""

    key: str
    n_trades: int
    C: np.ndarray
    R: np.ndarray
    mean_sign: float = 0.0  # ε̄, the day's mean sign (for the centred autocorrelation)

    @property
    def C_centred(self) -> np.ndarray:
        """(C(ℓ) − ε̄²)/(1 − ε̄²): the autocorrelation of the signs about their mean (1 at ℓ = 0)."""
        m2 = self.mean_sign ** 2
        return (self.C - m2) / (1.0 - m2) if m2 < 1 else np.full_like(self.C, math.nan)

    @property
    def max_lag(self) -> int:
        return len(self.C) - 1

    @property
    def pairs(self) -> np.ndarray:
        """Pairs of trades ℓ apart, ℓ = 0..L (the pooling weights)."""
        return (self.n_trades - np.arange(self.max_lag + 1)).astype(np.float64)


def day_estimate(key: str, sign: np.ndarray, x_bps: np.ndarray, max_lag: int) -> DayEstimate:
    """C(ℓ) and R(ℓ), ℓ = 0..max_lag, of one day from its signs and mids in bps (module docstring)."""
    n = len(sign)
    if max_lag >= n:
        raise ConfigError(f"max_lag {max_lag} must be below the number of trades ({n}) of {key}")
    eps = np.asarray(sign, dtype=np.float64)
    x = np.asarray(x_bps, dtype=np.float64)
    pairs = n - np.arange(max_lag + 1)
    c = np.rint(_lagged_sums(eps, eps, max_lag)) / pairs  # sums of ±1 products are integers: exact
    ex = np.cumsum(eps * x)  # Σ_{n<N−ℓ} ε_n x_n = ex[N−ℓ−1]
    r = (_lagged_sums(eps, x, max_lag) - ex[n - 1 - np.arange(max_lag + 1)]) / pairs
    r[0] = 0.0
    return DayEstimate(key, n, c, r, float(eps.mean()))


def trades_bps(trades: SignedTrades) -> np.ndarray:
    """The mids before the trades in bps of the day's mean mid: ``1e4 (m_n − m̄) / m̄``."""
    m = trades.mid_x2.astype(np.float64)
    mean = m.mean()
    return 1e4 * (m - mean) / mean


def trades_estimate(key: str, trades: SignedTrades, max_lag: int) -> DayEstimate:
    """:func:`day_estimate` of a tape's signed trades."""
    return day_estimate(key, trades.sign, trades_bps(trades), max_lag)


def pool(days: Sequence[DayEstimate]) -> tuple[np.ndarray, np.ndarray, int]:
    """(C, R, n_trades) of several days, averaged lag by lag with pair-count weights (no pair spans two days)."""
    if not days:
        raise ConfigError("no days to pool")
    w = np.array([d.pairs for d in days])
    tot = w.sum(axis=0)
    c = (w * np.array([d.C for d in days])).sum(axis=0) / tot
    r = (w * np.array([d.R for d in days])).sum(axis=0) / tot
    return c, r, int(sum(d.n_trades for d in days))


def pool_centred(days: Sequence[DayEstimate]) -> np.ndarray:
    """The days' centred sign autocorrelations (:attr:`DayEstimate.C_centred`), pooled as :func:`pool` does."""
    w = np.array([d.pairs for d in days])
    return (w * np.array([d.C_centred for d in days])).sum(axis=0) / w.sum(axis=0)


def solve_kernel(C: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Kernel G(ℓ), ℓ = 0..L (``G[0] = 0``, bps per trade), from C(0..L) and R(0..L): the Toeplitz system
    ``Σ_{k<L} g(k) C(|ℓ−k|) = R(ℓ+1) − R(ℓ)``, ℓ = 0..L−1, solved with
    :func:`scipy.linalg.solve_toeplitz`."""
    max_lag = len(C) - 1
    s = np.diff(R)  # S(ℓ) = R(ℓ+1) − R(ℓ), ℓ = 0..L−1
    g = scipy.linalg.solve_toeplitz(C[:max_lag], s)
    return np.r_[0.0, np.cumsum(g)]


def predict_response(C: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Response R(ℓ), ℓ = 0..L, that a kernel G(0..L) (``G[0] = 0``) gives signs with autocorrelation C(0..L)."""
    max_lag = len(C) - 1
    g = np.diff(G[: max_lag + 1])
    s = scipy.linalg.matmul_toeplitz(C[:max_lag], g)
    return np.r_[0.0, np.cumsum(s)]


def power_law_kernel(lags: np.ndarray | float, G0: float, lag0: float, beta: float) -> np.ndarray:
    """``G(ℓ) = G0 / (1 + ℓ/lag0)^β`` (bps per trade) at ``lags`` (trades)."""
    return G0 / (1.0 + np.asarray(lags, dtype=np.float64) / lag0) ** beta


def fit_sign_power_law(lags: np.ndarray, C: np.ndarray) -> tuple[float, float, int]:
    """(c, γ, lags used) of ``C(ℓ) ≈ c ℓ^−γ`` by log-log least squares over ``lags`` where C > 0
    (NaN when fewer than 2 lags have C > 0)."""
    lags = np.asarray(lags)
    vals = C[lags]
    ok = vals > 0
    if np.count_nonzero(ok) < 2:
        return math.nan, math.nan, int(np.count_nonzero(ok))
    slope, intercept = np.polyfit(np.log(lags[ok]), np.log(vals[ok]), 1)
    return float(math.exp(intercept)), float(-slope), int(np.count_nonzero(ok))


def fit_kernel_power_law(lags: np.ndarray, G: np.ndarray) -> tuple[float, float, float]:
    """(G0, lag0, β) of ``G(ℓ) ≈ G0/(1 + ℓ/lag0)^β`` by :func:`scipy.optimize.least_squares` on bps residuals
    at ``lags``; lag0 kept in [1e-3, 100·max lag] and β in [−1, 5]."""
    lags = np.asarray(lags, dtype=np.float64)
    target = G[lags.astype(np.int64)]

    def resid(p: np.ndarray) -> np.ndarray:
        return power_law_kernel(lags, p[0], math.exp(p[1]), p[2]) - target

    hi = math.log(100.0 * lags[-1])
    start = np.array([target[0] * 2.0 ** 0.3, 0.0, 0.3])  # G(1) at lag0 = 1, β = 0.3
    sol = scipy.optimize.least_squares(resid, start, bounds=([-np.inf, math.log(1e-3), -1.0], [np.inf, hi, 5.0]),
                                       x_scale="jac")
    return float(sol.x[0]), float(math.exp(sol.x[1])), float(sol.x[2])


@dataclass(frozen=True)
class PropagatorFit:
    """Pooled estimators (ℓ = 0..L) and the fits; see the module docstring for every formula."""

    n_trades: int
    C: np.ndarray  # sign autocorrelation, 0..L
    R: np.ndarray  # response, bps, 0..L
    C_centred: np.ndarray  # centred sign autocorrelation, 0..L (what γ is fitted on)
    G: np.ndarray  # kernel from the Toeplitz solve, bps per trade, 0..L (G[0] = 0)
    lags: np.ndarray  # reported lags (log-spaced), trades
    c: float
    gamma: float
    c_fit_lags: tuple[int, int]
    c_fit_used: int  # reported lags in the range with C > 0
    G0: float
    lag0: float
    beta: float

    @property
    def max_lag(self) -> int:
        return len(self.C) - 1

    @property
    def beta_expected(self) -> float:
        """(1 − γ)/2: the β that keeps the price diffusive given γ."""
        return (1.0 - self.gamma) / 2.0

    def kernel_fitted(self, lags: np.ndarray) -> np.ndarray:
        """The power-law kernel at ``lags`` (0 at lag 0)."""
        lags = np.asarray(lags)
        return np.where(lags > 0, power_law_kernel(np.maximum(lags, 1), self.G0, self.lag0, self.beta), 0.0)

    def summary(self) -> dict[str, Any]:
        """The figures at the reported lags, for JSON output (the calibration file's ``fit``)."""
        lg = self.lags
        return {"n_trades": self.n_trades, "max_lag": self.max_lag, "gamma": self.gamma, "c": self.c,
                "c_fit_lags": list(self.c_fit_lags), "c_fit_lags_used": self.c_fit_used, "G0": self.G0,
                "lag0": self.lag0, "beta": self.beta,
                "check": {"beta_expected": self.beta_expected, "difference": self.beta - self.beta_expected},
                "lags": lg, "sign_autocorrelation": self.C[lg],
                "sign_autocorrelation_centred": self.C_centred[lg], "response": self.R[lg], "kernel": self.G[lg],
                "kernel_fit": self.kernel_fitted(lg)}


def fit_propagator(days: Sequence[DayEstimate], c_fit_lags: tuple[int, int] | None = None) -> PropagatorFit:
    """Pool the days, solve the kernel, fit both power laws (module docstring).

    ``c_fit_lags``: (min, max) lag range of the C fit (default (1, L)).
    """
    C, R, n = pool(days)
    max_lag = len(C) - 1
    lags = log_lags(max_lag)
    lo, hi = c_fit_lags or (1, max_lag)
    if not 1 <= lo < hi <= max_lag:
        raise ConfigError(f"parameter 'c_fit_lags' ({lo}, {hi}) must satisfy 1 <= min < max <= max_lag ({max_lag})")
    Cc = pool_centred(days)
    c, gamma, used = fit_sign_power_law(lags[(lags >= lo) & (lags <= hi)], Cc)
    G = solve_kernel(C, R)
    G0, lag0, beta = fit_kernel_power_law(lags, G)
    return PropagatorFit(n, C, R, Cc, G, lags, c, gamma, (int(lo), int(hi)), used, G0, lag0, beta)


def response_scores(actual: np.ndarray, predicted: np.ndarray, lags: np.ndarray) -> dict[str, float]:
    """RMSE and MAE (bps) and R² (against the mean of ``actual``) at ``lags``."""
    a, p = actual[lags], predicted[lags]
    err = p - a
    sst = float(((a - a.mean()) ** 2).sum())
    return {"rmse_bps": float(np.sqrt(np.mean(err**2))), "mae_bps": float(np.mean(np.abs(err))),
            "r2": 1.0 - float((err**2).sum()) / sst if sst > 0 else math.nan}


def out_of_sample(days: Sequence[DayEstimate], halves: tuple[DayEstimate, DayEstimate] | None = None
                  ) -> dict[str, Any]:
    """Scores of the fitted kernel on data it was not fitted on, next to the constant default kernel's.

    Several ``days``: leave one day out (fit on the others, predict the held-out day's R from its C). One day:
    pass ``halves`` (the first and second half of its trades): fit on the first, predict the second.
    """
    if len(days) >= 2:
        folds = [([d for j, d in enumerate(days) if j != i], days[i]) for i in range(len(days))]
        split = "by day (leave one day out)"
    elif halves is not None:
        folds = [([halves[0]], halves[1])]
        split = "by half day (fit on the first half of the trades, predict the second)"
    else:
        raise ConfigError("out-of-sample scores need two days or the two halves of one day")
    scores, default, per_fold = [], [], []
    for train, test in folds:
        fit = fit_propagator(train)
        lags = log_lags(test.max_lag)
        full = np.arange(test.max_lag + 1)
        pred = predict_response(test.C, fit.kernel_fitted(full))
        const = np.where(full > 0, fit.R[1], 0.0)
        pred0 = predict_response(test.C, const)
        s, s0 = response_scores(test.R, pred, lags), response_scores(test.R, pred0, lags)
        scores.append(s)
        default.append(s0)
        per_fold.append({"fit_on": [d.key for d in train], "held_out": test.key, "scores": s, "default_scores": s0})

    def mean(rows: list[dict[str, float]]) -> dict[str, float]:
        return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}

    return {"split": split, "scores": mean(scores), "default_scores": mean(default),
            "default": "constant kernel G(l) = R(1) of the fitted data", "folds": per_fold}


@dataclass(frozen=True)
class TapeTrades:
    """One catalog entry's signed trades and provenance."""

    key: str
    fingerprint: str
    trades: SignedTrades
    counts: dict[str, int] = field(default_factory=dict)


def check_trade_counts(tapes: Sequence[TapeTrades], max_lag: int) -> None:
    """Errors a user can act on: too few trades in a tape, ``max_lag`` not below a tape's trade count, and with
    one tape ``max_lag`` not below half its trades (the out-of-sample halves)."""
    if isinstance(max_lag, bool) or not isinstance(max_lag, (int, np.integer)) or max_lag < 1:
        raise ConfigError(f"parameter 'max_lag' must be a positive integer, got {max_lag!r}")
    if not tapes:
        raise ConfigError("the propagator fit needs at least one tape")
    for t in tapes:
        n = len(t.trades)
        if n < MIN_TRADES:
            raise ConfigError(f"catalog entry {t.key} has {n} trades: the propagator fit needs at least "
                              f"{max(MIN_TRADES, max_lag + 1)} per tape (at least {MIN_TRADES}, and more than "
                              f"--max-lag {max_lag})")
        if max_lag >= n:
            raise ConfigError(f"--max-lag {max_lag} is not below the {n} trades of catalog entry {t.key}: "
                              f"lower it below {n}")
    if len(tapes) == 1 and max_lag >= len(tapes[0].trades) // 2:
        n = len(tapes[0].trades)
        raise ConfigError(f"--max-lag {max_lag} is not below half the {n} trades of catalog entry {tapes[0].key} "
                          f"(with one tape the out-of-sample check fits on the first half and predicts the "
                          f"second): lower it below {n // 2} or give more tapes")


def calibrate(tapes: Sequence[TapeTrades], max_lag: int = DEFAULT_MAX_LAG, hidden: bool = True
              ) -> tuple[PropagatorFit, "Calibration"]:
    """Fit the propagator on the tapes' trades and build its calibration (params, provenance, OOS scores)."""
    from tickreplay.impact.calibration import new_calibration

    check_trade_counts(tapes, max_lag)
    days = [trades_estimate(t.key, t.trades, max_lag) for t in tapes]
    fit = fit_propagator(days)
    if len(tapes) == 1:
        t = tapes[0]
        h = len(t.trades) // 2
        halves = (trades_estimate(f"{t.key} (first half)", t.trades.slice(0, h), max_lag),
                  trades_estimate(f"{t.key} (second half)", t.trades.slice(h, len(t.trades)), max_lag))
        oos = out_of_sample(days, halves)
    else:
        oos = out_of_sample(days)
    data = [{"key": t.key, "fingerprint": t.fingerprint, "start_ns": int(t.trades.ts_ns[0]),
             "end_ns": int(t.trades.ts_ns[-1]), **t.counts} for t in tapes]
    detail = {**fit.summary(), "hidden_executions": "included" if hidden else "excluded",
              "pooling": "per-day C and R averaged lag by lag with pair-count weights (N_d - lag)",
              "units": {"response": "bps", "kernel": "bps per trade", "lags": "trades"}}
    cal = new_calibration("propagator", {"G0": fit.G0, "beta": fit.beta, "lag0": fit.lag0}, data=data, oos=oos,
                          fit=detail)
    return fit, cal


def calibrate_entries(entries: Sequence["Entry"], max_lag: int = DEFAULT_MAX_LAG, hidden: bool = True
                      ) -> tuple[PropagatorFit, "Calibration"]:
    """:func:`calibrate` on catalog entries (one instrument; each entry one day; generated days of one
    :func:`~tickreplay.adapters.synthetic.synthetic_market`, i.e. its seeds, are days of one instrument)."""
    from tickreplay.impact.trades import entry_trades

    if not entries:
        raise ConfigError("the propagator fit needs at least one catalog entry")
    tapes, symbols = [], set()
    for e in entries:
        tape, trades = entry_trades(e, hidden)
        symbols.add(tape.instrument.symbol)
        tapes.append(TapeTrades(e.key, e.fingerprint, trades, trades.counts()))
    if len(symbols) > 1:
        from tickreplay.adapters.synthetic import synthetic_market

        if len({synthetic_market(s) or s for s in symbols}) > 1:  # generated days (seeds) of one market are one
            raise ConfigError(f"the tapes mix symbols {sorted(symbols)}: calibrate one instrument at a time")
    return calibrate(tapes, max_lag, hidden)


def plot_propagator(fit: PropagatorFit, path: str | Path, title: str = "Propagator model") -> Path:
    """Write C(ℓ) and R(ℓ) (with G) log-log, each with its power-law fit, as a PNG (matplotlib, Agg)."""
    from tickreplay.impact.figures import pyplot, save_png

    plt = pyplot()
    lg = fit.lags
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.2))
    c = fit.C_centred[lg]
    a1.loglog(lg[c > 0], c[c > 0], "o", ms=3, label="centred C(ℓ) > 0")
    if math.isfinite(fit.gamma):
        a1.loglog(lg, fit.c * lg.astype(float) ** -fit.gamma, "-", label=f"c ℓ^-γ, γ = {fit.gamma:.3f}")
    a1.set_xlabel("lag ℓ (trades)")
    a1.set_ylabel("sign autocorrelation about the mean sign")
    for y, name, style in ((fit.R[lg], "R(ℓ)", "o"), (fit.G[lg], "G(ℓ) (Toeplitz)", "s")):
        a2.loglog(lg[y > 0], y[y > 0], style, ms=3, label=name + " > 0")
    a2.loglog(lg, fit.kernel_fitted(lg), "-", label=f"G0/(1+ℓ/ℓ0)^β, β = {fit.beta:.3f}")
    a2.set_xlabel("lag ℓ (trades)")
    a2.set_ylabel("bps")
    for ax in (a1, a2):
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(f"{title}: β − (1−γ)/2 = {fit.beta - fit.beta_expected:+.3f}")
    return save_png(fig, path)
