-- The staff roster (issue #10): who may act on a case, beside the expert pool. Every decision
-- names a roster member (or an expert, or another system's gateway client) whose role fits
-- the step; the case checks it with the activity `check_actor` (workflows/actors.py).
-- A member is retired, never deleted: old cases' event logs still name them.
CREATE TABLE staff (
    staff_id    text PRIMARY KEY CHECK (staff_id ~ '^[A-Z][A-Z0-9-]{1,39}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 40),
    roles       text[] NOT NULL CHECK (
        cardinality(roles) > 0
        AND roles <@ ARRAY['clerk', 'examination', 'chief_examination', 'recheck',
                           'committee', 'supervisor']::text[]
    ),
    active      boolean NOT NULL DEFAULT true,
    added_at    timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz,
    CHECK (active = (retired_at IS NULL))
);

-- A small demo roster for Jining (fictional people), like the demo experts (002, 008): the
-- ids the README's examples and the tests use. An operator's later edits are kept.
INSERT INTO staff (staff_id, name, roles) VALUES
    ('W0101', '王晓梅', ARRAY['clerk']),          -- 受理窗口 clerk
    ('W0102', '刘志强', ARRAY['clerk']),          -- 受理窗口 clerk
    ('S0101', '孙立新', ARRAY['examination']),     -- 面检组
    ('S0102', '周海燕', ARRAY['chief_examination']), -- 总检组
    ('S0103', '吴建华', ARRAY['recheck']),         -- 复核组
    ('C0201', '郑国栋', ARRAY['committee']),       -- 鉴定委员会委员
    ('C0202', '王立平', ARRAY['committee']),       -- 鉴定委员会委员
    ('D0101', '李建军', ARRAY['supervisor'])       -- 科长 supervisor
ON CONFLICT (staff_id) DO NOTHING;

-- The courier's signed webhooks (gateway/postal.py) are recorded under this client: it holds
-- no token (the HMAC signature proves the sender); revoking it stops the case taking them.
INSERT INTO gateway_clients (client_id, name, scopes)
VALUES ('ems-webhook', 'EMS 邮件轨迹回调 (signed webhooks)', ARRAY['postal'])
ON CONFLICT (client_id) DO NOTHING;
