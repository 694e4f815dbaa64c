"""Schema migrations, portable between SQLite and PostgreSQL.

Times are UNIX seconds (DOUBLE PRECISION) so that both engines compare them the same way.
Append new migrations; never edit an applied one.
"""

MIGRATIONS: list[tuple[int, str]] = [
    (1, """
CREATE TABLE inbound (
    message_id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    message_type TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    in_reply_to TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    digest TEXT NOT NULL,
    body {blob} NOT NULL,
    receipt {blob} NOT NULL,
    spooled_at DOUBLE PRECISION,
    replied_by TEXT
);
CREATE INDEX inbound_received ON inbound (received_at);
CREATE INDEX inbound_unspooled ON inbound (spooled_at);
CREATE INDEX inbound_conversation ON inbound (conversation_id);

CREATE TABLE outbound (
    message_id TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    message_type TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    in_reply_to TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    lease_until DOUBLE PRECISION,
    lease_owner TEXT,
    expires_at DOUBLE PRECISION NOT NULL,
    last_error TEXT,
    error_code TEXT,
    body {blob} NOT NULL,
    digest TEXT NOT NULL,
    receipt {blob},
    delivered_at DOUBLE PRECISION,
    answered_at DOUBLE PRECISION,
    answered_by TEXT,
    outcomes TEXT,
    spool_name TEXT,
    spool_done INTEGER NOT NULL DEFAULT 0,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX outbound_due ON outbound (state, next_attempt_at);
CREATE INDEX outbound_listing ON outbound (created_at, message_id);
CREATE INDEX outbound_recipient ON outbound (recipient, created_at);

CREATE TABLE outbound_events (
    id {serial},
    message_id TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    reason TEXT
);
CREATE INDEX outbound_events_message ON outbound_events (message_id, id);

CREATE TABLE audit (
    id {serial},
    at DOUBLE PRECISION NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    message_id TEXT,
    detail TEXT
);
CREATE INDEX audit_at ON audit (at)
"""),
]
