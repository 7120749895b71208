"""Per-process parts of the rooms area: the room feed's hub."""
