"""Settings read from the environment, with safe dev defaults."""

from __future__ import annotations

import os

import msgspec

# 32+ bytes: HS256 keys shorter than the hash are weak (and PyJWT warns).
DEV_JWT_SECRET = "liveloop-dev-secret-change-me-before-production"
DEV_WEBHOOK_SECRET = "whsec_liveloop_dev"


class Settings(msgspec.Struct, kw_only=True):
    """Everything a service needs to start; one instance per service process."""

    service: str
    # "dev" allows the public dev secrets below; anything else refuses to start with them.
    environment: str = "dev"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/liveloop"
    nats_url: str = "nats://127.0.0.1:4222"
    # Prefix for every subject and stream: lets tests and a dev stack share one NATS.
    namespace: str = ""
    # 3 on a JetStream cluster (infra/README.md); 1 on a single server.
    stream_replicas: int = 1
    jwt_secret: str = DEV_JWT_SECRET
    jwt_issuer: str = "liveloop"
    jwt_audience: str = "liveloop"
    stripe_api_key: str = "sk_test_liveloop"
    stripe_api_base: str | None = None
    stripe_webhook_secret: str = DEV_WEBHOOK_SECRET
    stripe_webhook_tolerance_s: int = 300
    otlp_endpoint: str | None = None
    payment_window_s: int = 900
    db_pool_min: int = 1
    db_pool_max: int = 10
    # Background loops; tests may turn them off to drive them by hand.
    run_relay: bool = True
    run_consumers: bool = True
    run_scheduler: bool = True
    relay_interval_s: float = 0.2
    scheduler_interval_s: float = 0.5
    consumer_max_deliver: int = 5
    # Live flash sales: how long an admitted buyer has to pay before the unit goes back to the sale.
    flash_sale_payment_window_s: int = 300
    # Per-caller burst limit on purchase and claim endpoints (token bucket: `burst` at once, `rate` per s after).
    purchase_rate_per_s: float = 2.0
    purchase_burst: int = 5


class InsecureSettings(Exception):
    """A production process was about to start with a secret everyone knows."""


def check_secrets(settings: Settings) -> None:
    """Outside dev, refuse the published dev secrets and HS256 keys shorter than 32 bytes."""
    if settings.environment == "dev":
        return
    problems = []
    if settings.jwt_secret == DEV_JWT_SECRET or len(settings.jwt_secret.encode()) < 32:
        problems.append("LIVELOOP_JWT_SECRET must be set to a private value of at least 32 bytes")
    if settings.stripe_webhook_secret == DEV_WEBHOOK_SECRET:
        problems.append("STRIPE_WEBHOOK_SECRET must be set to the endpoint's signing secret")
    if problems:
        raise InsecureSettings(f"{settings.service} ({settings.environment}): " + "; ".join(problems))


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def from_env(service: str) -> Settings:
    """Build settings for `service` from environment variables."""
    env = os.environ
    defaults = Settings(service=service)
    return Settings(
        service=service,
        environment=env.get("LIVELOOP_ENV", defaults.environment),
        database_url=env.get("DATABASE_URL", defaults.database_url),
        nats_url=env.get("NATS_URL", defaults.nats_url),
        namespace=env.get("LIVELOOP_NS", defaults.namespace),
        stream_replicas=int(env.get("LIVELOOP_STREAM_REPLICAS", defaults.stream_replicas)),
        jwt_secret=env.get("LIVELOOP_JWT_SECRET", defaults.jwt_secret),
        stripe_api_key=env.get("STRIPE_API_KEY", defaults.stripe_api_key),
        stripe_api_base=env.get("STRIPE_API_BASE") or None,
        stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET", defaults.stripe_webhook_secret),
        otlp_endpoint=env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None,
        payment_window_s=int(env.get("LIVELOOP_PAYMENT_WINDOW_S", defaults.payment_window_s)),
        db_pool_max=int(env.get("LIVELOOP_DB_POOL_MAX", defaults.db_pool_max)),
        flash_sale_payment_window_s=int(
            env.get("LIVELOOP_FLASH_SALE_PAYMENT_WINDOW_S", defaults.flash_sale_payment_window_s)
        ),
        purchase_rate_per_s=float(env.get("LIVELOOP_PURCHASE_RATE_PER_S", defaults.purchase_rate_per_s)),
        purchase_burst=int(env.get("LIVELOOP_PURCHASE_BURST", defaults.purchase_burst)),
        run_relay=_env_bool("LIVELOOP_RUN_RELAY", True),
        run_consumers=_env_bool("LIVELOOP_RUN_CONSUMERS", True),
        run_scheduler=_env_bool("LIVELOOP_RUN_SCHEDULER", True),
    )
