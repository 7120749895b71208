"""What shop does for a caller, a consumer, a job or a responder: one transaction each (or the one it is given)."""
