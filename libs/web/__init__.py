"""Web plumbing shared by every service: app factory, problem+json, auth guards, idempotency."""

from libs.web.guards import principal_of, requires
from libs.web.idempotency import idempotency_key, run_idempotent
from libs.web.problems import Problem

__all__ = ["Problem", "idempotency_key", "principal_of", "requires", "run_idempotent"]
