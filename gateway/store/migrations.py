"""Schema migrations, portable between SQLite and PostgreSQL.

Times are UNIX seconds (DOUBLE PRECISION) so that both engines compare them the same way.
Append new migrations; never edit an applied one.
"""

from gateway.core.errors import GatewayError

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

MIGRATIONS.append((2, """
ALTER TABLE outbound ADD COLUMN payload_path TEXT;

CREATE TABLE transfers (
    transfer_id TEXT PRIMARY KEY,
    sender TEXT NOT NULL,
    purpose TEXT NOT NULL,
    version TEXT NOT NULL,
    source_lea TEXT NOT NULL,
    source_estab TEXT NOT NULL,
    dest_lea TEXT NOT NULL,
    dest_estab TEXT NOT NULL,
    destination TEXT NOT NULL,
    for_school TEXT,
    pupils INTEGER NOT NULL,
    flagged INTEGER NOT NULL,
    size_bytes BIGINT NOT NULL,
    digest TEXT NOT NULL,
    path TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    state TEXT NOT NULL,
    spooled_at DOUBLE PRECISION,
    collected_at DOUBLE PRECISION
);
CREATE INDEX transfers_school ON transfers (for_school, state);

CREATE TABLE ctf_pupils (
    transfer_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    upn TEXT,
    former_upn TEXT,
    surname TEXT NOT NULL,
    forename TEXT NOT NULL,
    dob TEXT NOT NULL,
    sex TEXT,
    postcode TEXT,
    flags TEXT,
    PRIMARY KEY (transfer_id, idx)
);
CREATE INDEX ctf_pupils_upn ON ctf_pupils (upn);

CREATE TABLE lpd (
    transfer_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    source_lea TEXT NOT NULL,
    source_estab TEXT NOT NULL,
    source_name TEXT,
    stored_at DOUBLE PRECISION NOT NULL,
    claimed_by TEXT,
    claimed_for TEXT,
    claimed_at DOUBLE PRECISION
);
CREATE INDEX lpd_state ON lpd (state);

CREATE TABLE lpd_history (
    id {serial},
    transfer_id TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    party TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX lpd_history_transfer ON lpd_history (transfer_id, id);

CREATE TABLE cases (
    case_id TEXT PRIMARY KEY,
    opened_at DOUBLE PRECISION NOT NULL,
    category INTEGER NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    transfer_id TEXT,
    message_id TEXT,
    upn TEXT,
    surname TEXT NOT NULL,
    forename TEXT NOT NULL,
    dob TEXT,
    sex TEXT,
    status TEXT NOT NULL
);
CREATE UNIQUE INDEX cases_transfer ON cases (transfer_id);
CREATE INDEX cases_opened ON cases (opened_at)
"""))

MIGRATIONS.append((3, """
CREATE TABLE records (
    record_id TEXT PRIMARY KEY,
    upn TEXT,
    former_upn TEXT,
    surname TEXT,
    forename TEXT,
    middle_names TEXT,
    dob TEXT,
    sex TEXT,
    postcode TEXT,
    address TEXT,
    laestab TEXT,
    on_roll_from TEXT,
    on_roll_to TEXT,
    imported_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX records_upn ON records (upn);

CREATE TABLE match_results (
    message_id TEXT NOT NULL,
    child_ref TEXT NOT NULL,
    matched_at DOUBLE PRECISION NOT NULL,
    best_record_id TEXT,
    best_band TEXT NOT NULL,
    candidates TEXT NOT NULL,
    PRIMARY KEY (message_id, child_ref)
);

ALTER TABLE inbound ADD COLUMN matched_at DOUBLE PRECISION
"""))

MIGRATIONS.append((4, """
CREATE INDEX outbound_state_listing ON outbound (state, created_at, message_id);
CREATE INDEX outbound_recipient_listing ON outbound (recipient, created_at, message_id)
"""))

