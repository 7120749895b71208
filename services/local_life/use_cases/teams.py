"""Team buys (拼团): seats taken with a checkout's deal holds, paid seats waiting for the team to fill, the deadline.

Every change to a team's seats that counts them (taking a seat, paying one, filling, failing) holds the team's row
lock, so N + 1 buyers racing for N seats get N, and two members paying at once count each other. Seats are released
with their checkout's deal hold (`use_cases/holds.py`) by a conditional update, without the team lock: a seat being
freed is at worst seen as taken a moment longer.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import msgspec

from libs.bus import add_events
from libs.contracts import Event, OrderPaid, ReservedDeal, ReserveDeals, TeamFailed, TeamFilled
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.scheduler import cancel, reschedule, schedule
from services.local_life.domain import teams as rules
from services.local_life.domain.holds import DealFacts, WantedDeal
from services.local_life.domain.teams import PaidLine, Payment, Seat, Team, TeamNotFound
from services.local_life.domain.vouchers import LineIssue
from services.local_life.store import holds as holds_store
from services.local_life.store import teams as store
from services.local_life.views import TeamView

log = logging.getLogger(__name__)

DEADLINE_JOB = "team_deadline"


# --- seats at reservation (inside holds.reserve's transaction, the deals already row-locked) ------------------------


async def take_seats(
    conn: asyncpg.Connection,
    request: ReserveDeals,
    wanted: Sequence[WantedDeal],
    deals: dict[str, DealFacts],
    lines: list[ReservedDeal],
    now: datetime,
) -> list[ReservedDeal]:
    """A seat for each team deal's item: in a new team (no team id: this checkout opens it) or in the team named.
    Refuses (HoldRefused) `unknown_team`, `team_closed` or `team_full`; the lines come back with their team."""
    out = list(lines)
    position = {line.deal_id: i for i, line in enumerate(lines)}
    for want in sorted(wanted, key=lambda w: w.deal_id):
        facts = deals[want.deal_id]
        if facts.team_size is None:
            continue
        if want.team_id is None:
            team = await store.insert_team(
                conn,
                team_id=rules.team_id_for(request.checkout_id, want.deal_id),
                deal_id=want.deal_id,
                merchant_id=facts.merchant_id,
                team_size=facts.team_size,
                opened_by=request.checkout_id,
                opened_at=now,
                deadline=rules.deadline_of(now, facts.team_window_s),
            )
            await schedule(conn, DEADLINE_JOB, team.team_id, team.deadline)
            seat_no = 1
        else:
            team = rules.check_joinable(want, await store.lock_team(conn, want.team_id), now)
            seat_no = rules.free_seat(want, team, await store.live_seats(conn, team.team_id), request.buyer_id)
        await store.insert_seat(
            conn,
            team,
            seat_no=seat_no,
            checkout_id=request.checkout_id,
            buyer_id=request.buyer_id,
            quantity=want.quantity,
            now=now,
        )
        i = position[want.deal_id]
        out[i] = msgspec.structs.replace(out[i], team_id=team.team_id, team_size=team.team_size)
    return out


async def release_seats(conn: asyncpg.Connection, checkout_id: str, deal_ids: Sequence[str], now: datetime) -> None:
    """The checkout's held seats of these deals go with their deal holds; a paid seat stays."""
    await store.release_held(conn, checkout_id, deal_ids, now)


# --- payment (in the local_life__vouchers consumer's transaction) -------------------------------------------------


@dataclass
class SeatPayments:
    """What a paid order's team lines did: which lines they are (issue none of them now), whose vouchers to issue (a
    team filled: every member's paid seat), and the events to publish (TeamFilled, TeamFailed, refund requests)."""

    team_lines: set[int] = field(default_factory=set)
    to_issue: list[Seat] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


