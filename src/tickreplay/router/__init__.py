"""Smart order routing of child orders across venues: decision rules as pure functions of venue quotes.

``best`` (:func:`route_best`): the venue with the best expected all-in price for the child's size;
``cont-kukanov`` (:func:`route_cont_kukanov`, :func:`solve`, :func:`solve_one_venue`): the optimal split
between a market order and limit orders across venues of Cont & Kukanov (2017). See docs/router.md.
"""

from tickreplay.router.best import BestRoute, Leg, route_best
from tickreplay.router.cont_kukanov import (KukanovRoute, Split, expected_cost, route_cont_kukanov, solve,
                                            solve_one_venue)
from tickreplay.router.venues import VenueQuote, check_venues

__all__ = ["BestRoute", "KukanovRoute", "Leg", "Split", "VenueQuote", "check_venues", "expected_cost",
           "route_best", "route_cont_kukanov", "solve", "solve_one_venue"]
