"""What the rooms area does for a caller, a consumer or a job: one transaction each (or the one it is given)."""
