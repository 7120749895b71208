"""SQL for the local_life schema."""
