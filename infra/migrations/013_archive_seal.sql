-- Archive seals (issue #10): each archive carries a statement of what it was sealed with (case,
-- format, digest, the event chain's head, when, key id) and a worker's Ed25519 signature over
-- it (infra/seal.py). The private key is never in this database: its owner can rewrite every
-- hash here, but not sign. `seal` holds the statement as signed (RFC 8785 is recomputed from
-- it), `seal_key_id` its key id, `seal_signature` the base64 signature.

ALTER TABLE archives
    ADD COLUMN seal            jsonb,
    ADD COLUMN seal_key_id     text,
    ADD COLUMN seal_signature  text,
    ADD CONSTRAINT archives_sealed_whole CHECK (
        (seal IS NULL) = (seal_key_id IS NULL) AND (seal IS NULL) = (seal_signature IS NULL)
    );

-- Still append-only, with one exception: an archive sealed before signatures may receive its
-- seal once (`appraisal archive sign-legacy`), nothing else of the row changing.
CREATE FUNCTION archive_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.seal IS NULL AND NEW.seal IS NOT NULL
       AND to_jsonb(NEW) - 'seal' - 'seal_key_id' - 'seal_signature'
           = to_jsonb(OLD) - 'seal' - 'seal_key_id' - 'seal_signature' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;

DROP TRIGGER archives_append_only ON archives;
CREATE TRIGGER archives_append_only BEFORE UPDATE OR DELETE ON archives
    FOR EACH ROW EXECUTE FUNCTION archive_change();

CREATE INDEX archives_seal_key_id ON archives (seal_key_id);
