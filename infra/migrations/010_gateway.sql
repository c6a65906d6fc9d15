-- The HTTP gateway (gateway/): which waybill belongs to which case, postal webhooks already
-- taken (their event ids, durably), the other systems' credentials, the hard-question ledger.

-- Every letter the courier took, recorded by the postal activity `send_letter` as soon as the
-- courier answers (before the case itself hears of it), so a webhook that follows at once
-- finds its case. Letters sent before this table existed come from the event log.
CREATE TABLE shipments (
    waybill_no   text PRIMARY KEY,
    case_id      text NOT NULL REFERENCES cases (case_id),
    recipient    text NOT NULL,
    attempt      integer NOT NULL DEFAULT 1,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shipments_case ON shipments (case_id);

INSERT INTO shipments (waybill_no, case_id, recipient)
SELECT DISTINCT ON (data->>'waybill_no') data->>'waybill_no', case_id, data->>'recipient'
FROM case_events
WHERE kind = 'letter.sent' AND data->>'waybill_no' IS NOT NULL
ORDER BY data->>'waybill_no', id
ON CONFLICT DO NOTHING;

-- A postal webhook the case accepted, with the answer it got: a repeat gets the same answer
-- and reaches the case no more. Refused webhooks are not kept (a retry is judged afresh).
CREATE TABLE postal_webhooks (
    event_id     text PRIMARY KEY,
    case_id      text NOT NULL,
    waybill_no   text NOT NULL,
    answer       jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);

-- Other systems (hospitals, the hotline, the benefits agency, the postal company) and what
-- each may do. A token is stored only as its SHA-256 (it is 256 random bits, so a fast hash
-- is safe); after a rotation the old token lives until `expires_at`, a revoked client none.
CREATE TABLE gateway_clients (
    client_id   text PRIMARY KEY CHECK (client_id ~ '^[a-z0-9][a-z0-9-]{1,38}$'),
    name        text NOT NULL,
    scopes      text[] NOT NULL CHECK (cardinality(scopes) > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE gateway_tokens (
    token_sha256  text PRIMARY KEY CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    client_id     text NOT NULL REFERENCES gateway_clients (client_id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz
);
CREATE INDEX gateway_tokens_client ON gateway_tokens (client_id);

-- 疑难问题台账: hard questions from the hotline, online and the window, each tracked before
-- (prevention), during (explanation) and after (follow-up), linked to a case where there is one.
CREATE TABLE ledger_entries (
    id          bigserial PRIMARY KEY,
    client_id   text NOT NULL REFERENCES gateway_clients (client_id),
    entry_key   text NOT NULL,  -- the sender's event id: a repeat is the same entry
    phase       text NOT NULL CHECK (phase IN ('before', 'during', 'after')),
    topic       text NOT NULL,
    text        text NOT NULL,
    case_id     text REFERENCES cases (case_id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, entry_key)
);
CREATE INDEX ledger_entries_case ON ledger_entries (case_id) WHERE case_id IS NOT NULL;
