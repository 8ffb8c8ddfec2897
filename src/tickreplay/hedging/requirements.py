"""Breach detection and the bookkeeping of what is hedged and what is in flight.

Per instrument a :class:`HedgeBook` keeps, in exposure units (signed shares of
exposure offset, + for a long exposure covered by a short hedge):

* ``hedged_shares``: the exposure offset by filled hedges;
* the hedges in flight: each requirement raised and not yet closed, with its
  side and the shares still to fill.

``covered = hedged + Σ in flight (−side × remaining)`` and the **net**
exposure is ``exposure − covered``. A breach is ``|net| > threshold``. It
raises one :class:`Requirement`: trade ``side = −sign(net)`` (sell to offset a
long exposure) ``quantity = |net| − target`` shares, which brings the net back
to ``±target`` (the edge of the target band on the breach's side; ``target``
0: back to zero). The rule that keeps a requirement from being raised twice
for the same exposure: **the shares in flight count as covered as soon as the
requirement is raised**, so the same exposure never breaches again while its
hedge works; only a further move of the exposure by more than the threshold
(relative to what is covered) raises a new one. When a hedge ends,
:meth:`HedgeBook.close` releases what it did not fill: the net grows back
by that amount and the next observation may breach again (a paused
requirement is closed with nothing filled).

The search for the next breach is vectorised (numpy over the path, in
growing chunks).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tickreplay.checks import non_negative, positive
from tickreplay.errors import ConfigError
from tickreplay.hedging.exposure import ExposurePath

_CHUNK = 4096  # first chunk of the breach search; doubles until a breach or the end of the path


@dataclass(frozen=True)
class Requirement:
    """A hedge to execute: trade ``quantity_shares`` on ``side`` (+1 buy, −1 sell) of ``instrument`` from
    ``time_ns``; ``exposure_shares`` and ``covered_shares`` as the book saw them at the breach."""

    req_id: int
    time_ns: int
    instrument: str
    side: int
    quantity_shares: int
    exposure_shares: int
    covered_shares: int

    @property
    def net_shares(self) -> int:
        """Net exposure at the breach, signed shares."""
        return self.exposure_shares - self.covered_shares

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Requirement":
        return cls(**{k: (str(v) if k == "instrument" else int(v)) for k, v in d.items()})


class HedgeBook:
    """What is hedged and in flight for one instrument (module docstring); ``threshold_shares`` > ``target_shares``
    >= 0."""

    def __init__(self, instrument: str, threshold_shares: int, target_shares: int = 0, hedged_shares: int = 0,
                 ) -> None:
        self.instrument = instrument
        self.threshold_shares = int(positive("threshold_shares", threshold_shares))
        self.target_shares = int(non_negative("target_shares", target_shares))
        if self.target_shares >= self.threshold_shares:
            raise ConfigError(f"parameter 'target_shares' ({target_shares}) must be below 'threshold_shares' "
                              f"({threshold_shares}): a hedge brings the net back inside the threshold")
        self.hedged_shares = int(hedged_shares)
        self.in_flight: dict[int, tuple[int, int]] = {}  # req_id -> (side, shares still to fill)
        self._next_id = 0

    @property
    def covered_shares(self) -> int:
        """Exposure offset by filled hedges and by the shares in flight, signed shares."""
        return self.hedged_shares - sum(side * left for side, left in self.in_flight.values())

    def net(self, exposure_shares: int) -> int:
        """``exposure − covered``, signed shares."""
        return int(exposure_shares) - self.covered_shares

    def next_breach(self, times_ns: np.ndarray, exposure_shares: np.ndarray, start: int = 0,
                    ) -> tuple[int, Requirement] | None:
        """The first observation ``i >= start`` with ``|exposure[i] − covered| > threshold``, and the requirement it
        raises (registered in flight); None if the path has no breach from ``start`` on."""
        e = np.asarray(exposure_shares, dtype=np.int64)
        covered, n, width = self.covered_shares, len(e), _CHUNK
        i = start
        while i < n:
            hits = np.flatnonzero(np.abs(e[i:i + width] - covered) > self.threshold_shares)
            if len(hits):
                i += int(hits[0])
                return i, self.raise_requirement(int(times_ns[i]), int(e[i]))
            i, width = i + width, 2 * width
        return None

    def raise_requirement(self, time_ns: int, exposure_shares: int) -> Requirement:
        """Register the requirement for a breach at ``time_ns`` (ConfigError if there is none)."""
        covered = self.covered_shares
        net = exposure_shares - covered
        if abs(net) <= self.threshold_shares:
            raise ConfigError(f"no breach at {time_ns}: net {net} shares is within the threshold "
                              f"{self.threshold_shares}")
        side = -1 if net > 0 else 1
        req = Requirement(self._next_id, int(time_ns), self.instrument, side, abs(net) - self.target_shares,
                          int(exposure_shares), covered)
        self.in_flight[req.req_id] = (side, req.quantity_shares)
        self._next_id += 1
        return req

    def fill(self, req_id: int, shares: int) -> None:
        """``shares`` (> 0) of requirement ``req_id`` filled: they move from in flight to hedged."""
        side, left = self._live(req_id)
        if not 0 < shares <= left:
            raise ConfigError(f"requirement {req_id}: a fill of {shares} shares must be in (0, {left}] "
                              "(the shares still in flight)")
        self.in_flight[req_id] = (side, left - shares)
        self.hedged_shares -= side * int(shares)

    def close(self, req_id: int) -> int:
        """End requirement ``req_id``'s hedge; returns the unfilled shares it releases (no longer covered)."""
        _, left = self._live(req_id)
        del self.in_flight[req_id]
        return left

    def _live(self, req_id: int) -> tuple[int, int]:
        if req_id not in self.in_flight:
            raise ConfigError(f"requirement {req_id} of {self.instrument!r} is not in flight")
        return self.in_flight[req_id]


def scan_requirements(path: ExposurePath, threshold_shares: int, target_shares: int = 0) -> list[Requirement]:
    """Every requirement of ``path`` when each hedge fills completely as soon as it is raised, sorted by time (then
    instrument): the breaches a risk system with instant hedging would see."""
    out: list[Requirement] = []
    for inst in sorted(set(path.instruments.tolist())):
        times, e = path.for_instrument(inst)
        book, i = HedgeBook(inst, threshold_shares, target_shares), 0
        while (hit := book.next_breach(times, e, i)) is not None:
            i, req = hit
            book.fill(req.req_id, req.quantity_shares)
            book.close(req.req_id)
            out.append(req)
            i += 1
    return sorted(out, key=lambda r: (r.time_ns, r.instrument))
