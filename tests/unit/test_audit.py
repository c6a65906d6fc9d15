"""The case-file review (`appraisal audit`) on rows, without servers: clocks rebuilt from the
event log, each check passing and failing for its reason, refusals, personal data masked in
every output, the printable page escaped, a history altered by hand named where it breaks."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory

from activities.workdays import HolidayCalendar
from schemas.clock import CHINA_TZ
from starter.app import json_text
from starter.audit.clocks import counting_rule
from starter.audit.facts import HistoryFacts
from starter.audit.history import malformed
from starter.audit.html import page
from starter.audit.model import (
    ALTERED,
    CHECK_FAILED,
    CLEAN,
    DIVERGED,
    AuditReport,
    Check,
    CheckStatus,
    ClockOutcome,
    Replay,
    ReplayOutcome,
    Source,
)
from starter.audit.privacy import Privacy, personal_strings
from starter.audit.render import render
from starter.audit.replay import core_message, event_id
from starter.audit.report import build
from starter.audit.rows import Archive, CaseRows, Draw
from starter.audit_cli import visibility_query

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
COUNT = counting_rule(HolidayCalendar())
CLEAN_REPLAY = Replay(outcome=ReplayOutcome.clean, source=Source.temporal, events=300)
PANEL = ["EXP-004", "EXP-003", "EXP-006"]
G8 = {"verdict": "grade_8", "self_care": "none"}
G9 = {"verdict": "grade_9", "self_care": "none"}
LAYERS = [("examination", "S0101"), ("chief_examination", "S0102"), ("recheck", "S0103")]


def china(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=CHINA_TZ)


def end(day: str) -> datetime:
    """The end of a due day, China time: when the case records a breach."""
    return datetime.combine(
        date.fromisoformat(day) + timedelta(days=1), datetime.min.time(), CHINA_TZ
    )


class Log:
    """A case's event log, written in order as the case would write it."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, kind: str, at: datetime, data: dict[str, Any] | None = None, **row: Any) -> Log:
        seq = len(self.events) + 1
        self.events.append(
            {
                "id": seq,
                "seq": seq,
                "kind": kind,
                "occurred_at": at,
                "data": data or {},
                "actor": row.get("actor", "system"),
                "stage": row.get("stage", "conclusion"),
                "event_key": row.get("key", f"{kind}:{seq}"),
            }
        )
        return self

    def insert(self, before: str, kind: str, at: datetime, data: dict[str, Any]) -> Log:
        """An event written just before the first `before` event."""
        index = next(i for i, e in enumerate(self.events) if e["kind"] == before)
        row = {"id": 0, "seq": 0, "kind": kind, "occurred_at": at, "data": data}
        self.events.insert(index, {**row, "actor": "system", "stage": "conclusion"})
        self.events[index]["event_key"] = f"{kind}:{at.isoformat()}"
        for seq, event in enumerate(self.events, start=1):
            event["id"] = event["seq"] = seq
        return self

    def drop(self, kind: str) -> Log:
        self.events = [e for e in self.events if e["kind"] != kind]
        return self


APPRAISED = china(10, 15)


