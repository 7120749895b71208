"""Host tiers and customer segments: recomputed by the daily job and on demand, read by hosts, merchants, operators."""

from __future__ import annotations

import asyncpg

from libs.auth import Principal
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.scheduler import reschedule, schedule_many
from services.live.funnel.domain import tiers as domain
from services.live.funnel.domain.figures import may_read_host, may_read_merchant
from services.live.funnel.domain.tiers import (
    CustomerPage,
    CustomersNotFound,
    HostTierAnswer,
    HostTierRules,
    SegmentRules,
    SegmentsComputed,
    Threshold,
    TierNotFound,
    TiersComputed,
)
from services.live.funnel.store import tiers as store
from services.live.settings import LiveSettings

# How many of a host's tier changes `GET /hosts/{id}/tier` shows.
CHANGES_SHOWN = 20


def host_rules(settings: LiveSettings) -> HostTierRules:
    return HostTierRules(
        currency=settings.tier_currency,
        s=Threshold(net_minor=settings.host_tier_s_net_minor, gpm_minor=settings.host_tier_s_gpm_minor),
        a=Threshold(net_minor=settings.host_tier_a_net_minor, gpm_minor=settings.host_tier_a_gpm_minor),
        b=Threshold(net_minor=settings.host_tier_b_net_minor, gpm_minor=settings.host_tier_b_gpm_minor),
    )


def segment_rules(settings: LiveSettings) -> SegmentRules:
    return SegmentRules(loyal_orders=settings.customer_loyal_orders, loyal_net_minor=settings.customer_loyal_net_minor)


# --- host tiers -------------------------------------------------------------------------------------------------


async def compute_host_tiers(runtime: Runtime[LiveSettings], conn: asyncpg.Connection) -> TiersComputed:
    """Every host's tier from its last 30 days, in the caller's transaction (one computation at a time)."""
    await store.lock_tiers(conn, "hosts")
    now = runtime.clock.now()
    since, until = domain.host_window(now)
    rules = host_rules(runtime.settings)
    figures, previous = await store.host_figures(conn, since, until, rules.currency)
    tiers = domain.tiers_of(figures, previous, rules, now)
    changed = await store.save_tiers(conn, tiers, previous)
    return TiersComputed(computed_at=now, hosts=len(tiers), changed=changed)


async def recompute_host_tiers(runtime: Runtime[LiveSettings]) -> TiersComputed:
    """An operator's recompute of every host's tier, now."""
    async with runtime.db.transaction() as conn:
        return await compute_host_tiers(runtime, conn)


async def host_tier(runtime: Runtime, reader: Principal, host_id: str) -> HostTierAnswer:
    """The host's tier and its changes: for the host, a merchant it hosts for, an operator; 404 for anyone else."""
    async with runtime.db.transaction() as conn:
        if not await _may_read_tier(conn, reader, host_id):
            raise TierNotFound()
        tier = await store.host_tier(conn, host_id)
        if tier is None:
            raise TierNotFound()
        return HostTierAnswer(tier=tier, changes=await store.tier_changes(conn, host_id, CHANGES_SHOWN))


async def _may_read_tier(conn: asyncpg.Connection, reader: Principal, host_id: str) -> bool:
    if reader.role == "operator" or may_read_host(reader, host_id):
        return True
    merchant_id = canonical_uuid(reader.merchant_id) if reader.role == "merchant" else None
    return merchant_id is not None and await store.hosts_for(conn, host_id, merchant_id)


# --- customer segments ------------------------------------------------------------------------------------------


async def compute_segments(
    runtime: Runtime[LiveSettings], conn: asyncpg.Connection, merchant_id: str
) -> SegmentsComputed:
    """The merchant's customers' segments from its funnel facts, in the caller's transaction."""
    await store.lock_tiers(conn, f"merchant:{merchant_id}")
    now = runtime.clock.now()
    currency = await store.merchant_currency(conn, merchant_id, now)
    histories = await store.customer_histories(conn, merchant_id, now, now - domain.YEAR, currency)
    customers = domain.customers_of(histories, now, segment_rules(runtime.settings), currency)
    await store.save_customers(conn, merchant_id, customers, now)
    return SegmentsComputed(
        merchant_id=merchant_id,
        computed_at=now,
        customers=len(customers),
        segments=domain.segment_counts(customers),
    )


async def recompute_segments(runtime: Runtime[LiveSettings], caller: Principal, merchant_id: str) -> SegmentsComputed:
    """The merchant's recompute of its own customers' segments, now; 404 for anyone else's."""
    own = _own_merchant(caller, merchant_id)
    async with runtime.db.transaction() as conn:
        return await compute_segments(runtime, conn, own)


async def list_customers(
    runtime: Runtime, caller: Principal, merchant_id: str, *, segment: str | None, cursor: str | None, limit: int
) -> CustomerPage:
    """A page of the merchant's customers (of one segment), most monetary first; the merchant's own only."""
    own = _own_merchant(caller, merchant_id)
    segment = domain.ensure_segment(segment)
    after = domain.decode_customer_cursor(cursor) if cursor else None
    async with runtime.db.transaction() as conn:
        computed_at = await store.computed_at(conn, own)
        found = await store.customers(conn, own, segment, after, limit + 1)
    items = found[:limit]
    next_cursor = domain.encode_customer_cursor(items[-1]) if len(found) > limit else None
    return CustomerPage(merchant_id=own, computed_at=computed_at, items=items, next_cursor=next_cursor)


def _own_merchant(caller: Principal, merchant_id: str) -> str:
    """The merchant id as the funnel writes it, when it is the caller's own; 404 otherwise."""
    if not may_read_merchant(caller, merchant_id):
        raise CustomersNotFound()
    return canonical_uuid(merchant_id) or merchant_id


# --- the daily run ----------------------------------------------------------------------------------------------


async def run_daily(runtime: Runtime[LiveSettings], conn: asyncpg.Connection) -> None:
    """Every host's tier now; a segments job for every merchant (each in its own transaction); again tomorrow."""
    await compute_host_tiers(runtime, conn)
    now = runtime.clock.now()
    merchants = await store.merchants_with_facts(conn)
    await schedule_many(conn, domain.SEGMENTS_JOB, [(merchant_id, now) for merchant_id in merchants])
    next_run = domain.next_daily_run(now, runtime.settings.tiers_daily_at_s)
    await reschedule(conn, domain.DAILY_JOB, domain.DAILY_KEY, next_run)
