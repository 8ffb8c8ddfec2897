"""Market statistics from tapes: traded volume and intraday volume profiles (:mod:`.profile`), and the pre-trade
models' inputs — ADV, daily volatility, spread — estimated from catalog entries (:mod:`.inputs`)."""
