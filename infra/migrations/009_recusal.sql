-- Recusal (回避) of the committee's members and staff (《工伤保险条例》 art. 27): a conflict
-- a person declares with a worker or an employer. Whoever acts on a case under that id (a
-- review sign-off, the committee's decision, the extension) is refused on that case.
CREATE TABLE staff_conflicts (
    id           bigserial PRIMARY KEY,
    staff_id     text NOT NULL,  -- the actor id the person signs with
    kind         text NOT NULL CHECK (kind IN ('worker', 'employer')),
    subject      text NOT NULL,  -- a worker's keyed hash (never the citizen ID) or a credit code
    note         text NOT NULL,  -- why (配偶, 曾任该单位顾问): no worker's name or ID here
    declared_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (staff_id, kind, subject)
);
CREATE INDEX staff_conflicts_subject ON staff_conflicts (subject);
