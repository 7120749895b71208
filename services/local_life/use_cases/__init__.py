"""local_life's use cases: each opens its transaction (or takes the one its consumer opened)."""