def delivered(decided: datetime = APPRAISED) -> Log:
    """The example case: complete on 12 October, appraised on the 15th, concluded (grade 8)
    after a return by the examination group, both letters signed for, archived."""
    log = Log()
    log.add("application.received", china(10, 12), {"case_type": "initial"}, stage="acceptance")
    log.add("stage.entered", china(10, 12), stage="acceptance", key="stage:acceptance")
    log.add("policy.captured", china(10, 12), {"version": "2025-55.4", "conclusion_days": 60})
    log.add(
        "application.accepted",
        china(10, 12),
        {"complete_on": "2026-10-12", "conclusion_due": "2026-12-11"},
    )
    log.add("stage.entered", china(10, 12), stage="organizing", key="stage:organizing")
    log.add("panel.drawn", china(10, 12), {"attempt": 1, "members": PANEL, "short_by": 0})
    log.add("appointment.booked", china(10, 12), {"at": "2026-10-15T09:00:00+08:00"})
    log.add("attendance.attended", china(10, 15), {"identity_verified": True}, actor="clerk-1")
    log.add("milestone.site_appraisal_done", china(10, 15))
    log.add("stage.entered", china(10, 15), key="stage:conclusion")
    for expert in PANEL:
        log.add("opinion.recorded", decided, {"expert_id": expert, "outcome": G8}, actor=expert)
    log.add("review.returned", decided, {"layer": "examination", "round": 1, "reason": "测量有误"})
    for layer, staff in LAYERS:
        log.add("review.approved", decided, {"layer": layer, "round": 2}, actor=staff)
    log.add("conclusion.decided", decided, {"outcome": G8}, actor="C0201")
    log.add("conclusion.issued", decided, {"outcome": G8}, actor="C0201")
    log.add("stage.entered", decided, stage="delivery", key="stage:delivery")
    signed = decided + timedelta(days=2)
    for recipient, waybill in (("worker", "EA1CN"), ("employer", "EA2CN")):
        log.add("letter.sent", decided, {"recipient": recipient, "waybill_no": waybill})
        log.add(
            "postal.delivered",
            signed,
            {"recipient": recipient, "waybill_no": waybill, "delivered_on": str(signed.date())},
            actor="ems",
        )
    log.add("delivery.completed", signed, {"worker": {"delivered_on": str(signed.date())}})
    log.add("stage.entered", signed, stage="archiving", key="stage:archiving")
    window_end = signed.date() + timedelta(days=15)
    ended = datetime.combine(window_end + timedelta(days=1), datetime.min.time(), CHINA_TZ)
    log.add("dispute_window.ended", ended, {"worker": str(window_end), "employer": str(window_end)})
    return log


def rows_of(log: Log, **changes: Any) -> CaseRows:
    rows = CaseRows(
        case={
            "case_type": "initial",
            "green_channel": False,
            "mode": "on_site",
            "jurisdiction": "city",
            "stage": "archived",
            "closed_reason": "delivered",
            "outcome": "grade_8",
            "outcome_label": "八级",
        },
        events=log.events,
        draws=[Draw(1, date(2026, 10, 15), 3, PANEL, [("EXP-008", "employer_tie")], 0, True)],
        outbox=[{"message_key": "benefits_agency.copy", "sent_at": china(10, 15, 10)}],
    )
    for name, value in changes.items():
        setattr(rows, name, value)
    return rows


def audit(
    rows: CaseRows | None, facts: HistoryFacts | None = None, replay: Replay = CLEAN_REPLAY
) -> AuditReport:
    facts = facts or HistoryFacts(recorded={e["event_key"] for e in (rows.events if rows else [])})
    now = datetime(2027, 1, 1, tzinfo=UTC)
    return build("JN-2026-000001", rows, facts, replay, None, now, COUNT, Privacy())


def check(report: AuditReport, name: str) -> Check:
    return next(c for c in report.checks if c.name == name)


def clock(report: AuditReport, name: str) -> Any:
    return next(c for c in report.clocks if c.clock == name)


def test_a_delivered_case_passes_every_check_it_can_be_given() -> None:
    report = audit(rows_of(delivered()))
    statuses = {c.name: c.status for c in report.checks}
    assert statuses == {
        "clocks": CheckStatus.passed,
        "panel": CheckStatus.passed,
        "majority": CheckStatus.passed,
        "signoffs": CheckStatus.passed,
        "delivery": CheckStatus.passed,
        "archive": CheckStatus.not_applicable,  # no archive row in these rows
        "event_chain": CheckStatus.passed,
        "history": CheckStatus.passed,
    }
    assert report.exit_code == CLEAN
    legal = clock(report, "conclusion")
    assert (legal.started_on, legal.due_on, legal.outcome) == (
        date(2026, 10, 12),
        date(2026, 12, 11),
        ClockOutcome.met,
    )
    assert clock(report, "site_promise").due_on == date(2026, 10, 20)
    assert clock(report, "delivery").outcome is ClockOutcome.met
    assert clock(report, "dispute_window_worker").outcome is ClockOutcome.ended
    assert "此前退回 1 次 (面检组)" in check(report, "signoffs").reason
    assert [s.stage for s in report.stages] == [
        "acceptance",
        "organizing",
        "conclusion",
        "delivery",
        "archiving",
    ]


