"""What every service needs to start, read from the environment by field name, with safe dev defaults.

A service's own settings subclass `Settings` in `services/<name>/settings.py`. Each field is read from the
environment variable `LIVELOOP_<FIELD>` (`db_pool_max` <- `LIVELOOP_DB_POOL_MAX`), or from the standard name a
field declares (`database_url` <- `DATABASE_URL`); msgspec converts the text to the field's type and names the
variable when it cannot. An empty variable counts as unset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, TypeVar

import msgspec

# 32+ bytes: HS256 keys shorter than the hash are weak (and PyJWT warns).
DEV_JWT_SECRET = "liveloop-dev-secret-change-me-before-production"
DEV_WEBHOOK_SECRET = "whsec_liveloop_dev"
# The dev stack's shared secret for carrier delivery callbacks (orders' POST /carrier/events).
DEV_CARRIER_SECRET = "carrier_liveloop_dev"


def env_name(field: str) -> str:
    """The environment variable a setting is read from, unless the field names another."""
    return "LIVELOOP_" + field.upper()


class Settings(msgspec.Struct, kw_only=True, rename=env_name):
    """The platform's settings: database, NATS, telemetry, tokens, environment, background loops."""

    service: str = ""
    # "dev" allows the public dev secrets; anything else refuses to start with them (`insecure`).
    environment: str = msgspec.field(default="dev", name="LIVELOOP_ENV")
    database_url: str = msgspec.field(default="postgresql://postgres@127.0.0.1:5432/liveloop", name="DATABASE_URL")
    nats_url: str = msgspec.field(default="nats://127.0.0.1:4222", name="NATS_URL")
    # Prefix for every subject and stream: lets tests and a dev stack share one NATS.
    namespace: str = msgspec.field(default="", name="LIVELOOP_NS")
    # 3 on a JetStream cluster (infra/README.md); 1 on a single server.
    stream_replicas: int = 1
    jwt_secret: str = DEV_JWT_SECRET
    jwt_issuer: str = "liveloop"
    jwt_audience: str = "liveloop"
    otlp_endpoint: str | None = msgspec.field(default=None, name="OTEL_EXPORTER_OTLP_ENDPOINT")
    # Share of traces a service starts that it records (0..1; `LIVELOOP_TRACE_SAMPLE_RATIO`); a request that arrives
    # with a trace follows its caller's decision, so a trace is whole or absent (`libs.telemetry.Telemetry`).
    trace_sample_ratio: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 1.0
    db_pool_min: int = 1
    db_pool_max: int = 10
    # Background loops; tests may turn them off to drive them by hand.
    run_relay: bool = True
    run_consumers: bool = True
    run_scheduler: bool = True
    relay_interval_s: float = 0.2
    scheduler_interval_s: float = 0.5
    # A claimed due job's lease, renewed by its runner every third of it: a dead process's job runs again this soon.
    job_lease_s: float = 10.0
    consumer_max_deliver: int = 5
    # How long JetStream waits for a consumer's ack before it hands the message out again: what a message held by a
    # process that died waits before another instance (or the restarted one) applies it.
    consumer_ack_wait_s: float = 30.0

    def insecure(self) -> list[str]:
        """What makes these settings unfit outside dev (a subclass adds its own secrets)."""
        if self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret.encode()) < 32:
            return ["LIVELOOP_JWT_SECRET must be set to a private value of at least 32 bytes"]
        return []


class InsecureSettings(Exception):
    """A production process was about to start with a secret everyone knows."""


def check_secrets(settings: Settings) -> None:
    """Outside dev, refuse the published dev secrets and HS256 keys shorter than 32 bytes."""
    if settings.environment == "dev":
        return
    problems = settings.insecure()
    if problems:
        raise InsecureSettings(f"{settings.service} ({settings.environment}): " + "; ".join(problems))


S = TypeVar("S", bound=Settings)

_TRUE, _FALSE = {"yes", "on"}, {"no", "off"}


def load(cls: type[S], service: str, environ: Mapping[str, str] | None = None) -> S:
    """`cls` for `service` from environment variables (see the module docstring)."""
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for field in msgspec.structs.fields(cls):
        raw = environ.get(field.encode_name)
        if field.name == "service":
            values[field.encode_name] = service
        elif raw and field.type is bool:
            # Booleans as people write them in env files, besides the true/false/1/0 msgspec reads.
            lowered = raw.strip().lower()
            values[field.encode_name] = "true" if lowered in _TRUE else "false" if lowered in _FALSE else raw
        elif raw:
            values[field.encode_name] = raw
    return msgspec.convert(values, cls, strict=False)


__all__ = [
    "DEV_CARRIER_SECRET",
    "DEV_JWT_SECRET",
    "DEV_WEBHOOK_SECRET",
    "InsecureSettings",
    "Settings",
    "check_secrets",
    "env_name",
    "load",
]
