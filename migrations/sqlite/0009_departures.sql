-- When each outbox row was last handed to Telegram (claimed for sending). Delivery reads the
-- last second of these at start, so a restart does not forget what it just sent and go over
-- Telegram's global limit (counted by Telegram over any sliding second).
ALTER TABLE outbox ADD COLUMN claimed_at INTEGER;
CREATE INDEX outbox_claimed ON outbox (claimed_at) WHERE claimed_at IS NOT NULL;

-- A callback answer stops the spinner on the person's phone; it is not part of the chat's
-- conversation order, so it overtakes the chat's waiting messages: a press is answered at
-- once even when replies queue behind Telegram's limit at a peak.
ALTER TABLE outbox ADD COLUMN overtakes INTEGER NOT NULL DEFAULT 0;
CREATE INDEX outbox_answers ON outbox (id) WHERE state = 'pending' AND overtakes = 1;
