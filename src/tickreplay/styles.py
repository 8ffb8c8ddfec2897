"""Child-order styles: how a child order is priced when it is sent (see :mod:`tickreplay.trader.executor`).

``market`` (a market order), ``limit_touch`` (a limit at our side's touch), ``limit_offset`` (that many ticks
behind the touch), ``peg_mid`` (a limit at the mid, on the tick grid on the passive side). A module of its own
so that the command line can offer the names without importing numpy.
"""

STYLES = ("market", "limit_touch", "limit_offset", "peg_mid")