MIGRATIONS.append((5, """
CREATE TABLE api_clients (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    revoked_at DOUBLE PRECISION,
    last_used_at DOUBLE PRECISION
)
"""))

# 6: the CME workflow (cases with their flowchart states and history, the children watched as
# "not known but monitoring", and the notifications queue). 7 and 8 follow on other branches
# (users and sessions; chasing).
MIGRATIONS.append((6, """
ALTER TABLE cases ADD COLUMN urgent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cases ADD COLUMN key_worker TEXT;
ALTER TABLE cases ADD COLUMN details TEXT;
ALTER TABLE cases ADD COLUMN updated_at DOUBLE PRECISION;
ALTER TABLE cases ADD COLUMN closed_at DOUBLE PRECISION;
ALTER TABLE cases ADD COLUMN monitor_until TEXT;
ALTER TABLE cases ADD COLUMN year_group TEXT;
ALTER TABLE cases ADD COLUMN opened_on TEXT;
UPDATE cases SET status = 'logged', updated_at = opened_at WHERE status = 'open';
CREATE INDEX cases_status ON cases (status, urgent, opened_at);
CREATE INDEX cases_upn ON cases (upn);

CREATE TABLE case_events (
    id {serial},
    case_id TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    override INTEGER NOT NULL DEFAULT 0,
    due_on TEXT,
    detail TEXT
);
CREATE INDEX case_events_case ON case_events (case_id, id);

CREATE TABLE case_messages (
    case_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (case_id, message_id)
);
CREATE INDEX case_messages_message ON case_messages (message_id);

CREATE TABLE watches (
    watch_id TEXT PRIMARY KEY,
    enquiry_id TEXT NOT NULL,
    child_ref TEXT NOT NULL,
    enquirer TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    case_id TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    watched_until TEXT NOT NULL,
    until_estimated INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    child TEXT NOT NULL,
    found_source TEXT,
    found_ref TEXT,
    found_band TEXT,
    found_detail TEXT,
    found_at DOUBLE PRECISION,
    dismissed TEXT,
    reply_id TEXT,
    updated_at DOUBLE PRECISION NOT NULL,
    UNIQUE (enquiry_id, child_ref)
);
CREATE INDEX watches_state ON watches (state, watched_until);

CREATE TABLE notifications (
    id {serial},
    at DOUBLE PRECISION NOT NULL,
    kind TEXT NOT NULL,
    urgent INTEGER NOT NULL DEFAULT 0,
    case_id TEXT,
    message_id TEXT,
    subject TEXT NOT NULL,
    recipients TEXT NOT NULL,
    sent_at DOUBLE PRECISION,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    seen_at DOUBLE PRECISION
);
CREATE INDEX notifications_unsent ON notifications (sent_at, id);

CREATE TABLE enquiry_answers (
    enquiry_id TEXT NOT NULL,
    child_ref TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reply_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (enquiry_id, child_ref)
);

CREATE TABLE workflow_marks (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
)
"""))

# 7: people who sign in to the web pages (users, sessions), and resends.

MIGRATIONS.append((7, """
CREATE TABLE users (
    username TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    disabled_at DOUBLE PRECISION,
    failed_sign_ins INTEGER NOT NULL DEFAULT 0,
    locked_at DOUBLE PRECISION,
    last_sign_in_at DOUBLE PRECISION
);

CREATE TABLE web_sessions (
    id_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    last_seen_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (username);

CREATE TABLE outbound_resends (
    message_id TEXT PRIMARY KEY,
    resent_from TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX outbound_resends_from ON outbound_resends (resent_from);
CREATE INDEX outbound_type_listing ON outbound (message_type, created_at, message_id)
"""))

