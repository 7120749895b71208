"""The invariant checker: after a run, are all stock units, charges, refunds, vouchers and events accounted for once?

`await settle(...)` waits until the system is quiet (every outbox row published, every durable consumer of the
namespace caught up, stable for a moment); `await check_invariants(...)` then compares the five services' schemas of
the one database, JetStream and localstripe, and answers a `Verdict`. Run it when the system is quiet: it reads the
database in one REPEATABLE READ snapshot, then Stripe, then JetStream, so a write landing between those reads may
show as a violation that is not one. `python -m devstack.invariants` runs both against a running stack.

What each invariant reads, and what it can and cannot see:

1. **stock**: per SKU (shop), stock in its ledgers, not in the columns checked: `received` = the SKU's stock when
   it was created (its `ProductPublished` row in shop's outbox: the only record of it besides the column) + the
   merchant's edits (`sku_changes`, reason `edit`: new - old) + units put back (`restocks.restocked`). Then
   `available + held for checkouts + allocated to sales + sold + out in exchanges = received`, and the
   `stock_reserved` column = held + allocated, where held = `reservation_lines` still `held`, allocated = each
   allocation's `quantity - committed - released`, sold = committed reservation lines + `allocation_commits` - the
   `stock_shortfalls` (units paid for that stock could not supply), out = `exchanges` still `taken`. Per flash sale
   (live, with shop's allocation of it): units in admissions not expired + remaining + returned = quantity; the
   allocation holds the sale's quantity, has released what the sale returned and committed what its buyers paid.
   Not checkable: a shortfall recorded for a reservation line and a sale line of the same SKU in one order (one row
   keyed by order and SKU would hold only one of them).
2. **charges**: per checkout (orders) and every PaymentIntent localstripe holds whose metadata names one of its
   payments (or that a payment records): a paid checkout has a succeeded payment whose recorded intent succeeded at
   Stripe for exactly the amount and currency the payment, the checkout and the sum of its orders say, and every
   order of a paid checkout is paid (and no order of another is). Any other intent of the payment that took money
   is one orders owes back (a row of `orders.refunds`), else it is money taken without an order; any other intent
   not cancelled is an orphan that could still take money. Intents of other databases sharing the localstripe are
   left alone (their metadata names no payment of ours), so an intent whose metadata names no payment at all is not
   checkable.
3. **refunds**: per order, the refund grants pending or succeeded sum to no more than it cost; per intent, Stripe's
   refunds sum to no more than it took; every succeeded grant's refund is at Stripe once (one refund carrying its
   grant id), on its intent, for its amount; a failed grant has no succeeded refund; money owed back in full
   (`orders.refunds` refunded) was refunded in full, once; and every refund Stripe holds for one of our intents is
   one orders knows (by its id, its grant id, or an intent orders owes back).
4. **vouchers** (local_life): a voucher has at most one redemption not undone; `redeemed` exactly when it has one;
   a refunded voucher is in exactly one succeeded refund and not redeemed; and each succeeded voucher refund is a
   succeeded grant in orders. Redemptions undone do not count.
5. **events**: every outbox row is published; every published event of a subject a durable consumer subscribes to
   (and whose `wants` takes it) has that consumer's inbox row (so it was applied: the row is written with the
   effect); no inbox row names an event no outbox holds (except subjects published without an outbox:
   `FunnelTapped`), or a consumer or subject the service does not subscribe; no dead letters (`dead_letters` rows,
   the DLQ stream); every durable consumer exists in JetStream with nothing pending and nothing unacked. Exactly
   once per consumer rests on the inbox's primary key (consumer, event id), which the database enforces; the same
   fact re-sent under a new event id is the domain's to dedupe, and the other invariants (stock, vouchers, funnel)
   are where a fact applied twice shows. Not checkable here: an event JetStream lost that no consumer subscribes to,
   and a `FunnelTapped` that never reached the funnel (it has no outbox row to compare with).
6. **stuck**: nothing waits past its deadline by more than a grace (`grace_s`, by `now`, default the database's):
   checkouts awaiting payment past `pay_by`, orders awaiting payment whose checkout does not, shop holds past
   `hold_until`, deal holds past theirs, flash-sale admissions unpaid past `pay_by`, sales not ended past `ends_at`,
   team buys open past their deadline, due jobs not run (and not leased) past `due_at`, and refunds owed or granted
   with no job to make them. Deadlines are in the services' clock: a test that moved that clock passes its own
   `now`. Not checkable: a job that keeps failing. The scheduler pushes it on with backoff, so it is never overdue,
   and its `attempts` also count the past failures of a job that reschedules itself and has long recovered (the
   orphan sweep), so they cannot tell failing from having failed.
7. **funnel** (live): every `funnel_minutes` row equals what is recomputed from `funnel_facts` (count, units,
   amount, watch seconds per scope, step, minute and currency), no rollup is missing, and `funnel_uniques` holds
   exactly the distinct people the facts name. `first_at` is not compared: a fact arriving late for a person keeps
   the first one seen, which need not be the earliest.
"""

# The package: `verdict` (what the checker answers), `sources` (the services' schemas and consumers, JetStream),
# `settle`, `check` (the snapshot and the order of the checks), one module per invariant (`stock`, `money` for
# charges and refunds, `vouchers`, `events`, `stuck`, `funnel`) and `__main__` (the command line).

from devstack.invariants.check import check_invariants
from devstack.invariants.settle import settle
from devstack.invariants.stuck import GRACE_S
from devstack.invariants.verdict import INVARIANTS, Verdict

__all__ = ["GRACE_S", "INVARIANTS", "Verdict", "check_invariants", "settle"]
