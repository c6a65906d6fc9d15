"""A prior conclusion as this system recorded it, for a review (复查) or re-appraisal (再次鉴定)
application that names it: the conclusion's date and outcome, and each letter's delivery date
(the date signed for, or for a letter served by public notice the date it was deemed
delivered), read from the prior case's chained event log."""

from __future__ import annotations

import asyncpg
from temporalio import activity

from activities.storage import worker_ref
from schemas.clock import CHINA_TZ
from schemas.steps import PriorQuery, PriorRecord


class PriorConclusions:
    def __init__(self, pool: asyncpg.Pool, worker_ref_key: str) -> None:
        self.pool = pool
        self.worker_ref_key = worker_ref_key

    @activity.defn(name="find_prior_conclusion")
    async def find_prior_conclusion(self, query: PriorQuery) -> PriorRecord | None:
        """None when the prior case is not in this system (the typed dates then stand)."""
        async with self.pool.acquire() as conn:
            case = await conn.fetchrow(
                """SELECT worker_ref, archived_at, outcome, outcome_label, closed_reason
                   FROM cases WHERE case_id = $1""",
                query.prior_case_id,
            )
            if case is None:
                return None
            issued = await conn.fetchrow(
                """SELECT occurred_at, data->'outcome'->>'verdict' AS verdict FROM case_events
                   WHERE case_id = $1 AND kind = 'conclusion.issued' ORDER BY seq LIMIT 1""",
                query.prior_case_id,
            )
            # Each letter's delivery: the date signed for, as the courier reported it.
            delivered = await conn.fetch(
                """SELECT l.data->>'recipient' AS recipient,
                          min((p.data->>'occurred_at')::timestamptz) AS signed_at
                   FROM case_events l JOIN case_events p
                     ON p.case_id = l.case_id AND p.kind = 'postal.delivered'
                    AND p.data->>'waybill_no' = l.data->>'waybill_no'
                   WHERE l.case_id = $1 AND l.kind = 'letter.sent'
                   GROUP BY l.data->>'recipient'""",
                query.prior_case_id,
            )
            # 公告送达: a letter returned twice is deemed delivered when the notice period ran.
            deemed = await conn.fetch(
                """SELECT data->>'recipient' AS recipient,
                          min((data->>'delivered_on')::date) AS delivered_on
                   FROM case_events WHERE case_id = $1 AND kind = 'delivery.deemed'
                   GROUP BY data->>'recipient'""",
                query.prior_case_id,
            )
        signed = {
            r["recipient"]: r["signed_at"].astimezone(CHINA_TZ).date()
            for r in delivered
            if r["recipient"] and r["signed_at"]
        }
        published = {
            r["recipient"]: r["delivered_on"]
            for r in deemed
            if r["recipient"] and r["delivered_on"] and r["recipient"] not in signed
        }
        return PriorRecord(
            case_id=query.prior_case_id,
            same_worker=case["worker_ref"] == worker_ref(query.citizen_id, self.worker_ref_key),
            archived=case["archived_at"] is not None,
            concluded_on=issued["occurred_at"].astimezone(CHINA_TZ).date() if issued else None,
            outcome=(issued["verdict"] if issued else None) or case["outcome"],
            outcome_label=case["outcome_label"],
            closed_reason=case["closed_reason"],
            delivered_on={**signed, **published},
            deemed=sorted(published),
        )
