"""What orders talks to outside its schema and the bus: Stripe; and its per-process counters."""