# 6 and 7 are taken by work on other branches (the case workflow and monitoring; the web
# pages), merged into main separately: chasing's migration is 8 so that the numbers never clash.
MIGRATIONS.append((8, """
CREATE TABLE sent_enquiries (
    message_id TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    sent_at DOUBLE PRECISION NOT NULL,
    sent_on TEXT NOT NULL,
    due_on TEXT NOT NULL,
    due_estimated INTEGER NOT NULL DEFAULT 0,
    chase_after TEXT NOT NULL,
    chasers INTEGER NOT NULL DEFAULT 0,
    last_chased_at DOUBLE PRECISION,
    overdue_at DOUBLE PRECISION,
    escalated_at DOUBLE PRECISION,
    escalation_reason TEXT
);
CREATE INDEX sent_enquiries_chase ON sent_enquiries (escalated_at, chase_after);

CREATE TABLE sent_children (
    message_id TEXT NOT NULL,
    child_ref TEXT NOT NULL,
    surname TEXT NOT NULL,
    forename TEXT NOT NULL,
    middle_names TEXT,
    dob TEXT,
    school_last_attended TEXT,
    outcome TEXT,
    school TEXT,
    comments TEXT,
    replied_by TEXT,
    replied_officer TEXT,
    reply_id TEXT,
    replied_at DOUBLE PRECISION,
    previous_outcome TEXT,
    pending_outcome TEXT,
    pending_school TEXT,
    pending_comments TEXT,
    pending_officer TEXT,
    pending_reply_id TEXT,
    pending_at DOUBLE PRECISION,
    needs_review INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (message_id, child_ref)
);

CREATE TABLE chasers_sent (
    chaser_id TEXT PRIMARY KEY,
    enquiry_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    sent_at DOUBLE PRECISION NOT NULL,
    actor TEXT NOT NULL
);
CREATE UNIQUE INDEX chasers_sent_number ON chasers_sent (enquiry_id, number);

CREATE TABLE chasers_received (
    message_id TEXT PRIMARY KEY,
    enquiry_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    number INTEGER NOT NULL,
    received_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX chasers_received_enquiry ON chasers_received (enquiry_id, received_at)
"""))

# 9: the Children Not in School register (Education Act 1996 ss.436B-436G): each entry with
# every version kept (who, when, why), and where it went when the family moved; and the NHS
# number on cases.
MIGRATIONS.append((9, """
CREATE TABLE cnis_entries (
    entry_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    version INTEGER NOT NULL,
    entry TEXT NOT NULL,
    surname TEXT NOT NULL,
    forename TEXT NOT NULL,
    dob TEXT NOT NULL,
    source TEXT NOT NULL,
    case_id TEXT,
    transferred_to TEXT,
    transfer_message_id TEXT,
    received_message_id TEXT,
    received_from TEXT,
    received_conversation TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    UNIQUE (received_from, received_conversation)
);
CREATE INDEX cnis_entries_state ON cnis_entries (state, surname);
CREATE INDEX cnis_entries_transfer ON cnis_entries (state, transfer_message_id);

CREATE TABLE cnis_versions (
    entry_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    reason TEXT,
    entry TEXT NOT NULL,
    PRIMARY KEY (entry_id, version)
);

ALTER TABLE cases ADD COLUMN nhs_number TEXT;
ALTER TABLE records ADD COLUMN nhs_number TEXT
"""))

# 10: the returns schools make to their LA (new pupils, deletions, absence), with whether each
# came in time; and each partner's clock as its messages show it.
MIGRATIONS.append((10, """
CREATE TABLE school_notices (
    message_id TEXT PRIMARY KEY,
    school TEXT NOT NULL,
    kind TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    event_on TEXT NOT NULL,
    due_on TEXT,
    late_school_days INTEGER,
    case_id TEXT,
    detail TEXT,
    conversation_id TEXT
);
CREATE INDEX school_notices_received ON school_notices (received_at);
CREATE INDEX school_notices_conversation ON school_notices (school, conversation_id);

CREATE TABLE partner_clock (
    party TEXT PRIMARY KEY,
    last_delay DOUBLE PRECISION NOT NULL,
    last_at DOUBLE PRECISION NOT NULL,
    min_delay DOUBLE PRECISION NOT NULL,
    min_since DOUBLE PRECISION NOT NULL
);
CREATE INDEX school_notices_school ON school_notices (school, received_at)
"""))