def test_a_breach_recorded_passes_and_a_breach_nobody_recorded_fails() -> None:
    late = delivered(decided=china(12, 12, 1))  # after 11 December 24:00
    for name, due_on in (("site_promise", "2026-10-20"), ("conclusion", "2026-12-11")):
        breach = {"clock": name, "due_on": due_on, "detail": ""}
        late.insert("opinion.recorded", "deadline.breached", end(due_on), breach)
    report = audit(rows_of(late))
    assert clock(report, "conclusion").outcome is ClockOutcome.breached
    found = check(report, "clocks")
    assert (
        found.status is CheckStatus.passed and "鉴定结论法定期限 (2026-12-11 届满" in found.reason
    )

    unrecorded = audit(rows_of(late.drop("deadline.breached")))
    assert clock(unrecorded, "conclusion").outcome is ClockOutcome.late_unrecorded
    found = check(unrecorded, "clocks")
    assert found.status is CheckStatus.failed and "未记录逾期" in found.reason
    assert unrecorded.exit_code == CHECK_FAILED


def test_the_one_extension_is_decided_before_the_limit() -> None:
    in_time = delivered(decided=china(12, 20))
    in_time.insert("opinion.recorded", "conclusion.extended", china(12, 1), {"days": 30})
    report = audit(rows_of(in_time))
    legal = clock(report, "conclusion")
    assert (legal.due_on, legal.extended_days, legal.outcome) == (
        date(2027, 1, 11),  # 90 days from 12 October, counted again from the start
        30,
        ClockOutcome.met,
    )
    extension = next(e for e in in_time.events if e["kind"] == "conclusion.extended")
    extension["occurred_at"] = china(12, 12)  # after the 60 days ran out
    found = check(audit(rows_of(in_time)), "clocks")
    assert found.status is CheckStatus.failed and "晚于期限 2026-12-11" in found.reason


def test_the_conclusion_follows_the_panel_majority() -> None:
    log = delivered()
    decided = next(e for e in log.events if e["kind"] == "conclusion.decided")
    decided["data"] = {"outcome": G9}
    found = check(audit(rows_of(log)), "majority")
    assert found.status is CheckStatus.failed and "多数意见 八级" in found.reason

    log = delivered()
    stranger = next(e for e in log.events if e["kind"] == "opinion.recorded")
    stranger["data"] = {"expert_id": "EXP-099", "outcome": G8}
    found = check(audit(rows_of(log)), "majority")
    assert found.status is CheckStatus.failed
    assert "EXP-004 未录入意见" in found.reason and "EXP-099 不是专家组成员" in found.reason


def test_three_signoffs_in_order_by_three_people_before_the_conclusion() -> None:
    log = delivered()
    approvals = [e for e in log.events if e["kind"] == "review.approved"]
    approvals[0]["data"], approvals[1]["data"] = approvals[1]["data"], approvals[0]["data"]
    found = check(audit(rows_of(log)), "signoffs")
    assert found.status is CheckStatus.failed and "依次签署" in found.reason

    log = delivered()
    [e for e in log.events if e["kind"] == "review.approved"][2]["actor"] = "S0101"
    assert "同一人" in check(audit(rows_of(log)), "signoffs").reason

    log = delivered()  # the round after the return is the one that counts
    last = [e for e in log.events if e["kind"] == "review.approved"][-1]
    log.events.remove(last)
    found = check(audit(rows_of(log)), "signoffs")
    assert found.status is CheckStatus.failed and "面检组, 总检组" in found.reason


