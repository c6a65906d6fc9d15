"""Delivery in full (patches.FULL_DELIVERY): each recipient's letter followed to its delivery
date, on its own.

- Signed for: the delivery date is the date signed for (China time); a date before the letter
  was posted, or ahead of today, is not possible and counts as the day the case learned it.
- Returned: the reason is recorded (event, a message to the case officer, the UI); the other
  known address of the party is tried at once, else the office has `address_correction_days`
  to correct the address (`correct_address`). An address a letter came back from is never
  used again.
- Returned again (or no address in time): public notice (公告送达), published by the case on
  the committee's notice board; deemed delivered `public_notice_days` after publication.
- No tracking news for `tracking_poll_hours`: the case asks the courier (a lost webhook costs
  hours). Polled events pass the same gate as reported ones: one event id, one effect.

Each attempt has its own idempotency key (LetterRequest), and attempts only advance by an
applied event (a return, a correction), so retries, repeats and crashes post no letter twice."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import actors, clocks, gate
from workflows.case_file import WINDOW_CLOCKS, CaseFile, Delivery, address_key
from workflows.records import log, notify, record_event, show
from workflows.stages.notice import ROLES, public_notice
from workflows.stages.post import check_postal, letter_to, post_letter, record_postal

with workflow.unsafe.imports_passed_through():
    from activities.postal import PostalActivities
    from schemas.application import CaseType
    from schemas.clock import CHINA_TZ, china_text, today
    from schemas.delivery import LetterReturn
    from schemas.events import PostalEvent
    from schemas.steps import Recipient, Shipment
    from schemas.vocabulary import EventKind, Party, PostalStatus, ReturnReason
    from schemas.workdays import DayUnit

SETTLED = (PostalStatus.delivered, PostalStatus.returned)
# A courier that cannot answer is asked again at the next poll, not held up for.
TRACKING_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5)


async def deliver(case: CaseFile) -> None:
    for recipient in Recipient:
        case.deliveries[recipient] = Delivery()
    await asyncio.gather(*(deliver_to(case, recipient) for recipient in Recipient))


async def deliver_to(case: CaseFile, recipient: Recipient) -> None:
    track = case.deliveries[recipient]
    while True:
        shipment = await post_letter(case, recipient)
        track.waybill_no, track.posted_on = shipment.waybill_no, today()
        track.heard_at = workflow.now()
        # Tracking news may have come while the letter was being recorded; else a replayed
        # create may find it signed for or back already (a crash in between).
        back = any(r.waybill_no == shipment.waybill_no for r in track.returns)
        if shipment.status is PostalStatus.delivered and not track.delivered_on:
            assert shipment.delivered_at is not None
            track.delivered_on = shipment.delivered_at.astimezone(CHINA_TZ).date()
        elif shipment.status is PostalStatus.returned and not back:
            shipment.status = PostalStatus.accepted  # why it came back is read from its tracking
        await apply_early(case, shipment.waybill_no)
        await follow(case, track, shipment)
        if track.delivered_on is not None:
            break
        await returned(case, recipient, track)
        if len(track.returns) > 1 or not await another_address(case, recipient, track):
            await public_notice(case, recipient, track)
            break
    await open_window(case, recipient)


async def follow(case: CaseFile, track: Delivery, shipment: Shipment) -> None:
    """Wait for the letter to be signed for or returned; ask the courier after a silence."""
    while shipment.status not in SETTLED:
        if not await news(case, track, shipment):
            await poll(case, track, shipment.waybill_no)


async def news(case: CaseFile, track: Delivery, shipment: Shipment) -> bool:
    """True on tracking news (or a settled letter) within the polling interval."""
    assert case.policy is not None and track.heard_at is not None
    heard = track.heard_at
    quiet = heard + timedelta(hours=case.policy.tracking_poll_hours) - workflow.now()
    try:
        await workflow.wait_condition(
            lambda: shipment.status in SETTLED or track.heard_at != heard,
            timeout=max(quiet, timedelta(seconds=1)),
            timeout_summary=f"查询邮件轨迹 {shipment.waybill_no} (no tracking news: ask the courier)",
        )
    except TimeoutError:
        return False
    return True


async def poll(case: CaseFile, track: Delivery, waybill_no: str) -> None:
    try:
        events = await workflow.execute_activity_method(
            PostalActivities.track_shipment,
            waybill_no,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=TRACKING_RETRY,
            summary=f"查询邮件轨迹 {waybill_no} (tracking poll)",
        )
    except ActivityError as failure:
        log(case, "tracking poll failed", waybill_no=waybill_no, reason=str(failure.cause))
        events = []
    track.heard_at = workflow.now()  # the next poll is one interval later
    for event in sorted(events, key=lambda e: e.occurred_at):
        try:  # through the gate: an event already reported is a repeat, not applied again
            await gate.apply(case, event, check_postal, on_postal_event, actors.INTERNAL)
        except ApplicationError:
            log(case, "polled postal event refused", waybill_no=waybill_no)


async def apply_early(case: CaseFile, waybill_no: str) -> None:
    """Tracking events that overtook the activity that posted the letter."""
    early = [e for e in case.early_postal if e.waybill_no == waybill_no]
    case.early_postal = [e for e in case.early_postal if e.waybill_no != waybill_no]
    for event in sorted(early, key=lambda e: e.occurred_at):
        await on_postal_event(case, event)


def reason_text(code: str | None) -> str:
    """The courier's reason as people read it: a known code's label, else as given."""
    if not code:
        return "未说明原因 (no reason given)"
    return ReturnReason(code).label if code in set(ReturnReason) else code


async def on_postal_event(case: CaseFile, event: PostalEvent) -> str:
    """Apply a tracking event: its state changes at once, then it is recorded. A letter signed
    for or returned stays so: later, duplicated or out-of-order news changes nothing."""
    shipment = case.shipments.get(event.waybill_no)
    if shipment is None:  # it may overtake the activity that posted the letter: kept
        case.early_postal.append(event)
        log(case, "postal event for an unknown waybill kept", waybill_no=event.waybill_no)
        return f"postal event kept until waybill {event.waybill_no} is known"
    recipient = shipment.recipient
    track = case.deliveries[recipient]
    if shipment.status in SETTLED:
        return f"postal event {event.status.value} ignored: {event.waybill_no} is {shipment.status.value}"
    track.heard_at = workflow.now()
    shipment.status = event.status
    extra: dict[str, str | int | None] = {}
    if event.status is PostalStatus.delivered:
        shipment.delivered_at, shipment.signer = event.occurred_at, event.signer
        track.delivered_on = delivery_date(track, event)
        extra = {"recipient": recipient.value, "delivered_on": track.delivered_on.isoformat()}
    elif event.status is PostalStatus.returned:
        attempt = case.letter_attempts.get(recipient, 1)
        reason = reason_text(event.reason)
        returned_on = event.occurred_at.astimezone(CHINA_TZ).date()
        track.returns.append(
            LetterReturn(
                attempt=attempt, waybill_no=event.waybill_no, returned_on=returned_on, reason=reason
            )
        )
        track.returned_to[address_key(letter_to(case, recipient).address)] = reason
        extra = {"recipient": recipient.value, "attempt": attempt, "reason": reason}
    show(case)
    await record_postal(case, event, **extra)
    return f"postal event {event.status.value} recorded for {event.waybill_no}"


def delivery_date(track: Delivery, event: PostalEvent) -> date:
    signed = event.occurred_at.astimezone(CHINA_TZ).date()
    if track.posted_on is not None and track.posted_on <= signed <= today():
        return signed
    return today()  # not possible as reported: counted from the day the case learned it


async def returned(case: CaseFile, recipient: Recipient, track: Delivery) -> None:
    back = track.returns[-1]
    data = {"recipient": recipient.value, "attempt": back.attempt, "reason": back.reason}
    subject = (
        f"案件 {case.case_id} {ROLES[recipient]}结论书被退回: {back.reason} "
        "(a conclusion letter came back)"
    )
    await notify(
        case, f"letter.returned:{recipient.value}:{back.attempt}", Party.case_officer, subject, data
    )


async def another_address(case: CaseFile, recipient: Recipient, track: Delivery) -> bool:
    """After a first return: the party's other known address, else the office's correction
    within the policy's days. False: no address to try, go to public notice."""
    app = case.application
    party = app.worker if recipient is Recipient.worker else app.employer
    other = party.other_address
    if other is not None and address_key(other) not in track.returned_to:
        attempt = case.letter_attempts.get(recipient, 1) + 1
        case.addresses[recipient], case.letter_attempts[recipient] = other, attempt
        data = {"recipient": recipient.value, "attempt": attempt}
        key = f"address.other:{recipient.value}:{attempt}"
        await record_event(case, key, EventKind.address_other, "system", data)
        subject = f"案件 {case.case_id} 结论书改寄{ROLES[recipient]}另一已知地址 (the other known address is tried)"
        await notify(case, key, Party.case_officer, subject, data)
        show(case)
        return True
    assert case.policy is not None
    until = clocks.end_of(today() + timedelta(days=case.policy.address_correction_days))
    track.awaiting_until = until
    show(case)
    try:
        await workflow.wait_condition(
            lambda: track.awaiting_until is None,
            timeout=until - workflow.now(),
            timeout_summary=f"等待更正地址 {recipient.value} (else public notice, {china_text(until)})",
        )
        return True  # corrected: `correct_address` advanced the attempt
    except TimeoutError:
        track.awaiting_until = None
        return False


def has_window(case: CaseFile) -> bool:
    """再次鉴定的结论为最终结论: a re-appraisal's conclusion opens no dispute window."""
    return case.full_delivery and case.application.case_type is not CaseType.re_appraisal


async def open_window(case: CaseFile, recipient: Recipient) -> None:
    """The dispute window (申请再次鉴定期限) runs from this recipient's delivery date."""
    assert case.policy is not None
    if not has_window(case):
        return
    track = case.deliveries[recipient]
    assert track.delivered_on is not None
    window = await clocks.due(
        case, track.delivered_on, case.policy.dispute_window_days, DayUnit.calendar_days
    )
    track.window_end = window.due
    clocks.start_clock(case, WINDOW_CLOCKS[recipient], window, remind=False)


async def record_completed(case: CaseFile) -> None:
    await record_event(
        case,
        key="delivery.completed",
        kind=EventKind.delivery_completed,
        actor="system",
        data={
            r.value: {"delivered_on": str(t.delivered_on), "deemed": t.deemed}
            for r, t in case.deliveries.items()
        },
    )
