"""Per-process parts of the funnel: the staff feeds' hub."""
