-- Tables every service has in its own schema: outbox, inbox, idempotency records, due jobs.

-- Transactional outbox: written in the same transaction as the state change it announces.
CREATE TABLE outbox (
    seq          bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    subject      text NOT NULL,
    payload      bytea NOT NULL,
    headers      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     int NOT NULL DEFAULT 0,
    last_error   text
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

-- Idempotent inbox: (consumer, event id) recorded in the same transaction as the effect.
CREATE TABLE inbox (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    subject      text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Events a consumer gave up on after bounded redelivery (also published to the DLQ subject).
CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    consumer    text NOT NULL,
    event_id    text,
    subject     text NOT NULL,
    payload     bytea NOT NULL,
    error       text NOT NULL,
    deliveries  int NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Responses to client writes that carried an Idempotency-Key, stored with the effect.
CREATE TABLE idempotency_keys (
    principal     text NOT NULL,
    key           text NOT NULL,
    scope         text NOT NULL,
    request_hash  text NOT NULL,
    status_code   int NOT NULL,
    response      jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, scope, key)
);

-- Deadlines: stored jobs a scheduler runs when due; survive restarts.
CREATE TABLE due_jobs (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL,
    key         text NOT NULL,
    due_at      timestamptz NOT NULL,
    payload     jsonb NOT NULL DEFAULT '{}'::jsonb,
    headers     jsonb NOT NULL DEFAULT '{}'::jsonb,
    attempts    int NOT NULL DEFAULT 0,
    last_error  text,
    UNIQUE (kind, key)
);
CREATE INDEX due_jobs_due ON due_jobs (due_at);
