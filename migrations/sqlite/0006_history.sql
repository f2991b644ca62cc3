-- A member's history (rules, /week) is read by member and start time; without this index
-- that read scanned every session of every member, and grew with the service's age.
CREATE INDEX sessions_member ON sessions (member_id, started_at);
-- Who may be told about a rule is looked up by circle tie when an alert is built.
CREATE INDEX consents_circle ON consents (circle_id) WHERE circle_id IS NOT NULL;
