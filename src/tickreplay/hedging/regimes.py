"""Per-regime hedging rules (the seed's Table 1), configurable, and what each rule changes in a decision.

Defaults, by the regimes of :mod:`tickreplay.adapters.synthetic_regimes`:

* ``liquid_large_cap``: no change.
* ``high_volatility``: slow down — temporary impact ``eta`` × 2, so the
  E + λV optimum moves to a longer horizon (× √2 for a straight line).
* ``thin_small_cap``: trade slowly and passively — children as ``limit_touch``
  and at most 5 % of the average daily volume (a floor on the horizon).
* ``news_spike``: pause automated hedging (nothing traded, the unhedged
  exposure recorded); configurable to ``action = "cap"`` with a participation
  cap instead (default cap 2 %).

A regime with no rule (or None: not known) gets the neutral rule. A rule is a
:class:`RegimeRule`; :func:`rules_from_config` reads a table such as a
scenario's ``[loop.regimes.<name>]`` (keys ``action``, ``eta_scale``,
``participation_cap``, ``style``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from tickreplay.checks import fraction, positive
from tickreplay.errors import ConfigError
from tickreplay.styles import STYLES

ACTIONS = ("hedge", "pause", "cap")


@dataclass(frozen=True)
class RegimeRule:
    """How to hedge in one regime.

    ``action``: ``hedge`` (trade, with the changes below), ``pause`` (do not
    trade; record the unhedged exposure) or ``cap`` (trade at most
    ``participation_cap`` of ADV). ``eta_scale``: factor on the temporary
    impact ``eta``. ``participation_cap``: fraction of ADV (None: no cap; with
    ``hedge`` a cap applies too). ``style``: child-order style (one of
    :data:`tickreplay.styles.STYLES`).
    """

    action: str = "hedge"
    eta_scale: float = 1.0
    participation_cap: float | None = None
    style: str = "market"

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ConfigError(f"parameter 'action' must be one of {', '.join(ACTIONS)}, got {self.action!r}")
        object.__setattr__(self, "eta_scale", positive("eta_scale", self.eta_scale))
        if self.participation_cap is not None:
            object.__setattr__(self, "participation_cap", fraction("participation_cap", self.participation_cap))
        elif self.action == "cap":
            raise ConfigError("parameter 'participation_cap' is required when action = 'cap'")
        if self.style not in STYLES:
            raise ConfigError(f"parameter 'style' must be one of {', '.join(STYLES)}, got {self.style!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


NEUTRAL = RegimeRule()

DEFAULT_RULES: dict[str, RegimeRule] = {
    "liquid_large_cap": NEUTRAL,
    "high_volatility": RegimeRule(eta_scale=2.0),
    "thin_small_cap": RegimeRule(participation_cap=0.05, style="limit_touch"),
    "news_spike": RegimeRule(action="pause"),
}
NEWS_CAP = 0.02  # the news-spike participation cap when that rule is set to "cap" without a cap


@dataclass(frozen=True)
class RegimeRules:
    """Rules by regime name; :meth:`for_regime` falls back to the neutral rule."""

    rules: Mapping[str, RegimeRule] = field(default_factory=lambda: dict(DEFAULT_RULES))

    def for_regime(self, regime: str | None) -> tuple[str, RegimeRule]:
        """(name of the rule applied, the rule): the regime's own, or ``"neutral"``."""
        if regime is not None and regime in self.rules:
            return regime, self.rules[regime]
        return "neutral", NEUTRAL

    def to_dict(self) -> dict[str, Any]:
        return {name: rule.to_dict() for name, rule in sorted(self.rules.items())}


def rules_from_config(table: Mapping[str, Mapping[str, Any]], where: str = "loop.regimes") -> RegimeRules:
    """The defaults overridden per regime by ``table`` (regime name → keys of :class:`RegimeRule`); a key not given
    keeps the default. ConfigError names the key path (``loop.regimes.news_spike.action``)."""
    rules = dict(DEFAULT_RULES)
    known = set(RegimeRule.__dataclass_fields__)
    for name, keys in table.items():
        if not isinstance(keys, Mapping):
            raise ConfigError(f"scenario key '{where}.{name}' must be a table of {sorted(known)}")
        extra = sorted(set(keys) - known)
        if extra:
            raise ConfigError(f"scenario key '{where}.{name}.{extra[0]}' is unknown; expected {sorted(known)}")
        base = asdict(rules.get(name, NEUTRAL))
        base.update(keys)
        if name == "news_spike" and base["action"] == "cap" and base["participation_cap"] is None:
            base["participation_cap"] = NEWS_CAP
        try:
            rules[name] = RegimeRule(**base)
        except ConfigError as err:
            raise ConfigError(f"scenario key '{where}.{name}': {err}") from None
    return RegimeRules(rules)
