"""Experiments: scenario files → runs → the results store, and sweeps of many runs.

One job per module, in the order a run flows:

* :mod:`.scenario` — the scenario file's typed, frozen spec (checked when it loads, before any data is read);
* :mod:`.data` — the only place a run's market data is loaded (and cached per process);
* :mod:`.plan` — scenario + data → strategy, parent order, engine configuration, pre-trade inputs;
* :mod:`.run` — execute one run, measure it, publish its results folder atomically;
* :mod:`.sweep` — grids and comparisons of many runs;
* :mod:`.evaluate` — the overlay's held-out comparison against static, placebo and oracle.
"""

from tickreplay.experiment.data import MarketData, load_data, load_data_spec, market_path
from tickreplay.experiment.plan import Plan, build_plan, engine_config, overlay_model, pretrade_inputs
from tickreplay.experiment.run import RunOutcome, execute, measure, overlay_summary, run_file, run_scenario
from tickreplay.experiment.sweep import compare, comparison_table, load_grid

__all__ = ["MarketData", "Plan", "RunOutcome", "build_plan", "compare", "comparison_table", "engine_config",
           "execute", "load_data", "load_data_spec", "load_grid", "market_path", "measure", "overlay_model",
           "overlay_summary", "pretrade_inputs", "run_file", "run_scenario"]
