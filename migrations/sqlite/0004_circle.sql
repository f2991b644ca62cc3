-- The member's circle: invites, carers and supporters, per-person consents, the audit
-- trail, server-side buttons, and invite-attempt rate limiting.

-- A single-use invite link. Only the SHA-256 of the token is stored. state: open | used |
-- declined | expired | cancelled.
CREATE TABLE invites (
    id           INTEGER PRIMARY KEY,
    member_id    INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    token_hash   TEXT    NOT NULL UNIQUE,
    role         TEXT    NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'open',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    used_by_chat INTEGER
);
CREATE INDEX invites_member ON invites (member_id);

-- One person in a member's circle. role: carer | supporter | both. status: awaiting (they
-- accepted; the member has not confirmed yet) | active | ended. position = escalation order.
CREATE TABLE circle (
    id           INTEGER PRIMARY KEY,
    member_id    INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    invite_id    INTEGER REFERENCES invites (id) ON DELETE SET NULL,
    chat_id      INTEGER NOT NULL,
    user_id      INTEGER NOT NULL,
    name         TEXT    NOT NULL,
    username     TEXT,
    role         TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    position     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    confirmed_at INTEGER,
    ended_at     INTEGER,
    ended_why    TEXT
);
CREATE INDEX circle_member ON circle (member_id, position);
CREATE INDEX circle_chat ON circle (chat_id);
-- A person is in a member's circle at most once at a time.
CREATE UNIQUE INDEX circle_one_tie ON circle (member_id, user_id) WHERE status != 'ended';

-- Supporters and carers mark themselves away (a property of the person, not of one tie).
CREATE TABLE away (
    chat_id    INTEGER PRIMARY KEY,
    away_until INTEGER NOT NULL
);

-- Consents about a person in the circle (`circle_id`): what they may receive.
ALTER TABLE consents ADD COLUMN circle_id INTEGER REFERENCES circle (id) ON DELETE SET NULL;

-- An outbox row sent on someone's consent is delivered only while that consent stands;
-- `member_id` is whom the message is about (so erasure finds it).
ALTER TABLE outbox ADD COLUMN consent_id INTEGER;
ALTER TABLE outbox ADD COLUMN member_id INTEGER;
CREATE INDEX outbox_consent ON outbox (consent_id) WHERE consent_id IS NOT NULL;
CREATE INDEX outbox_member ON outbox (member_id) WHERE member_id IS NOT NULL;

-- Append-only: who did what to whose circle or consents, when. Ids and times only, never
-- answer content. Erasure removes a member's entries and leaves one without identity.
CREATE TABLE audit (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    event      TEXT    NOT NULL,
    member_id  INTEGER,
    circle_id  INTEGER,
    invite_id  INTEGER,
    consent_id INTEGER,
    actor_chat INTEGER
);
CREATE INDEX audit_member ON audit (member_id) WHERE member_id IS NOT NULL;

-- Buttons whose meaning lives on the server: callback data is `b:<token>`, and the token
-- maps to who may press it, what it does and until when. Pressing one uses up its whole
-- message's group (so Accept cannot be followed by Decline).
CREATE TABLE buttons (
    token      TEXT    PRIMARY KEY,
    grp        TEXT    NOT NULL,
    user_id    INTEGER NOT NULL,
    member_id  INTEGER REFERENCES members (id) ON DELETE CASCADE,
    label      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX buttons_grp ON buttons (grp);
CREATE INDEX buttons_user ON buttons (user_id);

-- Failed invite attempts per chat (unknown, expired, used or malformed tokens).
CREATE TABLE invite_failures (
    chat_id INTEGER NOT NULL,
    at      INTEGER NOT NULL
);
CREATE INDEX invite_failures_chat ON invite_failures (chat_id, at);
