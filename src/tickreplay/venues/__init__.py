"""Several venues of one instrument: the multi-venue replay, the consolidated view and the smart order router.

:mod:`.engine` (the event loop, one exchange per venue), :mod:`.consolidated` (what the trader sees),
:mod:`.generate` (correlated venues from the generator), :mod:`.router_strategy` (a schedule whose children a
routing policy splits), :mod:`.tca` (per-venue TCA and the paired router comparison). See docs/venues.md.
"""

from tickreplay.venues.consolidated import ConsolidatedView, check_same_instrument
from tickreplay.venues.engine import Venue, VenueContext, VenueEngine

__all__ = ["ConsolidatedView", "Venue", "VenueContext", "VenueEngine", "check_same_instrument"]
