-- A case number is used once.
-- The case row is bound to the workflow run that registered it first (its
-- first_execution_run_id, which continue-as-new keeps): another run under the same number is
-- refused and touches nothing. Numbers are handed out per prefix and China-time year, past
-- every number already taken, also those typed into the UI's Start Workflow form.

ALTER TABLE cases ADD COLUMN first_run_id text;

CREATE TABLE case_numbers (
    prefix  text NOT NULL,
    year    integer NOT NULL,
    last    integer NOT NULL CHECK (last > 0),
    PRIMARY KEY (prefix, year)
);

INSERT INTO case_numbers (prefix, year, last)
SELECT m[1], m[2]::integer, max(m[3]::integer)
FROM cases, regexp_match(case_id, '^([A-Z]{1,8})-(\d{4})-(\d{6})$') AS m
WHERE m IS NOT NULL
GROUP BY m[1], m[2];

DROP SEQUENCE case_number_seq;
