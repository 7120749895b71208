"""Use cases of short videos."""
