-- Expert draw with recusal (回避): one stored draw per (case, attempt) with its pool snapshot,
-- criteria, exclusions and seed; expert leaves, conflicts of interest and evaluations (考核评价).

-- A redraw (after the pool was extended, or a member recused later) is a new attempt, and
-- every attempt stays on file. Rows drawn before this migration are attempt 1.
ALTER TABLE panel_draws ADD COLUMN attempt integer NOT NULL DEFAULT 1 CHECK (attempt >= 1);
ALTER TABLE panel_draws ALTER COLUMN attempt DROP DEFAULT;
ALTER TABLE panel_draws DROP CONSTRAINT panel_draws_pkey;
ALTER TABLE panel_draws ADD PRIMARY KEY (case_id, attempt);
ALTER TABLE panel_draws
    ADD COLUMN pool_sha256      text,                        -- SHA-256 of `snapshot`
    ADD COLUMN wrong_specialty  integer NOT NULL DEFAULT 0,
    ADD COLUMN short_by         integer NOT NULL DEFAULT 0,  -- > 0: too few eligible, nobody drawn
    ADD COLUMN exclusions       jsonb NOT NULL DEFAULT '[]', -- [{expert_id, reason, detail}]
    ADD COLUMN criteria         jsonb,  -- the request, the worker as keyed hash (no citizen ID)
    ADD COLUMN snapshot         jsonb;  -- the pool as the draw saw it; NULL before 003
CREATE INDEX panel_draws_exclusions ON panel_draws USING gin (exclusions jsonb_path_ops);

-- A draw is evidence: auditors redo it from the stored snapshot and seed.
CREATE TRIGGER panel_draws_append_only BEFORE UPDATE OR DELETE ON panel_draws
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE TABLE expert_leaves (
    id           bigserial PRIMARY KEY,
    expert_id    text NOT NULL REFERENCES experts (expert_id),
    starts       date NOT NULL,
    ends         date NOT NULL,
    reason       text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (starts <= ends)
);
CREATE INDEX expert_leaves_dates ON expert_leaves (starts, ends);

CREATE TABLE expert_conflicts (
    id           bigserial PRIMARY KEY,
    expert_id    text NOT NULL REFERENCES experts (expert_id),
    kind         text NOT NULL CHECK (kind IN ('relative', 'employer', 'declared')),
    subject      text NOT NULL,  -- a worker's keyed hash (never the citizen ID) or a credit code
    note         text NOT NULL DEFAULT '',
    declared_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (expert_id, kind, subject)
);
CREATE INDEX expert_conflicts_subject ON expert_conflicts (subject);

-- Append-only: a corrected evaluation is a new row, the latest per (expert, case, evaluator)
-- counts (expert_evaluations_current), and the earlier one stays as a trace.
CREATE TABLE expert_evaluations (
    id           bigserial PRIMARY KEY,
    expert_id    text NOT NULL REFERENCES experts (expert_id),
    case_id      text NOT NULL REFERENCES cases (case_id),
    score        smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment      text NOT NULL DEFAULT '',
    evaluator    text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX expert_evaluations_expert ON expert_evaluations (expert_id, case_id, evaluator);
CREATE TRIGGER expert_evaluations_append_only BEFORE UPDATE OR DELETE ON expert_evaluations
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE VIEW expert_evaluations_current AS
    SELECT DISTINCT ON (expert_id, case_id, evaluator) *
    FROM expert_evaluations
    ORDER BY expert_id, case_id, evaluator, recorded_at DESC, id DESC;

-- Demo pool (002): renew the terms that end before 2028 for another 3 years, so demo draws
-- in late 2026 and 2027 find the pool in term. Seeded ids only.
UPDATE experts SET term_end = (term_end + interval '3 years')::date
WHERE expert_id IN (SELECT format('EXP-%s', lpad(n::text, 3, '0')) FROM generate_series(1, 41) n)
  AND term_end < DATE '2028-01-01';

-- Demo recusals for examples/initial_complete.json (orthopedics; worker 370102198503120038,
-- employer 91370102MA3C4K7T2C). The worker hash is HMAC-SHA256 with the dev key
-- `dev-only-worker-ref-key`: with a production key it matches nobody. 6 of 9 orthopedists
-- stay eligible, enough for a panel of 5.
INSERT INTO expert_leaves (expert_id, starts, ends, reason)
SELECT v.expert_id, v.starts::date, v.ends::date, v.reason
FROM (VALUES
    ('EXP-004', '2026-11-01', '2027-04-30', '外出进修'),
    ('EXP-018', '2026-12-01', '2027-01-31', '病假')
) AS v (expert_id, starts, ends, reason)
JOIN experts USING (expert_id);

INSERT INTO expert_conflicts (expert_id, kind, subject, note)
SELECT v.expert_id, v.kind, v.subject, v.note
FROM (VALUES
    ('EXP-006', 'relative', '42443f137dd1df6599abac5044321bd3d5883aec2f7378ca63bd9a297dadcb20', '演示: 配偶之兄弟'),
    ('EXP-008', 'employer', '91370102MA3C4K7T2C', '演示: 兼任该单位职业健康顾问'),
    ('EXP-010', 'declared', '91370102MA3C4K7T2C', '演示: 曾为该单位出具职工体检报告')
) AS v (expert_id, kind, subject, note)
JOIN experts USING (expert_id)
ON CONFLICT (expert_id, kind, subject) DO NOTHING;
