"""The funnel's rules, pure: facts from events, attribution, figures, tiers."""
