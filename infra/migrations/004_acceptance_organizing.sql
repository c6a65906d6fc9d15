-- Acceptance: duplicate applications; organizing: appraisal sessions and bookings.

ALTER TABLE cases
    ADD COLUMN injury_key     text NOT NULL DEFAULT '',
    ADD COLUMN open           boolean NOT NULL DEFAULT true,
    ADD COLUMN duplicate_of   text,
    ADD COLUMN complete_at    timestamptz,   -- receipt of the complete application
    ADD COLUMN site_done_at   timestamptz;   -- the appraisal took place

UPDATE cases SET open = false WHERE archived_at IS NOT NULL;

-- One open case per worker, injury and case type: the database, not a check-then-insert,
-- decides which of two simultaneous applications is the duplicate.
CREATE UNIQUE INDEX cases_one_open_per_injury ON cases (worker_ref, case_type, injury_key)
    WHERE open;

CREATE TABLE appraisal_sessions (
    session_id      text PRIMARY KEY,
    mode            text NOT NULL,
    starts_at       timestamptz NOT NULL,
    place           text NOT NULL,
    capacity        integer NOT NULL CHECK (capacity > 0),
    green_reserved  integer NOT NULL DEFAULT 0 CHECK (green_reserved >= 0)
);
CREATE INDEX appraisal_sessions_start ON appraisal_sessions (mode, starts_at);

CREATE TABLE session_bookings (
    case_id     text NOT NULL REFERENCES cases (case_id),
    attempt     integer NOT NULL,
    session_id  text NOT NULL REFERENCES appraisal_sessions (session_id),
    green       boolean NOT NULL DEFAULT false,
    booked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, attempt)
);
CREATE INDEX session_bookings_session ON session_bookings (session_id);
