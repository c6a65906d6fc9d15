"""Public notice (公告送达) of a letter that could not be delivered: published by the case on
the committee's notice board (activities/notices.py), deemed delivered when the notice period
(`public_notice_days`, counting rule) has run. A notice may end after the 15-day delivery
limit by law: the limit's escalation then says the delay is the notice's."""

from __future__ import annotations

from temporalio import workflow

from workflows import clocks
from workflows.case_file import NOTICE_CLOCKS, CaseFile, Delivery
from workflows.records import ACTIVITY_OPTIONS, notify, record_event, show

with workflow.unsafe.imports_passed_through():
    from activities.notices import PublicNotices
    from schemas.clock import today
    from schemas.delivery import NoticeRequest
    from schemas.steps import Recipient, Stage
    from schemas.vocabulary import EventKind, Party
    from schemas.workdays import DayUnit

ROLES = {Recipient.worker: "职工", Recipient.employer: "用人单位"}


async def public_notice(case: CaseFile, recipient: Recipient, track: Delivery) -> None:
    """公告送达: publish, then deemed delivered when the notice period has run."""
    assert case.policy is not None and case.concluded_on and case.conclusion_document
    published_at = workflow.now()
    deemed = await clocks.due(case, today(), case.policy.public_notice_days, DayUnit.calendar_days)
    app = case.application
    notice = await workflow.execute_activity_method(
        PublicNotices.publish_notice,
        NoticeRequest(
            case_id=case.case_id,
            stage=Stage.delivery,
            recipient=recipient,
            recipient_name=app.worker.name if recipient is Recipient.worker else app.employer.name,
            concluded_on=case.concluded_on,
            conclusion_document=case.conclusion_document,
            returns=[r.reason for r in track.returns],
            published_at=published_at,
            deemed_delivered_on=deemed.due,
            days=case.policy.public_notice_days,
            dispute_window_days=case.policy.dispute_window_days,
        ),
        summary=f"公告送达 {recipient.value} (publish the public notice)",
        **ACTIVITY_OPTIONS,
    )
    track.notice = notice
    clock = NOTICE_CLOCKS[recipient]
    clocks.start_clock(case, clock, deemed, remind=False)
    data = {
        "recipient": recipient.value,
        "place": notice.place,
        "published_at": notice.published_at.isoformat(),
        "deemed_delivered_on": notice.deemed_delivered_on.isoformat(),
        "document": notice.document_id,
        "sha256": notice.sha256,
        "returns": [r.reason for r in track.returns],
    }
    key = f"notice.published:{recipient.value}"
    await record_event(case, key, EventKind.notice_published, "system", data)
    subject = f"案件 {case.case_id} {ROLES[recipient]}结论书公告送达, {deemed.due} 视为送达 (public notice)"
    await notify(case, key, Party.case_officer, subject, data)
    show(case)
    await workflow.sleep(
        case.clocks[clock].due_at - workflow.now(),
        summary=f"{clock.label} 届满 {deemed.due} 24:00 北京时间 (deemed delivered)",
    )
    track.delivered_on, track.deemed = deemed.due, True
    clocks.stop_clock(case, clock)
    data = {"recipient": recipient.value, "delivered_on": deemed.due.isoformat()}
    key = f"delivery.deemed:{recipient.value}"
    await record_event(case, key, EventKind.delivery_deemed, "system", data)
    subject = f"案件 {case.case_id} {ROLES[recipient]}结论书公告期满, 视为送达 (deemed delivered)"
    await notify(case, key, Party.case_officer, subject, data)


def breach(case: CaseFile) -> str:
    """Why the delivery limit passed: a letter under public notice is delivered late by law."""
    notices = [
        f"{ROLES[r]} {t.notice.deemed_delivered_on}"
        for r, t in case.deliveries.items()
        if t.notice is not None and t.delivered_on is None
    ]
    if notices:
        return (
            "公告送达中, 视为送达日 " + ", ".join(notices) + " (public notice: the letter is "
            "delivered when the notice period ends, after the delivery limit)"
        )
    return "结论书未送达"
