-- Documents the committee issues (the conclusion letter 鉴定结论书), stored once with their
-- SHA-256; append-only like the event log, so what was delivered is what is kept.

CREATE TABLE documents (
    document_id  text PRIMARY KEY,                 -- "<case_id>/<kind>"
    case_id      text NOT NULL REFERENCES cases (case_id),
    kind         text NOT NULL,
    media_type   text NOT NULL,
    content      bytea NOT NULL,
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size         integer NOT NULL CHECK (size = octet_length(content)),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_case ON documents (case_id);

CREATE TRIGGER documents_append_only BEFORE UPDATE OR DELETE ON documents
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

ALTER TABLE cases ADD COLUMN conclusion_document text REFERENCES documents (document_id);
