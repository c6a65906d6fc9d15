-- A tamper-evident archive (issue #9).
--
-- 1. case_events is hash-chained per case. Each row carries its place in the case's chain
--    (`seq`), the hash of the row before it (`prev_hash`, 64 zeros for the first) and its own
--    `hash`: SHA-256 (hex) over its content, each field length-prefixed so no field can shift
--    into the next: "<bytes>:<value>;" for case_id, seq, prev_hash, kind, event_key, actor,
--    occurred_at (UTC, 'YYYY-MM-DDTHH:MM:SS.ffffffZ'), stage, data (as PostgreSQL renders the
--    jsonb, `data::text`). `appraisal archive verify` recomputes it in Python.
--    The trigger computes it, for every writer, under a per-case advisory lock held to the end
--    of the inserting transaction: two appends of one case at once are chained one after the
--    other, never both onto the same predecessor.
-- 2. archives gains the archive package (format 2): the manifest (each part's SHA-256), the
--    parts, the Temporal history export, and `retain_until` (archiving + 50 years, policy).

CREATE FUNCTION case_event_hash(
    case_id text, seq integer, prev_hash text, kind text, event_key text, actor text,
    occurred_at timestamptz, stage text, data jsonb
) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(string_agg(octet_length(f) || ':' || f || ';', '' ORDER BY n), 'UTF8')), 'hex')
    FROM unnest(ARRAY[
        case_id, seq::text, prev_hash, kind, event_key, actor,
        to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), stage, data::text
    ]) WITH ORDINALITY AS fields (f, n)
$$;

ALTER TABLE case_events
    ADD COLUMN seq integer,
    ADD COLUMN prev_hash text,
    ADD COLUMN hash text;

-- Rows written before this migration are chained now, in the order they were written.
ALTER TABLE case_events DISABLE TRIGGER case_events_append_only;
DO $$
DECLARE
    r record;
    last_case text := NULL;
    n integer := 0;
    prev text;
BEGIN
    FOR r IN SELECT id, case_id FROM case_events ORDER BY case_id, id LOOP
        IF last_case IS DISTINCT FROM r.case_id THEN
            last_case := r.case_id;
            n := 0;
            prev := repeat('0', 64);
        END IF;
        n := n + 1;
        UPDATE case_events e
        SET seq = n, prev_hash = prev,
            hash = case_event_hash(e.case_id, n, prev, e.kind, e.event_key, e.actor,
                                   e.occurred_at, e.stage, e.data)
        WHERE e.id = r.id
        RETURNING e.hash INTO prev;
    END LOOP;
END $$;
ALTER TABLE case_events ENABLE TRIGGER case_events_append_only;

ALTER TABLE case_events
    ALTER COLUMN seq SET NOT NULL,
    ALTER COLUMN prev_hash SET NOT NULL,
    ALTER COLUMN hash SET NOT NULL,
    ADD CONSTRAINT case_events_chain UNIQUE (case_id, seq),
    ADD CONSTRAINT case_events_hash_hex CHECK (hash ~ '^[0-9a-f]{64}$');

CREATE FUNCTION chain_case_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last record;
BEGIN
    -- One writer per case at a time, until its transaction ends.
    PERFORM pg_advisory_xact_lock(hashtextextended('case_events:' || NEW.case_id, 0));
    SELECT seq, hash INTO last FROM case_events
    WHERE case_id = NEW.case_id ORDER BY seq DESC LIMIT 1;
    NEW.seq := coalesce(last.seq, 0) + 1;
    NEW.prev_hash := coalesce(last.hash, repeat('0', 64));
    NEW.hash := case_event_hash(NEW.case_id, NEW.seq, NEW.prev_hash, NEW.kind, NEW.event_key,
                                NEW.actor, NEW.occurred_at, NEW.stage, NEW.data);
    RETURN NEW;
END $$;

CREATE TRIGGER case_events_chain BEFORE INSERT ON case_events
    FOR EACH ROW EXECUTE FUNCTION chain_case_event();

-- The archive package. Format 1: the digest over a JSON dump (`case_file`), before this
-- migration; format 2: `manifest` lists each part's SHA-256, `case_file` holds the parts,
-- `history` the Temporal history export, `sha256` the digest over the manifest (RFC 8785).
ALTER TABLE archives
    ADD COLUMN format        integer NOT NULL DEFAULT 1 CHECK (format IN (1, 2)),
    ADD COLUMN retain_until  date,
    ADD COLUMN manifest      jsonb,
    ADD COLUMN history       jsonb;

ALTER TABLE archives DISABLE TRIGGER archives_append_only;
UPDATE archives
SET retain_until = ((archived_at AT TIME ZONE 'Asia/Shanghai')::date + interval '50 years')::date;
ALTER TABLE archives ENABLE TRIGGER archives_append_only;

ALTER TABLE archives
    ALTER COLUMN retain_until SET NOT NULL,
    ADD CONSTRAINT archives_package CHECK (format = 1 OR (manifest IS NOT NULL AND history IS NOT NULL));
CREATE INDEX archives_retain_until ON archives (retain_until);
