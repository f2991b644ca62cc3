-- The durable core: inbox, outbox, chats, members and their consents.
-- Times are INTEGER milliseconds since the Unix epoch (UTC).

-- Where the next getUpdates starts. Committed with the inbox rows of each batch, so an
-- update is confirmed to Telegram only after it is stored here.
CREATE TABLE telegram_cursor (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    next_offset INTEGER NOT NULL
);

-- Every update from Telegram, keyed by update_id (a re-delivered id is ignored).
-- `payload` (our parsed form, which may hold message text) is erased once processed.
CREATE TABLE inbox (
    update_id    INTEGER PRIMARY KEY,
    chat_id      INTEGER,
    kind         TEXT    NOT NULL,
    payload      TEXT,
    received_at  INTEGER NOT NULL,
    processed_at INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 0,
    error        TEXT
);
CREATE INDEX inbox_unprocessed ON inbox (update_id) WHERE processed_at IS NULL;

-- Operational facts about a chat (not about the person): whether we can reach it.
CREATE TABLE chats (
    chat_id            INTEGER PRIMARY KEY,
    unreachable_at     INTEGER,
    unreachable_reason TEXT
);

-- A person who consented to staywell storing their answers. Nothing exists here before.
CREATE TABLE members (
    id               INTEGER PRIMARY KEY,
    chat_id          INTEGER NOT NULL UNIQUE,
    telegram_user_id INTEGER NOT NULL,
    display_name     TEXT,
    timezone         TEXT    NOT NULL DEFAULT 'Europe/London',
    onboarding       TEXT    NOT NULL,
    stopped_at       INTEGER,
    created_at       INTEGER NOT NULL
);

-- Every consent, with the exact wording shown. Revoking sets revoked_at; rows are never
-- deleted except when the member erases their data.
CREATE TABLE consents (
    id              INTEGER PRIMARY KEY,
    member_id       INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    purpose         TEXT    NOT NULL,
    wording         TEXT    NOT NULL,
    wording_version INTEGER NOT NULL,
    granted_at      INTEGER NOT NULL,
    revoked_at      INTEGER
);
CREATE INDEX consents_member ON consents (member_id);

-- Every Telegram call we make, committed with the change that caused it.
-- state: pending -> sending -> sent | failed | ambiguous | unreachable | cancelled
CREATE TABLE outbox (
    id                  INTEGER PRIMARY KEY,
    chat_id             INTEGER NOT NULL,
    lane                INTEGER NOT NULL,
    payload             TEXT    NOT NULL,
    state               TEXT    NOT NULL DEFAULT 'pending',
    not_before          INTEGER NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    repeat              INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    sent_at             INTEGER,
    telegram_message_id INTEGER,
    last_error          TEXT,
    cause_update_id     INTEGER
);
CREATE INDEX outbox_pending ON outbox (lane, id) WHERE state = 'pending';
CREATE INDEX outbox_due ON outbox (not_before) WHERE state = 'pending';
CREATE INDEX outbox_sending ON outbox (id) WHERE state = 'sending';
CREATE INDEX outbox_queue ON outbox (chat_id, lane, id) WHERE state IN ('pending', 'sending');
CREATE INDEX outbox_chat ON outbox (chat_id);
