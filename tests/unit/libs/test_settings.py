"""Settings come from the environment by field name, typed, with safe dev defaults."""

from __future__ import annotations

import msgspec
import pytest

from libs.settings import Settings, load
from services.live.settings import LiveSettings
from services.orders.settings import OrdersSettings


def test_a_field_is_read_from_liveloop_and_its_name_or_the_standard_name_it_declares() -> None:
    settings = load(
        Settings,
        "shop",
        {"LIVELOOP_DB_POOL_MAX": "3", "DATABASE_URL": "postgresql://db/x", "LIVELOOP_NS": "t1", "NATS_URL": "nats://n"},
    )
    assert (settings.service, settings.db_pool_max, settings.database_url) == ("shop", 3, "postgresql://db/x")
    assert (settings.namespace, settings.nats_url) == ("t1", "nats://n")


def test_unset_and_empty_variables_leave_the_dev_defaults() -> None:
    settings = load(OrdersSettings, "orders", {"STRIPE_API_BASE": "", "OTEL_EXPORTER_OTLP_ENDPOINT": ""})
    defaults = OrdersSettings(service="orders")
    assert settings == defaults
    assert settings.stripe_api_base is None
    assert settings.otlp_endpoint is None


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("true", True), ("on", True), ("0", False), ("off", False)])
def test_switches_read_as_people_write_them(raw: str, value: bool) -> None:
    assert load(Settings, "live", {"LIVELOOP_RUN_RELAY": raw}).run_relay is value


def test_a_service_reads_its_own_settings_besides_the_platforms() -> None:
    live = load(LiveSettings, "live", {"LIVELOOP_PURCHASE_BURST": "9", "LIVELOOP_PURCHASE_RATE_PER_S": "0.5"})
    assert (live.purchase_burst, live.purchase_rate_per_s) == (9, 0.5)
    orders = load(OrdersSettings, "orders", {"LIVELOOP_PAYMENT_WINDOW_S": "60", "STRIPE_WEBHOOK_SECRET": "whsec_x"})
    assert (orders.payment_window_s, orders.stripe_webhook_secret) == (60, "whsec_x")
    assert not hasattr(load(Settings, "shop", {}), "stripe_api_key")


def test_a_value_that_is_not_of_the_fields_type_is_refused_naming_the_variable() -> None:
    with pytest.raises(msgspec.ValidationError, match="LIVELOOP_DB_POOL_MAX"):
        load(Settings, "shop", {"LIVELOOP_DB_POOL_MAX": "many"})
