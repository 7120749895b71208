"""Web plumbing shared by every service: app factory, problem+json, auth guards, the Idempotency-Key header."""

from libs.web.app import ServiceSpec, build_app
from libs.web.guards import principal_of, requires
from libs.web.idempotency import idempotency_key
from libs.web.openapi import documented
from libs.web.problems import Problem

__all__ = ["Problem", "ServiceSpec", "build_app", "documented", "idempotency_key", "principal_of", "requires"]
