-- When each outbox row was last handed to Telegram (claimed for sending). Delivery reads the
-- last second of these at start, so a restart does not forget what it just sent and go over
-- Telegram's global limit (counted by Telegram over any sliding second).
ALTER TABLE outbox ADD COLUMN claimed_at INTEGER;
CREATE INDEX outbox_claimed ON outbox (claimed_at) WHERE claimed_at IS NOT NULL;
