-- 疑难问题台账, the real thing (issue #12): a hard question from the hotline (12345), online,
-- the window or the phone, with a category, an owner on the staff roster, a case where there
-- is one, and a state: before (事前 prevention) → during (事中 explanation) → after (事后
-- follow-up, with a due date) → closed (the follow-up done). Each move is a step in
-- `ledger_steps` (append-only), so an entry's history is auditable; `ledger_entries` holds
-- where it stands. A follow-up not done by the end of its due day (China time) is escalated
-- once: `escalated_at`, a step, and a message to the supervisor in the outbox.

-- Entries from before this migration came through the gateway (010): one row per phase, with
-- a topic. They keep their id, client, event id, case and time; their phase becomes their
-- state, their topic heads the question, the source is the hotline (12345, the only ledger
-- client then), the category `other`, the owner unknown (set by whoever advances it first).
ALTER TABLE ledger_entries RENAME COLUMN phase TO state;
ALTER TABLE ledger_entries RENAME COLUMN text TO question;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_phase_check;
UPDATE ledger_entries SET question = '【' || topic || '】' || question;
ALTER TABLE ledger_entries DROP COLUMN topic;

ALTER TABLE ledger_entries
    -- An entry added at the CLI has no gateway client, and a key only if given (--key).
    ALTER COLUMN client_id DROP NOT NULL,
    ALTER COLUMN entry_key DROP NOT NULL,
    ADD COLUMN source text NOT NULL DEFAULT '12345'
        CHECK (source IN ('12345', 'online', 'window', 'phone')),
    ADD COLUMN category text NOT NULL DEFAULT 'other'
        CHECK (category IN ('eligibility', 'materials', 'deadlines', 'appraisal', 'conclusion',
                            'delivery', 're_appraisal', 'benefits', 'other')),
    ADD COLUMN owner text REFERENCES staff (staff_id),
    ADD COLUMN recorded_by text,
    ADD COLUMN follow_up_due date,     -- a China-time day: due until the end of it
    ADD COLUMN closed_at timestamptz,
    ADD COLUMN escalated_at timestamptz,
    ADD CONSTRAINT ledger_entries_state
        CHECK (state IN ('before', 'during', 'after', 'closed')),
    ADD CONSTRAINT ledger_entries_closed CHECK ((state = 'closed') = (closed_at IS NOT NULL)),
    ADD CONSTRAINT ledger_entries_gateway_key CHECK (client_id IS NULL OR entry_key IS NOT NULL);
ALTER TABLE ledger_entries ALTER COLUMN source DROP DEFAULT, ALTER COLUMN category DROP DEFAULT;
UPDATE ledger_entries SET recorded_by = client_id;
ALTER TABLE ledger_entries ALTER COLUMN recorded_by SET NOT NULL;
-- NOT VALID: the migrated entries have no owner; every new or changed row needs one.
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_owner CHECK (owner IS NOT NULL) NOT VALID;

-- The CLI's --key: unique among entries without a gateway client (the gateway's keys are
-- unique per client: UNIQUE (client_id, entry_key) of 010).
CREATE UNIQUE INDEX ledger_entries_cli_key ON ledger_entries (entry_key) WHERE client_id IS NULL;
CREATE INDEX ledger_entries_owner ON ledger_entries (owner);
CREATE INDEX ledger_entries_created ON ledger_entries (created_at);
-- What the escalation sweep looks at: open follow-ups not yet escalated.
CREATE INDEX ledger_entries_due ON ledger_entries (follow_up_due)
    WHERE escalated_at IS NULL AND state <> 'closed';

CREATE TABLE ledger_steps (
    id             bigserial PRIMARY KEY,
    entry_id       bigint NOT NULL REFERENCES ledger_entries (id),
    step_key       text NOT NULL,  -- a repeat of the same key is the same step
    kind           text NOT NULL CHECK (kind IN ('recorded', 'advanced', 'escalated')),
    from_state     text CHECK (from_state IN ('before', 'during', 'after')),
    to_state       text NOT NULL CHECK (to_state IN ('before', 'during', 'after', 'closed')),
    note           text NOT NULL,
    follow_up_due  date,           -- the due date this step set, if it set one
    actor          text NOT NULL,  -- a staff id, a gateway client id, or `system`
    at             timestamptz NOT NULL,
    UNIQUE (entry_id, step_key)
);
CREATE TRIGGER ledger_steps_append_only BEFORE UPDATE OR DELETE ON ledger_steps
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

INSERT INTO ledger_steps (entry_id, step_key, kind, to_state, note, actor, at)
SELECT id, 'recorded', 'recorded', state, '(recorded before 015: one row per phase)',
       client_id, created_at
FROM ledger_entries;

-- The outbox takes messages that belong to no case (a ledger entry's escalation): case_id
-- may be NULL, and such a message's key is unique on its own.
ALTER TABLE outbox DROP CONSTRAINT outbox_pkey;
ALTER TABLE outbox ALTER COLUMN case_id DROP NOT NULL;
ALTER TABLE outbox ADD CONSTRAINT outbox_case_key UNIQUE (case_id, message_key);
CREATE UNIQUE INDEX outbox_office_key ON outbox (message_key) WHERE case_id IS NULL;
