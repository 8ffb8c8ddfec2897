"""The hedging engine's decision core, as pure functions (see docs/hedging.md).

* :mod:`.exposure` — exposure files read and checked; seeded generated exposure paths
* :mod:`.requirements` — breach detection and the bookkeeping of hedged / in-flight shares
* :mod:`.decision` — cost-risk curve over horizons, the E + λV choice, the Almgren–Chriss schedule, the record
* :mod:`.regimes` — per-regime rules (Table 1 defaults) and what they change
"""

from tickreplay.hedging.decision import Decision, DecisionConfig, ac_coefficients, cost_risk_curve, decide
from tickreplay.hedging.exposure import ExposurePath, check_sessions, generate_exposure, read_exposure
from tickreplay.hedging.regimes import DEFAULT_RULES, RegimeRule, RegimeRules, rules_from_config
from tickreplay.hedging.requirements import HedgeBook, Requirement, scan_requirements

__all__ = ["DEFAULT_RULES", "Decision", "DecisionConfig", "ExposurePath", "HedgeBook", "RegimeRule", "RegimeRules",
           "Requirement", "ac_coefficients", "check_sessions", "cost_risk_curve", "decide", "generate_exposure",
           "read_exposure", "rules_from_config", "scan_requirements"]
