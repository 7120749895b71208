"""The conversion funnel: every step from a view to a redemption, folded into exact per-minute rollups, attributed to
the room or video that sold it, served to hosts and merchants live, and the host and customer tiers read from it."""
