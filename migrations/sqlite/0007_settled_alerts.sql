-- An alert whose episode has ended, or in whose episode someone has acknowledged, will never
-- escalate: it leaves the escalation index (as `close_episode` and `ack_alert` now do), so
-- the scheduler is not woken for it.
UPDATE alerts SET escalate_at = NULL
 WHERE state = 'sent' AND escalate_at IS NOT NULL
   AND (EXISTS (SELECT 1 FROM episodes e WHERE e.id = alerts.episode_id AND e.closed_at IS NOT NULL)
        OR EXISTS (SELECT 1 FROM alerts b WHERE b.episode_id = alerts.episode_id AND b.state = 'acked'));