def test_a_recused_expert_must_leave_the_panel_by_a_recorded_redraw() -> None:
    log = delivered()
    request = {"expert_id": "EXP-003", "requested_by": "worker", "reason": "曾为主治医生"}
    log.insert("appointment.booked", "recusal.requested", china(10, 13), request)
    found = check(audit(rows_of(log)), "panel")
    assert found.status is CheckStatus.failed and "EXP-003 仍在专家组" in found.reason

    draws = [
        Draw(1, None, 3, ["EXP-004", "EXP-007", "EXP-006"], [("EXP-003", "recused")], 0, False)
    ]
    found = check(audit(rows_of(log, draws=draws)), "panel")
    assert "第1次抽取无法由存档的专家库快照和种子复现" in found.reason


def test_delivery_needs_proof_for_both_parties_and_the_agency_copy() -> None:
    log = delivered()
    log.events = [
        e
        for e in log.events
        if not (e["kind"] == "postal.delivered" and e["data"]["recipient"] == "employer")
    ]
    found = check(audit(rows_of(log, outbox=[])), "delivery")
    assert found.status is CheckStatus.failed
    assert "用人单位无送达凭证" in found.reason and "未抄送社会保险经办机构" in found.reason


def test_a_letter_returned_twice_is_delivered_by_public_notice_with_its_proof() -> None:
    log = delivered()
    log.events = [
        e
        for e in log.events
        if not (e["kind"] == "postal.delivered" and e["data"]["recipient"] == "worker")
    ]
    returned = {"recipient": "worker", "waybill_no": "EA1CN", "reason": "unknown_address"}
    log.insert("delivery.completed", "postal.returned", china(10, 16), returned)
    log.insert(
        "delivery.completed",
        "letter.sent",
        china(10, 17),
        {"recipient": "worker", "waybill_no": "EA3CN"},
    )
    log.insert(
        "delivery.completed",
        "postal.returned",
        china(10, 18),
        {**returned, "waybill_no": "EA3CN", "reason": "refused"},
    )
    published = {
        "recipient": "worker",
        "place": "公告栏",
        "published_at": "2026-10-18T10:00:00+08:00",
        "deemed_delivered_on": "2026-11-17",
        "document": "JN-2026-000001/public-notice-worker",
        "sha256": "cd" * 32,
    }
    log.insert("delivery.completed", "notice.published", china(10, 18, 10), published)
    breach = {"clock": "delivery", "due_on": "2026-10-30", "detail": "公告送达中"}
    log.insert("delivery.completed", "deadline.breached", end("2026-10-30"), breach)
    deemed = {"recipient": "worker", "delivered_on": "2026-11-17"}
    log.insert("delivery.completed", "delivery.deemed", end("2026-11-17"), deemed)
    for event in log.events:  # the windows run from the later, deemed, delivery date
        if event["kind"] == "dispute_window.ended":
            event["occurred_at"] = end("2026-12-02")
            event["data"] = {"worker": "2026-12-02", "employer": "2026-11-01"}
    report = audit(rows_of(log))
    assert [(x.waybill_no, x.status, x.proof) for x in report.letters[:3]] == [
        ("EA1CN", "退回", "退回: 查无此人/地址不详"),
        ("EA2CN", "签收", "签收 2026-10-17"),
        ("EA3CN", "退回", "退回: 拒收"),
    ]
    public = report.letters[3]
    assert (public.waybill_no, public.status, public.delivered_on) == (
        None,
        "视为送达",
        date(2026, 11, 17),
    )
    assert public.proof.startswith("公告送达 (公告栏), 2026-11-17 视为送达; 公告文书 JN-2026-")
    assert "sha256 " + "cd" * 32 in report.letters[-1].proof
    assert clock(report, "delivery").outcome is ClockOutcome.breached
    assert clock(report, "public_notice_worker").outcome is ClockOutcome.ended
    found = check(report, "delivery")
    assert found.status is CheckStatus.passed and "职工 2026-11-17 视为送达" in found.reason
    assert "(逾期已记录)" in found.reason
    assert check(report, "clocks").status is CheckStatus.passed


