"""The minimal baseline: the Temporal operations a case cannot do without, on the bench's path
(walk-in appraisal, delivered letters, a re-appraisal request in the dispute window), each with
why it is needed. Sizes are close to the case's own payloads. docs/capacity.md prints it."""

from __future__ import annotations

from bench.baseline import Op

DAY = 86_400.0
SMALL, WRITE, LETTER = 200, 400, 1_000  # payload bytes: an event, a write's input, the letter

# (operation, why). Updates are numbered in the order the driver sends them; "answer" is where
# the update's caller hears back. The start (1 action) carries the application and needs no line.
STEPS: list[tuple[list[Op], str]] = [
    (
        [{"op": "activity", "input": WRITE, "result": SMALL}],
        "register: the case row under its number (one case per number), its first stage and "
        "receipt event, in one transaction",
    ),
    (
        [{"op": "upsert", "attributes": {"CaseStage": ["Keyword", "organizing"]}}],
        "stage upsert: operators find cases by stage in the Web UI",
    ),
    (
        [{"op": "timer", "id": "limit", "seconds": 60 * DAY}],
        "the legal conclusion limit (60 days from acceptance), raced against the conclusion",
    ),
    (
        [{"op": "activity", "input": WRITE, "result": WRITE}],
        "draw the panel and book the appraisal: one transaction (the draw needs the day)",
    ),
    (
        [{"op": "update", "n": 0}, {"op": "answer", "n": 0}],
        "walk-in booking (bench only: the booked appraisal day cannot be waited for in real "
        "time); its event row rides on the next write",
    ),
    (
        [{"op": "update", "n": 1}, {"op": "answer", "n": 1}],
        "attendance with identity verified: the appraisal took place",
    ),
    (
        [{"op": "upsert", "attributes": {"CaseStage": ["Keyword", "conclusion"]}}],
        "stage upsert: conclusion",
    ),
    *(
        (
            [{"op": "update", "n": n}, {"op": "answer", "n": n}],
            f"opinion of panel member {n - 1}: the majority is the panel's, each expert signs "
            "their own",
        )
        for n in (2, 3, 4)
    ),
    *(
        (
            [{"op": "update", "n": n}, {"op": "answer", "n": n}],
            f"sign-off of review group {layer} (面检组 → 总检组 → 复核组, in order)",
        )
        for n, layer in ((5, "examination"), (6, "chief_examination"), (7, "recheck"))
    ),
    (
        [{"op": "update", "n": 8}, {"op": "answer", "n": 8}, {"op": "cancel", "id": "limit"}],
        "the committee's conclusion (stops the legal clock); opinions, sign-offs and the "
        "decision are written to PostgreSQL by the letter's activity",
    ),
    (
        [{"op": "activity", "input": LETTER, "result": WRITE}],
        "the conclusion letter: render, store and record the conclusion in one activity",
    ),
    (
        [
            {
                "op": "upsert",
                "attributes": {
                    "CaseStage": ["Keyword", "delivery"],
                    "CaseOutcome": ["Keyword", "grade_7"],
                },
            }
        ],
        "stage and outcome upsert: delivery",
    ),
    (
        [
            {"op": "activity", "task": "post", "input": WRITE, "result": SMALL},
            {"op": "activity", "task": "post", "input": WRITE, "result": SMALL},
        ],
        "post the letter to the worker and to the employer (two shipments, two waybills; "
        "each retried on its own)",
    ),
    *(
        (
            [{"op": "update", "n": n}, {"op": "answer", "n": n}],
            f"delivery event of letter {n - 8} (signed for): starts that party's dispute window",
        )
        for n in (9, 10)
    ),
    (
        [
            {"op": "upsert", "attributes": {"CaseStage": ["Keyword", "archiving"]}},
            {"op": "timer", "id": "window", "seconds": 15 * DAY},
        ],
        "stage upsert and the 15-day dispute window",
    ),
    (
        [{"op": "update", "n": 11}, {"op": "answer", "n": 11}, {"op": "cancel", "id": "window"}],
        "a party's re-appraisal request within the window (bench only: the window cannot pass "
        "in real time)",
    ),
    (
        [{"op": "child", "input": WRITE}],
        "refer it to the province: the provincial case (a child that outlives the city's)",
    ),
    (
        [{"op": "activity", "input": WRITE, "result": SMALL}],
        "archive: the package sealed, the event log closed, in one transaction",
    ),
    (
        [{"op": "upsert", "attributes": {"CaseStage": ["Keyword", "archived"]}}],
        "stage upsert: archived",
    ),
]

SCRIPT: list[Op] = [op for ops, _ in STEPS for op in ops]
INPUTS: list[dict[str, object]] = [
    {"kind": "update", "size": SMALL} for op in SCRIPT if op["op"] == "update"
]
