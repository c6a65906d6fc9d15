"""The conclusion stage on fixed dates: majority with 3 and 5 experts, deliberation without a
majority, the three review layers with returns, the conclusion letter, and every clock: met,
reminded, breached, extended, shifted."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import asyncpg

from activities.documents import fetch_document
from infra.settings import ROOT
from schemas.events import (
    ConclusionExtension,
    Reschedule,
    ReviewLayer,
)
from schemas.outcome import Outcome, SelfCare, Verdict
from schemas.status import CaseStatus
from schemas.steps import Stage
from tests.conftest import CaseEnv
from tests.helpers import (
    CLAUSE,
    FINDINGS,
    G7,
    G8,
    G9,
    Driver,
    china,
    deadline,
    decision,
    example,
    green_on_site,
    new_id,
    opinion,
    refused,
    search_attributes,
    signoff,
)
from tests.unit.test_documents import text_of
from workflows.case import AppraisalCase

MONDAY = china(2026, 10, 12)  # appraisal Thursday 15 Oct; legal limit Friday 11 Dec


def members(status: CaseStatus) -> list[str]:
    assert status.panel is not None
    return [m.expert_id for m in status.panel.members]


async def kinds(db_pool: asyncpg.Pool, case_id: str) -> list[str]:
    rows = await db_pool.fetch(
        "SELECT kind FROM case_events WHERE case_id = $1 ORDER BY id", case_id
    )
    return [r["kind"] for r in rows]


async def test_majority_of_five_and_the_letter(case_env: CaseEnv, db_pool: asyncpg.Pool) -> None:
    severe = example("initial_complete").model_copy(update={"severe": True})
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, severe)
        panel = members(await case.attend())
        assert len(panel) == 5
        for expert, outcome in zip(panel, [G7, G8, G7, G9, G7], strict=True):
            await case.update(AppraisalCase.record_opinion, opinion(expert, outcome))
        status = await case.status()
        assert status.panel_majority == G7 and status.pending_actions[0].startswith(
            "sign_off_review by the examination"
        )
        await case.review()
        issued = await case.update(
            AppraisalCase.issue_conclusion,
            decision(G7),
        )
        assert "七级" in issued
        status = await case.posted()
        found = await search_attributes(case.handle)
        assert found["CaseOutcome"] == "grade_7" and found["CaseStage"] == "delivery"
    document = f"{case.handle.id}/conclusion-letter"
    assert status.conclusion_document == document
    row = await db_pool.fetchrow(
        "SELECT sha256, size, kind FROM documents WHERE document_id = $1", document
    )
    assert row["size"] > 1000 and len(row["sha256"]) == 64
    assert (
        await db_pool.fetchval(
            "SELECT conclusion_document FROM cases WHERE case_id = $1", case.handle.id
        )
        == document
    )
    queued = await db_pool.fetchrow(
        "SELECT body::text AS body, sent_at FROM outbox WHERE case_id = $1 AND message_key = 'benefits_agency.copy'",
        case.handle.id,
    )
    assert (
        row["sha256"] in queued["body"] and queued["sent_at"] is not None
    )  # queued, then sent in delivery


async def test_the_letter_states_the_panels_findings_the_clause_dates_and_signers(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    """Opinions are entered by the experts themselves, each review layer is signed by a named
    person under their own staff id, and the decision states the panel's findings and the
    clause: all of it, and the acceptance and appraisal dates, is on the letter."""
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        panel = members(await case.attend())
        by_clerk = opinion(panel[0], G8).model_copy(update={"actor": "W0101"})
        assert "actor must be the expert's own id" in await refused(
            case, AppraisalCase.record_opinion, by_clerk
        )
        for expert in panel:
            await case.update(AppraisalCase.record_opinion, opinion(expert, G8))
        first = signoff(ReviewLayer.examination)
        wrong_signoffs: list[tuple[dict[str, str | None], str]] = [
            ({"actor": "reviewer"}, "not a role"),
            ({"actor": "Clerk"}, "not a role"),
            ({"signer": None}, "signer: the name of the examination group member"),
        ]
        for wrong, reason in wrong_signoffs:
            assert reason in await refused(
                case, AppraisalCase.sign_off_review, first.model_copy(update=wrong)
            )
        await case.update(AppraisalCase.sign_off_review, first)
        twice = signoff(ReviewLayer.chief_examination).model_copy(update={"actor": first.actor})
        assert "different person" in await refused(case, AppraisalCase.sign_off_review, twice)
        await case.update(AppraisalCase.sign_off_review, signoff(ReviewLayer.chief_examination))
        await case.update(AppraisalCase.sign_off_review, signoff(ReviewLayer.recheck))
        decided = decision(G8)
        for field, reason in [("findings", "伤情"), ("clause", "clause")]:
            assert reason in await refused(
                case, AppraisalCase.issue_conclusion, decided.model_copy(update={field: None})
            )
        await case.update(AppraisalCase.issue_conclusion, decided)
        status = await case.posted()
    assert status.conclusion_document is not None
    stored = await fetch_document(db_pool, status.conclusion_document)
    assert stored is not None
    text = text_of(stored[1])
    for expected in [
        f"伤情{FINDINGS}",
        f"GB/T16180-2014《劳动能力鉴定职工工伤与职业病致残等级》第{CLAUSE}条",
        "受理日期2026年10月12日",
        "鉴定日期2026年10月15日",
        "审核：面检组孙立新；总检组周海燕；复核组吴建华",
    ]:
        assert expected in text, expected
    assert example("initial_complete").injury.description not in text  # not the account
    assert "reviewer" not in text and "S0101" not in text
    decided_event = await db_pool.fetchval(
        "SELECT data::text FROM case_events WHERE case_id = $1 AND kind = 'conclusion.decided'",
        case.handle.id,
    )
    assert CLAUSE in decided_event and FINDINGS not in decided_event  # no medical content


async def test_no_majority_deliberates_and_a_correction_settles_it(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        a, b, c = members(await case.attend())
        await case.update(AppraisalCase.record_opinion, opinion(a, G7))
        await case.update(AppraisalCase.record_opinion, opinion(b, G8))
        answer = await case.update(AppraisalCase.record_opinion, opinion(c, G9))
        assert "no majority" in answer and "round 1" in answer
        status = await case.status()
        assert status.panel_majority is None and status.deliberations == 1
        assert "deliberation" in status.pending_actions[0]
        early = decision(G8)
        assert "未形成多数" in await refused(case, AppraisalCase.issue_conclusion, early)
        assert "已录入相同意见" in await refused(case, AppraisalCase.record_opinion, opinion(c, G9))
        assert "corrected" in await case.update(AppraisalCase.record_opinion, opinion(c, G8))
        assert (await case.status()).panel_majority == G8
        events = await db_pool.fetch(
            "SELECT kind, data::text AS data FROM case_events WHERE case_id = $1 AND kind LIKE 'opinion.%' ORDER BY id",
            case.handle.id,
        )
        assert [e["kind"] for e in events] == ["opinion.recorded"] * 3 + ["opinion.corrected"]
        assert json.loads(events[-1]["data"])["replaces"] == {
            "verdict": "grade_9",
            "self_care": "none",
        }
        assert "panel.deliberation" in await kinds(db_pool, case.handle.id)
        await case.handle.terminate("test over")


async def test_each_review_layer_can_return_and_the_loop_is_bounded(
    case_env: CaseEnv, db_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    text = (ROOT / "config" / "deadline_policy.toml").read_text(encoding="utf-8")
    policy.write_text(
        text.replace("review_rounds_max = 3", "review_rounds_max = 4"), encoding="utf-8"
    )
    async with case_env(MONDAY, policy_file=policy) as env:
        case = await Driver.start(env, example("initial_complete"))
        a, b, c = members(await case.attend())
        for expert in (a, b, c):
            await case.update(AppraisalCase.record_opinion, opinion(expert, G8))
        assert "面检组" in await refused(
            case, AppraisalCase.sign_off_review, signoff(ReviewLayer.chief_examination)
        )
        assert "理由" in await refused(
            case, AppraisalCase.sign_off_review, signoff(ReviewLayer.examination, approve=False)
        )
        # Round 1: the examination group sends it back; the panel corrects.
        await case.update(
            AppraisalCase.sign_off_review,
            signoff(ReviewLayer.examination, False, "右膝活动度测量有误"),
        )
        await case.update(
            AppraisalCase.record_opinion,
            opinion(c, Outcome(verdict=Verdict.grade_8, self_care=SelfCare.partial)),
        )
        await case.update(AppraisalCase.record_opinion, opinion(c, G8))
        # Round 2: the chief examination group sends it back.
        await case.update(AppraisalCase.sign_off_review, signoff(ReviewLayer.examination))
        assert "复核已开始" in await refused(case, AppraisalCase.record_opinion, opinion(a, G9))
        await case.update(
            AppraisalCase.sign_off_review,
            signoff(ReviewLayer.chief_examination, False, "缺少肌电图"),
        )
        # Round 3: the re-check group sends it back.
        for layer in (ReviewLayer.examination, ReviewLayer.chief_examination):
            await case.update(AppraisalCase.sign_off_review, signoff(layer))
        await case.update(
            AppraisalCase.sign_off_review, signoff(ReviewLayer.recheck, False, "依据条款引用不全")
        )
        # Round 4 is the last: no more returns, sign-offs lead to the conclusion.
        status = await case.status()
        assert status.review_round == 4 and status.signed_off == []
        await case.update(AppraisalCase.sign_off_review, signoff(ReviewLayer.examination))
        assert "上限 4" in await refused(
            case,
            AppraisalCase.sign_off_review,
            signoff(ReviewLayer.chief_examination, False, "再议"),
        )
        await case.update(AppraisalCase.sign_off_review, signoff(ReviewLayer.chief_examination))
        unsigned = decision(G8)
        assert "待复核组签署" in await refused(case, AppraisalCase.issue_conclusion, unsigned)
        await case.update(AppraisalCase.sign_off_review, signoff(ReviewLayer.recheck))
        await case.update(AppraisalCase.issue_conclusion, unsigned)
        await case.until(lambda s: s.stage is Stage.delivery)
        reviews = await db_pool.fetch(
            "SELECT kind, data->>'layer' AS layer, data->>'round' AS round FROM case_events"
            " WHERE case_id = $1 AND kind LIKE 'review.%' ORDER BY id",
            case.handle.id,
        )
        returned = [(r["layer"], r["round"]) for r in reviews if r["kind"] == "review.returned"]
        assert returned == [("examination", "1"), ("chief_examination", "2"), ("recheck", "3")]
        assert len(reviews) == 1 + 2 + 3 + 3  # every sign-off and return of every round
        await case.handle.terminate("test over")


async def test_clocks_met_leave_no_breach(case_env: CaseEnv, db_pool: asyncpg.Pool) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        status = await case.attend()
        assert deadline(status, "conclusion").due_on == date(2026, 12, 11)
        assert deadline(status, "site_promise").due_on == date(2026, 10, 20)  # 15 Oct + 5
        await case.conclude()
        status = await case.status()
        # Concluded Thursday 15 Oct: the letters are due to be signed for by Friday 30 Oct.
        assert [(d.name, d.due_on) for d in status.deadlines] == [("delivery", date(2026, 10, 30))]
        final = await case.deliver()
        assert final.deadlines == []
        assert "deadline.breached" not in await kinds(db_pool, case.handle.id)


async def test_site_promise_and_legal_limit_breached_with_reminders(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        await case.attend()
        await case.skip_to(china(2026, 10, 21, 1))
        status = await case.until(lambda s: deadline(s, "site_promise").overdue)
        assert not deadline(status, "conclusion").overdue
        await case.skip_to(china(2026, 12, 12, 1))
        status = await case.until(lambda s: deadline(s, "conclusion").overdue)
        assert (await search_attributes(case.handle))["Overdue"] is True
        events = await db_pool.fetch(
            "SELECT kind, data->>'clock' AS clock FROM case_events WHERE case_id = $1"
            " AND kind LIKE 'deadline.%' AND data->>'clock' <> 'attendance' ORDER BY id",
            case.handle.id,
        )
        assert [(e["kind"], e["clock"]) for e in events] == [
            ("deadline.reminder", "site_promise"),
            ("deadline.breached", "site_promise"),
            ("deadline.reminder", "conclusion"),
            ("deadline.breached", "conclusion"),
        ]
        escalations = await db_pool.fetchval(
            "SELECT count(*) FROM outbox WHERE case_id = $1 AND channel = 'supervisor'",
            case.handle.id,
        )
        assert escalations == 2
        # Late is still done: the conclusion stops every clock and clears the flag.
        await case.conclude()
        status = await case.status()
        assert [d.name for d in status.deadlines] == ["delivery"]
        assert (await search_attributes(case.handle))["Overdue"] is False
        await case.handle.terminate("test over")


async def test_extension_once_with_reason_moves_the_legal_limit(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        await case.attend()
        ask = ConclusionExtension(event_id=new_id("x"), actor="D0101", reason="需会诊, 案情复杂")
        # 90 days from 12 Oct end on Sunday 10 Jan 2027: the limit is Monday 11 Jan.
        assert "2027-01-11" in await case.update(AppraisalCase.extend_conclusion_deadline, ask)
        again = ask.model_copy(update={"event_id": new_id("x")})
        assert "只能延长一次" in await refused(
            case, AppraisalCase.extend_conclusion_deadline, again
        )
        await case.skip_to(china(2026, 12, 20))
        status = await case.status()
        assert (
            deadline(status, "conclusion").due_on == date(2027, 1, 11)
            and not deadline(status, "conclusion").overdue
        )
        assert "conclusion.extended" in await kinds(db_pool, case.handle.id)
        await case.handle.terminate("test over")


async def test_an_extended_limit_is_counted_again_from_the_complete_application(
    case_env: CaseEnv,
) -> None:
    """Received 3 Aug 2026: 60 days end in the National Day holiday, so the limit is 8 Oct.
    The extension is 90 days from 3 Aug (1 Nov, a Sunday: 2 Nov), not 8 Oct + 30 (7 Nov, a
    Saturday)."""
    async with case_env(china(2026, 8, 3)) as env:
        case = await Driver.start(env, example("initial_complete"))
        status = await case.until(lambda s: any(d.name == "conclusion" for d in s.deadlines))
        assert deadline(status, "conclusion").due_on == date(2026, 10, 8)
        ask = ConclusionExtension(event_id=new_id("x"), actor="D0101", reason="需会诊, 案情复杂")
        assert "2026-11-02" in await case.update(AppraisalCase.extend_conclusion_deadline, ask)
        assert deadline(await case.status(), "conclusion").due_on == date(2026, 11, 2)
        await case.handle.terminate("test over")


async def test_no_extension_after_the_limit_ran_out(
    case_env: CaseEnv, db_pool: asyncpg.Pool
) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        await case.attend()
        await case.skip_to(china(2026, 12, 12, 1))  # the 60 days ended with 11 Dec
        await case.until(lambda s: deadline(s, "conclusion").overdue)
        late = ConclusionExtension(event_id=new_id("x"), actor="D0101", reason="案情复杂")
        assert "2026-12-11 届满" in await refused(
            case, AppraisalCase.extend_conclusion_deadline, late
        )
        status = await case.status()
        assert deadline(status, "conclusion").overdue  # the breach stays on record
        assert deadline(status, "conclusion").due_on == date(2026, 12, 11)
        assert "conclusion.extended" not in await kinds(db_pool, case.handle.id)
        await case.handle.terminate("test over")


async def test_green_channel_internal_clock_beside_the_legal_one(case_env: CaseEnv) -> None:
    green = green_on_site()
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, green)
        await case.attend()
        # The promise's clock starts once its due date is computed, a moment after the stage.
        status = await case.until(lambda s: any(d.name == "site_promise" for d in s.deadlines))
        assert deadline(status, "conclusion").due_on == date(2026, 12, 11)
        assert deadline(status, "green_conclusion").due_on == date(
            2026, 11, 2
        )  # 20 days, Sunday -> Monday
        assert deadline(
            status, "site_promise"
        ).due_on - status.appointment.starts_at.date() == timedelta(days=3)  # type: ignore[union-attr]
        await case.handle.terminate("test over")


async def test_a_granted_reschedule_moves_both_conclusion_clocks(case_env: CaseEnv) -> None:
    green = green_on_site()
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, green)
        await case.until(lambda s: s.appointment is not None)
        moved = await case.update(
            AppraisalCase.reschedule,
            Reschedule(event_id=new_id("r"), actor="W0101", reason="住院复查"),
        )
        status = await case.status()
        shift = timedelta(days=status.deadline_shift_days)
        assert shift.days > 0 and f"moved {shift.days} days" in moved
        # Counted again from 12 Oct: 60 + 2 days end on Sunday 13 Dec, so Monday 14 Dec (not
        # 11 Dec + 2); 20 + 2 days end on Tuesday 3 Nov (not 2 Nov + 2).
        assert shift.days == 2
        assert deadline(status, "conclusion").due_on == date(2026, 12, 14)
        assert deadline(status, "green_conclusion").due_on == date(2026, 11, 3)
        # Past the original green due date the moved clock has not breached.
        await case.skip_to(china(2026, 11, 3))
        status = await case.status()
        assert not deadline(status, "green_conclusion").overdue
        await case.handle.terminate("test over")


async def test_opinion_validators(case_env: CaseEnv) -> None:
    async with case_env(MONDAY) as env:
        case = await Driver.start(env, example("initial_complete"))
        status = await case.until(lambda s: s.panel is not None)
        member = members(status)[0]
        assert "结论出具阶段" in await refused(
            case, AppraisalCase.record_opinion, opinion(member, G8)
        )
        await case.attend()
        assert "不是本案专家组成员" in await refused(
            case, AppraisalCase.record_opinion, opinion("EXP-999", G8)
        )
        off_scale = opinion(member, Outcome(verdict=Verdict.major_loss))
        assert "grade_1" in await refused(case, AppraisalCase.record_opinion, off_scale)
        first = opinion(member, G8)
        assert "recorded (1/3)" in await case.update(AppraisalCase.record_opinion, first)
        assert "重复事件" in await case.update(
            AppraisalCase.record_opinion, first
        )  # same event: ignored
        assert "已录入相同意见" in await refused(
            case, AppraisalCase.record_opinion, opinion(member, G8)
        )
        await case.handle.terminate("test over")
