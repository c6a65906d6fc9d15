-- `appraisal stats` (the committee's figures) finds a period's events by kind and time.
CREATE INDEX case_events_kind_time ON case_events (kind, occurred_at);
