"""Stage 4, delivery (结论送达): EMS letters to worker and employer, a copy to the benefits agency.

The delivery date is the date signed for on the EMS receipt, reported by the postal service
as a `postal_event` signal. Returned letters and public notice come with a later issue."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows import clocks
from workflows.case_file import CaseFile
from workflows.records import enter_stage, log, record_event, send_notice, show

with workflow.unsafe.imports_passed_through():
    from activities.postal import PostalActivities
    from schemas.events import PostalEvent, PostalStatus
    from schemas.steps import LetterRequest, Recipient, Shipment, Stage
    from schemas.workdays import DayUnit

# A courier outage is waited out (retries up to every 5 minutes); a rejected letter is not.
POSTAL_RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["PostalRejected", "PostalConflict"],
)


def letters(case: CaseFile) -> list[LetterRequest]:
    app = case.application
    assert case.conclusion_document is not None
    document = case.conclusion_document
    return [
        LetterRequest(
            case_id=case.case_id,
            stage=Stage.delivery,
            recipient=Recipient.worker,
            name=app.worker.name,
            mobile=app.worker.mobile,
            address=app.worker.address,
            document_ref=document,
        ),
        LetterRequest(
            case_id=case.case_id,
            stage=Stage.delivery,
            recipient=Recipient.employer,
            name=app.employer.name,
            mobile=app.employer.contact_mobile,
            address=app.employer.address,
            document_ref=document,
        ),
    ]


async def post_letter(case: CaseFile, letter: LetterRequest) -> Shipment:
    shipment = await workflow.execute_activity_method(
        PostalActivities.send_letter,
        letter,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=POSTAL_RETRY,
    )
    await record_event(
        case,
        key=f"letter.sent:{letter.recipient.value}",
        kind="letter.sent",
        actor="system",
        data={"recipient": letter.recipient.value, "waybill_no": shipment.waybill_no},
    )
    return shipment


def apply_postal(case: CaseFile, event: PostalEvent) -> bool:
    """Update the shipment the event is about; False when no such letter was sent (yet)."""
    shipment = case.shipments.get(event.waybill_no)
    if shipment is None:
        return False
    if shipment.status != PostalStatus.delivered.value:  # a late in-transit never undoes it
        shipment.status = event.status.value
    if event.status is PostalStatus.delivered:
        shipment.delivered_at = event.occurred_at
        shipment.signer = event.signer
    return True


async def on_postal_event(case: CaseFile, event: PostalEvent) -> None:
    if event.event_id in case.seen_events:
        return
    case.seen_events.add(event.event_id)
    if not apply_postal(case, event):
        # The tracking event may overtake the activity that sent the letter: keep it.
        case.early_postal.append(event)
        log(case, "postal event for an unknown waybill kept", waybill_no=event.waybill_no)
        return
    await record_event(
        case,
        key=f"postal:{event.event_id}",
        kind=f"postal.{event.status.value}",
        actor=event.actor,
        data={"waybill_no": event.waybill_no, "occurred_at": event.occurred_at.isoformat()},
    )
    show(case)


async def run(case: CaseFile) -> None:
    await enter_stage(case, Stage.delivery)
    assert case.conclusion is not None
    await send_notice(case, "benefits_agency.copy")  # queued when the conclusion was issued
    shipments = await asyncio.gather(*(post_letter(case, letter) for letter in letters(case)))
    for shipment in shipments:
        case.shipments[shipment.waybill_no] = shipment
    early, case.early_postal = case.early_postal, []
    for event in early:
        case.seen_events.discard(event.event_id)
        await on_postal_event(case, event)
    show(case)
    # Delivered = signed for on the EMS receipt, within 15 days of the conclusion.
    assert case.policy is not None and case.concluded_on is not None
    limit = await clocks.due(case.concluded_on, case.policy.delivery_days, DayUnit.calendar_days)
    clocks.start_clock(case, "delivery", limit.due)
    await clocks.watch(case, "delivery", lambda: case.all_delivered, detail="结论书未送达")
    await record_event(
        case,
        key="delivery.completed",
        kind="delivery.completed",
        actor="system",
        data={s.recipient.value: str(s.delivered_at) for s in case.shipments.values()},
    )
