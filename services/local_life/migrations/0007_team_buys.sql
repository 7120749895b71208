-- Team buys (拼团): a deal with team_size N is bought in teams of N seats. A seat is held at checkout (with the
-- checkout's deal hold), paid when its order is paid; the N-th paid seat fills the team (every member's vouchers are
-- issued at once); the team_deadline job at `deadline` fails a team that did not fill (paid members refunded).

CREATE TABLE teams (
    team_id      uuid PRIMARY KEY,  -- derived from the opening checkout and the deal: a retried reserve names it again
    deal_id      uuid NOT NULL REFERENCES deals (deal_id),
    merchant_id  uuid NOT NULL,
    team_size    int NOT NULL CHECK (team_size >= 2),
    opened_by    text NOT NULL,  -- the checkout that opened it
    opened_at    timestamptz NOT NULL,
    deadline     timestamptz NOT NULL,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'filled', 'failed')),
    closed_at    timestamptz,
    CHECK (deadline > opened_at),
    CHECK ((status = 'open') = (closed_at IS NULL)),
    UNIQUE (team_id, team_size)  -- the seats' foreign key copies the size, so their CHECK can bound seat_no
);
CREATE INDEX teams_deal ON teams (deal_id, opened_at);

-- One row per checkout seated in a team. A live seat (held or paid) has a seat number 1..N that no other live seat of
-- the team has (partial unique index; released rows stay, for the record and for a late payment). Status moves
-- held -> paid | released once; released -> paid when a lapsed seat's payment arrives while a seat is still free.
-- The paid line's facts are kept so the vouchers can be issued when the team fills, or the member refunded.
CREATE TABLE team_seats (
    team_id             uuid NOT NULL,
    team_size           int NOT NULL,
    seat_no             int NOT NULL CHECK (seat_no >= 1 AND seat_no <= team_size),
    checkout_id         text NOT NULL,
    deal_id             uuid NOT NULL REFERENCES deals (deal_id),
    buyer_id            text NOT NULL,
    quantity            int NOT NULL CHECK (quantity > 0),
    status              text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'paid', 'released')),
    held_at             timestamptz NOT NULL,
    released_at         timestamptz,
    -- The paid order line (OrderPaid), once paid:
    order_id            uuid,
    line_no             int CHECK (line_no >= 0),
    amount_minor        bigint CHECK (amount_minor >= 0),
    currency            char(3),
    room_id             text,
    flash_sale_id       text,
    paid_at             timestamptz,
    -- Asked orders for this member's full refund (the team failed, or the payment found no seat): once.
    refund_grant_id     uuid UNIQUE,
    refund_requested_at timestamptz,
    PRIMARY KEY (team_id, checkout_id),
    UNIQUE (checkout_id, deal_id),
    FOREIGN KEY (team_id, team_size) REFERENCES teams (team_id, team_size),
    CHECK (status <> 'paid' OR order_id IS NOT NULL),
    CHECK ((refund_grant_id IS NULL) = (refund_requested_at IS NULL)),
    CHECK (refund_grant_id IS NULL OR order_id IS NOT NULL)
);
CREATE UNIQUE INDEX team_seats_live ON team_seats (team_id, seat_no) WHERE status IN ('held', 'paid');
-- One live seat per buyer in a team.
CREATE UNIQUE INDEX team_seats_buyer ON team_seats (team_id, buyer_id) WHERE status IN ('held', 'paid');

-- A team deal's hold names its team, so a retried reserve answers the same team.
ALTER TABLE deal_holds
    ADD COLUMN team_id   uuid,
    ADD COLUMN team_size int;