# 11: CTF payloads in the database, for PostgreSQL (any host serves any transfer, no shared
# folder): one row a payload and its bytes in chunks of 256 KiB (gateway/store/payloads.py).
# Created on SQLite too (one schema for both) but unused there: SQLite keeps files. On
# PostgreSQL the chunks are stored uncompressed (``chunk_storage``; see Dialect).
MIGRATIONS.append((11, """
CREATE TABLE ctf_payloads (
    payload_id TEXT PRIMARY KEY,
    size_bytes BIGINT NOT NULL,
    digest TEXT NOT NULL,
    chunks INTEGER NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE ctf_payload_chunks (
    payload_id TEXT NOT NULL REFERENCES ctf_payloads (payload_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    data {blob} NOT NULL,
    PRIMARY KEY (payload_id, seq)
);
{chunk_storage}
"""))

# 12: the register's name search key, each name
# casefolded with accents folded (``store.cnis.search_key``), kept on every write. SQL's
# LOWER() folds only ASCII on SQLite (and depends on the collation on PostgreSQL), so "Żak"
# was not found by "żak". Rows written before this migration are filled at start-up by
# ``Register.fill_search_keys`` (Python does the folding; NULL means "not filled yet").
MIGRATIONS.append((12, """
ALTER TABLE cnis_entries ADD COLUMN search_key TEXT
"""))

# 13: the spool folder's sweep (``Outbox.spool_pending``, every ``spool_poll_seconds``) finds
# the few spooled messages whose delivery is over through a partial index, instead of
# reading the whole outbox with its bodies (132 ms of CPU a sweep at 100,000 messages:
# 13% of a core, for ever; bench/README.md).
MIGRATIONS.append((13, """
CREATE INDEX outbound_spool_pending ON outbound (message_id)
WHERE spool_name IS NOT NULL AND spool_done = 0
"""))


# 14: a CTF this gateway forwards (or delivers from the Lost Pupils Database) that is not
# delivered (its outbox row fails or expires) is found from the outbox row by its payload
# reference (``transfers.path``), and marked: a forwarded transfer ``undelivered``, a claimed
# LPD entry's delivery with ``delivery_failed_at`` (the claiming LA may claim it again).
MIGRATIONS.append((14, """
CREATE INDEX transfers_path ON transfers (path);
CREATE INDEX transfers_undelivered ON transfers (received_at) WHERE state = 'undelivered';
ALTER TABLE lpd ADD COLUMN delivery_failed_at DOUBLE PRECISION;
CREATE INDEX lpd_delivery_failed ON lpd (delivery_failed_at)
WHERE delivery_failed_at IS NOT NULL
"""))


# 15: ``ctf_lost_once``: a lost or out-of-sector CTF is stored once per source school and SHA-256
# (a school that posts the same file again gets the first one's answer, not a second LPD
# entry, notice and case); its primary key makes that hold across processes. Existing
# transfers fill it, the earliest of each repeat.
MIGRATIONS.append((15, """
CREATE TABLE ctf_lost_once (
    source_lea TEXT NOT NULL,
    source_estab TEXT NOT NULL,
    digest TEXT NOT NULL,
    transfer_id TEXT NOT NULL,
    PRIMARY KEY (source_lea, source_estab, digest)
);
INSERT INTO ctf_lost_once (source_lea, source_estab, digest, transfer_id)
SELECT t.source_lea, t.source_estab, t.digest, t.transfer_id FROM transfers t
WHERE t.destination IN ('lost', 'out-of-sector') AND NOT EXISTS (
    SELECT 1 FROM transfers u WHERE u.source_lea = t.source_lea
    AND u.source_estab = t.source_estab AND u.digest = t.digest
    AND u.destination IN ('lost', 'out-of-sector')
    AND (u.received_at < t.received_at
         OR (u.received_at = t.received_at AND u.transfer_id < t.transfer_id)))
"""))


