-- An ask-first question whose episode ended before it was answered has lapsed (as
-- `close_episode` now records): it leaves the `episodes_asking` index, and its buttons
-- tell no one.
UPDATE episodes SET state = 'lapsed' WHERE state = 'asking' AND closed_at IS NOT NULL;