def test_an_application_abandoned_before_its_supplement_period_ended_is_flagged() -> None:
    log = Log()
    log.add("application.received", china(10, 12), stage="acceptance")
    log.add("policy.captured", china(10, 12), {"version": "2025-55.4"})
    log.add(
        "supplement.notice",
        china(10, 14),
        {"items": [{"kind": "medical_records"}], "due": "2026-11-13"},
    )
    log.add("case.abandoned", china(11, 10), {"reason": "补正期限届满仍未补齐"})
    report = audit(rows_of(log, draws=[], outbox=[]))
    notice = clock(report, "supplement_notice")
    assert (notice.due_on, notice.outcome) == (
        date(2026, 10, 19),
        ClockOutcome.met,
    )  # 5 working days
    wait = clock(report, "supplement")
    assert wait.outcome is ClockOutcome.early
    assert check(report, "clocks").status is CheckStatus.failed
    assert check(report, "majority").status is CheckStatus.not_applicable


def test_refusals_are_every_refused_or_rejected_event_and_a_staff_recusal() -> None:
    log = Log()
    log.add("application.received", china(10, 12), stage="acceptance")
    log.add("application.refused", china(10, 12), {"rule": "eligibility"})
    log.add("case.refused", china(10, 12), {"reason": "再次鉴定须在收到鉴定结论之日起15日内申请"})
    log.add("letter.rejected", china(10, 13), {"recipient": "worker", "reason": "地址不详"})
    log.add(
        "recusal.staff",
        china(10, 13),
        {"step": "复核签署", "kind": "worker", "note": "配偶"},
        actor="S0102",
    )
    log.add("update.refused", china(10, 13), {"reason": "到场须核验身份"}, actor="clerk-1")
    report = audit(rows_of(log, draws=[], outbox=[]))
    assert [(r.kind, r.reason) for r in report.refusals] == [
        ("application.refused", "eligibility"),
        ("case.refused", "再次鉴定须在收到鉴定结论之日起15日内申请"),
        ("letter.rejected", "地址不详"),
        ("recusal.staff", "复核签署: worker 配偶"),
        ("update.refused", "到场须核验身份"),
    ]


def test_the_history_check_names_rows_missing_from_the_log_and_rows_it_never_wrote() -> None:
    log = delivered()
    recorded = {e["event_key"] for e in log.events} | {"review:rv-lost"}
    log.add("opinion.corrected", china(10, 16), {"expert_id": "EXP-004"}, key="opinion:forged")
    found = check(audit(rows_of(log), HistoryFacts(recorded=recorded)), "history")
    assert found.status is CheckStatus.failed
    assert "缺少 review:rv-lost" in found.reason and "opinion:forged 不见于历史" in found.reason
    unknown = check(audit(rows_of(delivered()), HistoryFacts(problems=["no history"])), "history")
    assert unknown.status is CheckStatus.not_applicable


def test_an_archive_that_does_not_verify_is_exit_4_before_a_divergence() -> None:
    report = audit(rows_of(delivered()), replay=Replay(outcome=ReplayOutcome.diverged, event_id=34))
    assert report.exit_code == DIVERGED
    report.checks.append(Check(name="majority", label="", status=CheckStatus.failed, reason=""))
    assert report.exit_code == CHECK_FAILED
    report.checks.append(Check(name="archive", label="", status=CheckStatus.failed, reason=""))
    assert report.exit_code == ALTERED


APPLICATION = {
    "applicant": {"role": "relative", "name": "李秀兰", "mobile": "13905370002"},
    "worker": {
        "name": "张建军",
        "citizen_id": "370811198503120438",
        "mobile": "13805370001",
        "address": {"text": "山东省济宁市任城区红星中路100号", "postal_code": "272000"},
    },
    "injury": {"diagnosis": "右胫腓骨骨折", "description": "施工中坠落"},
}


