"""HTTP API of the funnel: client taps (ingest), the figures and their live feed, tiers and customer segments."""

from services.live.funnel.api import figures, taps, tiers

ROUTES = [*taps.ROUTES, *figures.ROUTES, *tiers.ROUTES]
