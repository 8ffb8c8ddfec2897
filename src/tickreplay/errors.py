"""Input errors and the anomaly log of lenient mode.

Every problem found in input data is either raised (strict mode) as an
:class:`InputError` naming the file, the row (or line) and the field, or, in
lenient mode, counted per anomaly kind in an :class:`AnomalyLog` that travels
with the run. Nothing is dropped without being counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


class TickreplayError(Exception):
    """Base class of every error tickreplay raises on purpose."""


class InputError(TickreplayError, ValueError):
    """Bad input data: says where (file, row, field) and what was expected.

    ``row`` is 1-based as a person counts lines in the file (the first line is
    row 1); ``None`` when the problem concerns the whole file.
    """

    def __init__(
        self,
        path: str,
        row: int | None,
        field: str | None,
        message: str,
        kind: str = "invalid",
    ) -> None:
        self.path = str(path)
        self.row = row
        self.field = field
        self.kind = kind
        self.message = message
        where = self.path
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


class ConfigError(TickreplayError, ValueError):
    """A bad parameter or scenario key; the message names it."""


@dataclass
class AnomalyLog:
    """Counts of data anomalies by kind, with the first few examples of each.

    In strict mode :meth:`report` raises the error at once; in lenient mode
    it counts it and the run goes on.
    """

    strict: bool = True
    max_examples: int = 5
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def report(self, err: InputError) -> None:
        """Raise ``err`` (strict) or count it under ``err.kind`` (lenient)."""
        if self.strict:
            raise err
        self.count(err.kind, str(err))

    def count(self, kind: str, example: str, n: int = 1) -> None:
        """Count ``n`` anomalies of ``kind`` that are expected and tolerated."""
        self.counts[kind] += n
        ex = self.examples.setdefault(kind, [])
        if len(ex) < self.max_examples:
            ex.append(example)

    def merge(self, other: "AnomalyLog") -> None:
        for kind, n in other.counts.items():
            self.counts[kind] += n
            ex = self.examples.setdefault(kind, [])
            ex.extend(other.examples.get(kind, [])[: max(0, self.max_examples - len(ex))])

    def total(self) -> int:
        return int(sum(self.counts.values()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": {k: int(v) for k, v in sorted(self.counts.items())},
            "examples": {k: list(v) for k, v in sorted(self.examples.items())},
        }

    def summary(self) -> str:
        if not self.counts:
            return "no anomalies"
        return ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()))