def test_personal_data_is_masked_in_the_text_the_json_and_the_page() -> None:
    log = delivered()
    returned = next(e for e in log.events if e["kind"] == "review.returned")
    returned["data"]["reason"] = (
        "张建军 (370811198503120438, 13805370001) 住山东省济宁市任城区红星中路100号, 右胫腓骨骨折待复查"
    )
    archive = Archive(
        1,
        "ab" * 32,
        china(10, 31),
        date(2076, 10, 31),
        [{"waybill_no": "EA2CN", "signer": "李会计"}],
        None,
    )
    facts = HistoryFacts(application=APPLICATION, recorded={e["event_key"] for e in log.events})
    privacy = Privacy(personal_strings(APPLICATION))
    now = datetime(2027, 1, 1, tzinfo=UTC)
    report = build(
        "JN-2026-000001",
        rows_of(log, archive=archive),
        facts,
        CLEAN_REPLAY,
        None,
        now,
        COUNT,
        privacy,
    )
    outputs = [render(report), json_text(report.model_dump()), page(report)]
    for text in map(privacy.scrub, outputs):
        for secret in (
            "张建军",
            "370811198503120438",
            "13805370001",
            "红星中路100号",
            "右胫腓骨骨折",
            "李会计",
        ):
            assert secret not in text
        assert "张**" in text
    assert [x.signer for x in report.letters] == [
        None,
        "李**",
    ]  # the worker's letter: no signer kept
    assert (
        Privacy().scrub("sha256 a13805370001b 370811198503120438")
        == "sha256 a13805370001b 3********"
    )


def test_the_page_is_self_contained_and_escapes_what_it_prints() -> None:
    log = delivered()
    next(e for e in log.events if e["kind"] == "review.returned")["data"]["reason"] = (
        "<script>alert(1)</script>"
    )
    html = page(audit(rows_of(log)))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "http://" not in html and "https://" not in html and "src=" not in html
    assert html.startswith("<!DOCTYPE html>") and "劳动能力鉴定案卷评查报告" in html
    assert "评查项目" in html and "北京时间" in html


def without(events: list[dict[str, Any]], kind: str, renumber: bool) -> dict[str, Any]:
    """The history with its 4th event of `kind` removed, as someone editing the file would."""
    victim = [e for e in events if e["eventType"] == kind][3]
    kept = [dict(e) for e in events if e is not victim]
    if renumber:
        for n, e in enumerate(kept, start=1):
            e["eventId"] = str(n)
    return {"events": kept}


@pytest.mark.parametrize("renumber", [False, True])
def test_a_history_with_an_event_removed_is_named_where_it_breaks(renumber: bool) -> None:
    events = json.loads((HISTORIES / "v5" / "returned_review.json").read_text())["events"]
    kind = "EVENT_TYPE_WORKFLOW_TASK_COMPLETED"
    history = WorkflowHistory.from_json("returned_review", without(events, kind, renumber))
    found = malformed(history)
    assert found is not None
    event, what = found
    if renumber:
        assert "is followed by" in what and "not its completion" in what
    else:
        assert event == int([e for e in events if e["eventType"] == kind][3]["eventId"])
        assert f"event {event} is missing" in what
    assert malformed(WorkflowHistory.from_json("returned_review", {"events": events})) is None


def test_where_a_replay_diverges_is_read_from_the_core_message() -> None:
    failure = (
        "Workflow activation completion failed: Failure { failure: Some(Failure { message: "
        '"[TMPRL1100] Nondeterminism error: Activity machine does not handle this event: '
        'HistoryEvent(id: 34, UpsertWorkflowSearchAttributes)", source: "" }) }'
    )
    text = core_message(failure)
    assert text.startswith("[TMPRL1100] Nondeterminism error") and event_id(text) == 34
    assert event_id("History is out of order. Last processed event: 53, event id: 55") == 55


def test_the_visibility_query_of_audit_replay() -> None:
    types = "(WorkflowType = 'AppraisalCase' OR WorkflowType = 'ProvincialReferral')"
    assert visibility_query(None, running=False) == f"{types} AND ExecutionStatus != 'Running'"
    assert visibility_query(date(2026, 10, 1), running=False) == (
        f"{types} AND CloseTime >= '2026-10-01T00:00:00+08:00'"
    )
    assert visibility_query(date(2026, 10, 1), running=True) == (
        f"{types} AND (CloseTime >= '2026-10-01T00:00:00+08:00' OR ExecutionStatus = 'Running')"
    )
    assert visibility_query(None, running=True) == types
