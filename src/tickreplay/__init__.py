"""tickreplay: tick-exact order-book replay, execution simulation and TCA."""

__version__ = "0.1.0"
