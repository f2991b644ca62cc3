-- Early-warning plans: the rules each member chose, episodes, alerts and their
-- acknowledgement and escalation, and the member's own coping notes.

-- What helps, in the member's own words: shown back to them at the self-help tier only.
ALTER TABLE members ADD COLUMN coping_notes TEXT;
-- How the member's plan tells people: hours before an unacknowledged alert goes to the next
-- supporter; whether the member hears when someone responds; whether supporters see the
-- reason (or only that the member asked them to get in touch); whether carers' nudges carry it.
ALTER TABLE members ADD COLUMN escalate_hours INTEGER NOT NULL DEFAULT 12;
ALTER TABLE members ADD COLUMN tell_me_ack INTEGER NOT NULL DEFAULT 1;
ALTER TABLE members ADD COLUMN alert_reason INTEGER NOT NULL DEFAULT 1;
ALTER TABLE members ADD COLUMN nudge_reason INTEGER NOT NULL DEFAULT 0;
-- How long an ask-first question waits for the member before their advance decision applies.
ALTER TABLE members ADD COLUMN ask_hours INTEGER NOT NULL DEFAULT 2;

-- A rule in a member's plan: a template from dialogs/rules.toml with their own values.
-- tier: self_help | nudge | alert | urgent. ask_first: ask the member before telling anyone;
-- if they don't answer in time, `unanswered` decides: tell | dont.
CREATE TABLE plan_rules (
    id          INTEGER PRIMARY KEY,
    member_id   INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    rule_id     TEXT    NOT NULL,
    params      TEXT    NOT NULL,
    tier        TEXT    NOT NULL,
    ask_first   INTEGER NOT NULL DEFAULT 0,
    unanswered  TEXT    NOT NULL DEFAULT 'tell',
    active      INTEGER NOT NULL DEFAULT 1,
    consent_id  INTEGER REFERENCES consents (id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (member_id, rule_id)
);

-- Consents to share one rule's firing at one tier with one person in the circle.
ALTER TABLE consents ADD COLUMN rule_id TEXT;
ALTER TABLE consents ADD COLUMN tier TEXT;

-- One episode of one rule for one member: from firing until it re-arms. At most one open
-- episode per rule, so one episode can never produce a second alert.
CREATE TABLE episodes (
    id           INTEGER PRIMARY KEY,
    member_id    INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    rule_id      TEXT    NOT NULL,
    opened_at    INTEGER NOT NULL,
    closed_at    INTEGER,
    clear_streak INTEGER NOT NULL DEFAULT 0,
    evidence     TEXT    NOT NULL,
    -- asking (the member is asked first) | told | not_told (the member said no)
    state        TEXT    NOT NULL,
    ask_until    INTEGER
);
CREATE UNIQUE INDEX episodes_open ON episodes (member_id, rule_id) WHERE closed_at IS NULL;
CREATE INDEX episodes_asking ON episodes (ask_until) WHERE state = 'asking';

-- One message of an episode to one person (or the member, for self-help). Unique per
-- (episode, person, tier): a duplicate alert cannot be written, whatever restarts do.
-- state: sent | acked | escalated | cancelled.
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    episode_id  INTEGER NOT NULL REFERENCES episodes (id) ON DELETE CASCADE,
    member_id   INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    circle_id   INTEGER REFERENCES circle (id) ON DELETE SET NULL,
    tier        TEXT    NOT NULL,
    consent_id  INTEGER,
    outbox_id   INTEGER,
    step        INTEGER NOT NULL DEFAULT 0,
    state       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    escalate_at INTEGER,
    acked_at    INTEGER,
    acked_how   TEXT,
    UNIQUE (episode_id, circle_id, tier)
);
-- (NULLs are distinct in a UNIQUE constraint: the member's own self-help message needs its own.)
CREATE UNIQUE INDEX alerts_self ON alerts (episode_id, tier) WHERE circle_id IS NULL;
CREATE INDEX alerts_escalate ON alerts (escalate_at) WHERE state = 'sent' AND escalate_at IS NOT NULL;
