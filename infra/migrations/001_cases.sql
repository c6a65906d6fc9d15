-- Case projection, the append-only event log, outbox and archive.
-- Temporal's history is the source of truth; these tables are what reports and auditors query.

CREATE SEQUENCE case_number_seq;

CREATE TABLE cases (
    case_id        text PRIMARY KEY,
    case_type      text NOT NULL,
    worker_ref     text NOT NULL,          -- keyed hash of the citizen ID, never the number
    green_channel  boolean NOT NULL DEFAULT false,
    mode           text NOT NULL,
    jurisdiction   text NOT NULL,
    stage          text NOT NULL,
    received_at    timestamptz NOT NULL,
    acceptance_at  timestamptz,
    organizing_at  timestamptz,
    conclusion_at  timestamptz,
    delivery_at    timestamptz,
    archiving_at   timestamptz,
    archived_at    timestamptz,
    outcome        text,
    outcome_label  text,
    closed_reason  text,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_worker_ref ON cases (worker_ref);
CREATE INDEX cases_stage ON cases (stage);

CREATE TABLE case_events (
    id           bigserial PRIMARY KEY,
    case_id      text NOT NULL REFERENCES cases (case_id),
    event_key    text NOT NULL,
    stage        text NOT NULL,
    kind         text NOT NULL,
    actor        text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    data         jsonb NOT NULL DEFAULT '{}',
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_id, event_key)
);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;

CREATE TRIGGER case_events_append_only BEFORE UPDATE OR DELETE ON case_events
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE TABLE experts (
    expert_id    text PRIMARY KEY,
    name         text NOT NULL,
    title        text NOT NULL,
    hospital     text NOT NULL,
    specialties  text[] NOT NULL,
    active       boolean NOT NULL DEFAULT true,
    term_start   date NOT NULL,
    term_end     date NOT NULL
);

CREATE TABLE panel_draws (
    case_id    text PRIMARY KEY REFERENCES cases (case_id),
    seed       bigint NOT NULL,
    pool_size  integer NOT NULL,
    eligible   integer NOT NULL,
    members    jsonb NOT NULL,
    drawn_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outbox (
    case_id      text NOT NULL REFERENCES cases (case_id),
    message_key  text NOT NULL,
    channel      text NOT NULL,
    recipient    text NOT NULL,
    subject      text NOT NULL,
    body         jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz,
    PRIMARY KEY (case_id, message_key)
);

CREATE TABLE archives (
    case_id      text PRIMARY KEY REFERENCES cases (case_id),
    archived_at  timestamptz NOT NULL,
    sha256       text NOT NULL,
    case_file    jsonb NOT NULL
);

CREATE TRIGGER archives_append_only BEFORE UPDATE OR DELETE ON archives
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
