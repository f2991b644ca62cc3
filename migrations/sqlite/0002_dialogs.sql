-- Scripted dialogs: snapshots of every dialog version ever used, sessions, answers.

-- Every dialog version seen at start-up, never deleted: a session in progress finishes on the
-- version it started with, and every answer can be read against the wording that was shown.
CREATE TABLE dialog_versions (
    dialog_id     TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    hash          TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    first_seen_at INTEGER NOT NULL,
    PRIMARY KEY (dialog_id, version)
);

-- One run of a dialog by a member. `state` is the engine's session (JSON; free-text answers
-- are not in it). status: active | paused | completed | expired
CREATE TABLE sessions (
    id             INTEGER PRIMARY KEY,
    member_id      INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    dialog_id      TEXT    NOT NULL,
    dialog_version INTEGER NOT NULL,
    status         TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    started_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    completed_at   INTEGER
);
CREATE INDEX sessions_open ON sessions (member_id, id) WHERE status IN ('active', 'paused');

-- Every answer: which dialog version and step, its state (answered | skipped | not_shown),
-- its value (JSON) and any flags its option raised.
CREATE TABLE answers (
    id             INTEGER PRIMARY KEY,
    session_id     INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    member_id      INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    dialog_id      TEXT    NOT NULL,
    dialog_version INTEGER NOT NULL,
    step_id        TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    value          TEXT,
    flags          TEXT,
    answered_at    INTEGER NOT NULL,
    UNIQUE (session_id, step_id)
);
CREATE INDEX answers_member ON answers (member_id, answered_at);
