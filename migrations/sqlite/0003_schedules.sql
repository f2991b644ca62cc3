-- Schedules: when each member is asked, the slots they produce, pauses and quiet hours.

ALTER TABLE members ADD COLUMN quiet_start TEXT NOT NULL DEFAULT '22:00';
ALTER TABLE members ADD COLUMN quiet_end TEXT NOT NULL DEFAULT '08:00';
-- While set and in the future, scheduled prompts are paused (slots recorded as `paused`).
ALTER TABLE members ADD COLUMN paused_until INTEGER;

-- A member's recurring dialog: on `days` (a cron day-of-week field: *, Mon-Fri, Mon,Wed)
-- at `local_time` (HH:MM) in the member's timezone. `next_due_at` is the next occurrence.
CREATE TABLE schedules (
    id          INTEGER PRIMARY KEY,
    member_id   INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    dialog_id   TEXT    NOT NULL,
    days        TEXT    NOT NULL,
    local_time  TEXT    NOT NULL,
    next_due_at INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (member_id, dialog_id)
);
CREATE INDEX schedules_due ON schedules (next_due_at) WHERE next_due_at IS NOT NULL;

-- One occurrence of a schedule on one local date: fires at most once, whatever ticks,
-- restarts or instances do. outcome: NULL while open, then completed | partial | missed |
-- unknown (the bot was down) | paused.
CREATE TABLE slots (
    id          INTEGER PRIMARY KEY,
    schedule_id INTEGER NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    member_id   INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    dialog_id   TEXT    NOT NULL,
    local_date  TEXT    NOT NULL,
    due_at      INTEGER NOT NULL,
    opens_at    INTEGER NOT NULL,
    closes_at   INTEGER NOT NULL,
    session_id  INTEGER REFERENCES sessions (id) ON DELETE SET NULL,
    prompt_id   INTEGER,
    remind_at   INTEGER,
    reminded_at INTEGER,
    outcome     TEXT,
    UNIQUE (schedule_id, local_date)
);
CREATE INDEX slots_open ON slots (closes_at) WHERE outcome IS NULL;
CREATE INDEX slots_pending ON slots (opens_at) WHERE outcome IS NULL AND session_id IS NULL;
CREATE INDEX slots_remind ON slots (remind_at) WHERE reminded_at IS NULL AND outcome IS NULL;
CREATE INDEX slots_member ON slots (member_id, due_at);
CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE INDEX sessions_done ON sessions (member_id, dialog_id, completed_at) WHERE status = 'completed';

-- When the scheduler last ran: a gap means the bot was down.
CREATE TABLE scheduler_heartbeat (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    last_tick_at INTEGER NOT NULL
);