# 16: the CTFs that were stuck before migration 14 (its marking starts with the rows that fail
# or expire after it): a forward still ``forwarded`` whose last Transfer failed, expired or was
# cancelled, with none queued, sending or delivered, becomes ``undelivered``; a claimed LPD
# entry whose last delivery to the claiming LA ended so gets its ``delivery_failed_at``. Each
# gets a ``not-delivered`` history entry, as if marked then, so ``ctf undelivered`` and the
# diagnostics list it with its recipient and date. The index on the outbox's payload
# reference serves this and the resend's look-ups of a CTF's Transfers.
_NOT_DELIVERED = "('failed', 'expired', 'cancelled')"
_LIVE = "('queued', 'sending', 'delivered', 'answered', 'closed')"
# the outbox row ``o`` (to ``o.recipient``, for the transfer ``t``) is the last of its CTF
_LAST = """NOT EXISTS (SELECT 1 FROM outbound p WHERE p.payload_path = o.payload_path
    AND p.recipient = o.recipient AND (p.state IN {live} OR p.created_at > o.created_at
    OR (p.created_at = o.created_at AND p.message_id > o.message_id)))""".replace(
    "{live}", _LIVE)
_STUCK_FORWARDS = f"""SELECT t.transfer_id, o.message_id, o.recipient, o.state, o.error_code,
    COALESCE(o.updated_at, o.created_at) AS at
FROM outbound o JOIN transfers t ON t.path = o.payload_path
WHERE o.state IN {_NOT_DELIVERED} AND t.state = 'forwarded' AND {_LAST}"""
_STUCK_CLAIMS = f"""SELECT l.transfer_id, o.message_id, o.recipient, o.state, o.error_code,
    COALESCE(o.updated_at, o.created_at) AS at
FROM outbound o JOIN transfers t ON t.path = o.payload_path
JOIN lpd l ON l.transfer_id = t.transfer_id AND l.claimed_by = o.recipient
WHERE o.state IN {_NOT_DELIVERED} AND l.state = 'claimed' AND l.delivery_failed_at IS NULL
AND {_LAST}"""
_HISTORY = """INSERT INTO lpd_history (transfer_id, at, party, action, detail)
SELECT s.transfer_id, s.at, s.recipient, 'not-delivered', 'transfer ' || s.message_id || ' to '
    || s.recipient || ': ' || COALESCE(s.error_code, s.state) || ' (found at upgrade)'
FROM ({stuck}) s"""
MIGRATIONS.append((16, f"""
CREATE INDEX outbound_payload ON outbound (payload_path, recipient, created_at)
WHERE payload_path IS NOT NULL;
{_HISTORY.replace("{stuck}", _STUCK_FORWARDS)};
UPDATE transfers SET state = 'undelivered'
WHERE transfer_id IN (SELECT s.transfer_id FROM ({_STUCK_FORWARDS}) s);
{_HISTORY.replace("{stuck}", _STUCK_CLAIMS)};
UPDATE lpd SET delivery_failed_at = (
    SELECT MAX(s.at) FROM ({_STUCK_CLAIMS}) s WHERE s.transfer_id = lpd.transfer_id)
WHERE transfer_id IN (SELECT s.transfer_id FROM ({_STUCK_CLAIMS}) s)
"""))

def refuse_newer(done: set[int], migrations: list[tuple[int, str]]) -> None:
    """Refuse a database that a newer gateway has migrated: this code does not know its
    tables and could misread or damage them (a downgrade, or an old binary started by
    mistake). Raised before anything is written."""
    known = max((v for v, _ in migrations), default=0)
    newer = sorted(v for v in done if v > known)
    if newer:
        raise GatewayError("store-newer", f"the database is at schema version {max(newer)}; "
                           f"this gateway knows versions up to {known}")
