"""The funnel's application functions: ingest, figures and their feed, tiers."""