async def pay_seats(
    runtime: Runtime, conn: asyncpg.Connection, event: OrderPaid, order_id: str, issues: Sequence[LineIssue]
) -> SeatPayments:
    """The order's lines of team deals pay their seats (once, however often the event comes): the N-th paid seat
    fills the team. A payment finding its team failed (or past its deadline: failed first, as the job would), filled,
    or its lapsed seat taken, asks for the member's full refund at once (DealRefundRequested, reason team_failed)."""
    now = runtime.clock.now()
    result = SeatPayments()
    found: list[tuple[str, LineIssue]] = []
    for issue in issues:
        team_id = await store.team_of_seat(conn, event.checkout_id, issue.deal_id)
        if team_id is not None:
            found.append((team_id, issue))
        elif event.lines[issue.line_no].team_id is not None:
            # orders says team, but this checkout never took a seat here: issue nothing rather than skip the team.
            result.team_lines.add(issue.line_no)
            log.warning("order %s line %d names a team but holds no seat; nothing issued", order_id, issue.line_no)
    # A fixed order for the team row locks: two orders sharing teams never deadlock.
    for team_id, issue in sorted(found, key=lambda f: f[0]):
        result.team_lines.add(issue.line_no)
        team = await store.lock_team(conn, team_id)
        assert team is not None  # a seat's team (foreign key)
        if team.status == "open" and now >= team.deadline:
            # The deadline job has not run yet: do its work first, so this payment meets the team as the clock has it.
            result.events += await _fail(conn, team, now)
            await cancel(conn, DEADLINE_JOB, team_id)
            team = dataclasses.replace(team, status="failed")
        seat = await store.seat(conn, team_id, event.checkout_id)
        assert seat is not None
        if seat.buyer_id != event.buyer_id:
            log.warning("order %s: team %s seat is another buyer's; nothing issued", order_id, team_id)
            continue
        line = PaidLine(
            order_id=order_id,
            line_no=issue.line_no,
            quantity=event.lines[issue.line_no].quantity,
            amount_minor=issue.amount_minor,
            currency=event.currency,
            room_id=issue.room_id,
            flash_sale_id=issue.flash_sale_id,
            paid_at=event.paid_at,
        )
        free = None
        if seat.status == "released" and team.status == "open":
            live = await store.live_seats(conn, team_id)
            if seat.buyer_id not in {buyer for _, buyer in live}:
                free = rules.first_free((n for n, _ in live), team.team_size)
        decision = rules.on_payment(team, seat, free)
        if decision is Payment.ALREADY:
            continue
        if decision is Payment.REFUND:
            grant_id = rules.refund_grant_id(team_id, order_id)
            refunded = await store.refund_unseated(conn, team_id, event.checkout_id, line, grant_id, now)
            if refunded is not None:
                log.info("order %s paid for team %s (%s) without a seat: refunding it", order_id, team_id, team.status)
                result.events.append(rules.refund_request(team, refunded, now))
                await _give_back(conn, event.checkout_id, team.deal_id, order_id, now)
            continue
        seat_no = seat.seat_no if seat.status == "held" else free
        assert seat_no is not None
        await store.pay_seat(conn, team_id, event.checkout_id, seat_no, line, now)
        paid = await store.paid_seats(conn, team_id)
        if len(paid) == team.team_size and await store.close_team(conn, team_id, "filled", now):
            await cancel(conn, DEADLINE_JOB, team_id)
            result.to_issue += paid
            result.events.append(
                TeamFilled(
                    team_id=team_id,
                    deal_id=team.deal_id,
                    merchant_id=team.merchant_id,
                    team_size=team.team_size,
                    members=[rules.member(s) for s in paid],
                    filled_at=now,
                    occurred_at=now,
                )
            )
    return result


# --- the deadline ----------------------------------------------------------------------------------------------------


async def deadline_passed(runtime: Runtime, conn: asyncpg.Connection, team_id: str) -> None:
    """The team_deadline job: a team still open fails (paid members refunded, held seats released, TeamFailed); a
    filled or failed one is left alone, so a rerun adds nothing."""
    team = await store.lock_team(conn, team_id)
    if team is None or team.status != "open":
        return
    now = runtime.clock.now()
    if now < team.deadline:
        await reschedule(conn, DEADLINE_JOB, team_id, team.deadline)
        return
    await add_events(conn, *await _fail(conn, team, now))


async def _fail(conn: asyncpg.Connection, team: Team, now: datetime) -> list[Event]:
    """A locked open team fails: held seats released, each paid member's refund asked for once, TeamFailed."""
    if not await store.close_team(conn, team.team_id, "failed", now):
        return []
    await store.release_team_held(conn, team.team_id, now)
    paid = await store.paid_seats(conn, team.team_id)
    grants = {s.order_id: rules.refund_grant_id(team.team_id, s.order_id) for s in paid if s.order_id}
    asked = set(await store.mark_refunds(conn, team.team_id, grants, now))
    events: list[Event] = [rules.refund_request(team, s, now) for s in paid if s.order_id in asked]
    for s in paid:
        if s.order_id in asked:
            await _give_back(conn, s.checkout_id, team.deal_id, s.order_id, now)
    events.append(
        TeamFailed(
            team_id=team.team_id,
            deal_id=team.deal_id,
            merchant_id=team.merchant_id,
            team_size=team.team_size,
            members=[rules.member(s) for s in paid],
            failed_at=now,
            occurred_at=now,
        )
    )
    log.info("team %s failed: %d of %d seats paid, refunding them", team.team_id, len(paid), team.team_size)
    return events


async def _give_back(
    conn: asyncpg.Connection, checkout_id: str, deal_id: str, order_id: str | None, now: datetime
) -> None:
    """A member refunded in full never uses its units: its deal hold ends `refunded` and, if it still counted in the
    deal's `sold` (held or committed), the deal may sell them again. Under the checkout's row lock, as every hold move:
    the OrderPaid consumer, before or after, moves only `held` and `released` holds, so the units count once or not
    at all, never twice."""
    if not await holds_store.lock_checkout(conn, checkout_id):
        return
    for counted in ("held", "committed"):
        for hold in await holds_store.move_holds(
            conn, checkout_id, [deal_id], from_status=counted, to_status="refunded", order_id=order_id, now=now
        ):
            await holds_store.remove_sold(conn, hold.deal_id, hold.quantity)
    await holds_store.move_holds(
        conn, checkout_id, [deal_id], from_status="released", to_status="refunded", order_id=order_id, now=now
    )


# --- reading ---------------------------------------------------------------------------------------------------------


async def team_view(runtime: Runtime, team_id: str) -> TeamView:
    """A team as anyone with its id sees it (to join it): deal, size, seats taken and left, deadline, status."""
    found = canonical_uuid(team_id)
    view = await store.team_view(runtime.db.pool, found) if found else None
    if view is None:
        raise TeamNotFound()
    return view
