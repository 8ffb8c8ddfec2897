"""Data adapters: one module per source format, each producing an event tape.

Every adapter returns an :class:`IngestResult`. Adapters validate as they
read: in strict mode the first bad value raises an ``InputError`` naming
file, row and field; in lenient mode each anomaly kind is counted in
``anomalies`` and reported with the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tickreplay.errors import AnomalyLog

if TYPE_CHECKING:  # the package stays light to import (the command line lists commands without numpy)
    from tickreplay.book.snapshots import Snapshots
    from tickreplay.tape import Tape


@dataclass
class IngestResult:
    """A tape, optionally its per-event top-N snapshots, and what reading it found."""

    tape: Tape
    snapshots: Snapshots | None = None
    anomalies: AnomalyLog = field(default_factory=AnomalyLog)
    report: dict = field(default_factory=dict)  # source-specific counts (JSON-serialisable)
