"""Stage 4, delivery (结论送达): EMS letters to worker and employer, a copy to the benefits agency.

The delivery date is the date signed for on the EMS receipt, reported by the postal service
as a `postal_event` signal. A letter the courier refuses to take (a 4xx: an address it cannot
serve, a conflicting request) never fails the case: it is recorded, the supervisor is told,
and the case waits for the office to correct the address (`correct_address`), then posts the
letter again under a new idempotency key. Returned letters and public notice come with a
later issue."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows import clocks
from workflows.case_file import CaseFile
from workflows.records import enter_stage, log, notify, record_event, send_notice, show

with workflow.unsafe.imports_passed_through():
    from activities.postal import PostalActivities
    from schemas.events import AddressCorrection, PostalEvent
    from schemas.steps import LetterRequest, Recipient, Shipment, Stage
    from schemas.vocabulary import ClockName, EventKind, Party, PostalStatus
    from schemas.workdays import DayUnit

# A courier outage is waited out (retries up to every 5 minutes); a refused letter is not.
COURIER_REFUSALS = ["PostalRejected", "PostalConflict"]
POSTAL_RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=5), non_retryable_error_types=COURIER_REFUSALS
)
POSTAL_KINDS = {
    PostalStatus.accepted: EventKind.postal_accepted,
    PostalStatus.in_transit: EventKind.postal_in_transit,
    PostalStatus.delivered: EventKind.postal_delivered,
    PostalStatus.returned: EventKind.postal_returned,
}


def letter_to(case: CaseFile, recipient: Recipient) -> LetterRequest:
    app = case.application
    assert case.conclusion_document is not None
    name, mobile, address = (
        (app.worker.name, app.worker.mobile, app.worker.address)
        if recipient is Recipient.worker
        else (app.employer.name, app.employer.contact_mobile, app.employer.address)
    )
    return LetterRequest(
        case_id=case.case_id,
        stage=Stage.delivery,
        recipient=recipient,
        name=name,
        mobile=mobile,
        address=case.addresses.get(recipient, address),
        document_ref=case.conclusion_document,
        attempt=case.letter_attempts.get(recipient, 1),
    )


async def send(letter: LetterRequest) -> Shipment:
    return await workflow.execute_activity_method(
        PostalActivities.send_letter,
        letter,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=POSTAL_RETRY,
        summary=f"寄送结论书 → {letter.recipient.value} (attempt {letter.attempt})",
    )


async def post_letter(case: CaseFile, recipient: Recipient) -> Shipment:
    """Post one letter; a courier refusal waits for a corrected address, then posts again."""
    while True:
        letter = letter_to(case, recipient)
        try:
            shipment = await send(letter)
            break
        except ActivityError as failure:
            cause = failure.cause
            if not case.hardened or not (
                isinstance(cause, ApplicationError) and cause.type in COURIER_REFUSALS
            ):
                raise
            await courier_refused(case, letter, cause.message)
    case.shipments[shipment.waybill_no] = shipment
    await record_event(
        case,
        key=f"letter.sent:{recipient.value}"
        + ("" if letter.attempt == 1 else f":{letter.attempt}"),
        kind=EventKind.letter_sent,
        actor="system",
        data={"recipient": recipient.value, "waybill_no": shipment.waybill_no},
    )
    return shipment


async def courier_refused(case: CaseFile, letter: LetterRequest, reason: str) -> None:
    recipient = letter.recipient
    key = f"letter.rejected:{recipient.value}:{letter.attempt}"
    data = {"recipient": recipient.value, "attempt": letter.attempt, "reason": reason}
    await record_event(case, key, EventKind.letter_rejected, "system", data)
    subject = f"案件 {case.case_id} 结论书快递拒收, 请核对地址 (the courier refused a letter)"
    await notify(case, key, Party.supervisor, subject, data)
    case.rejected[recipient] = reason  # pending once recorded and escalated
    show(case)
    await workflow.wait_condition(lambda: recipient not in case.rejected)


def check_address(case: CaseFile, correction: AddressCorrection) -> None:
    if correction.recipient not in case.rejected:
        raise ValueError(
            f"{correction.recipient.value} 的结论书未被拒收, 无需更正地址 "
            "(only the address of a letter the courier refused can be corrected)"
        )


async def correct_address(case: CaseFile, correction: AddressCorrection) -> str:
    recipient = correction.recipient
    attempt = case.letter_attempts.get(recipient, 1) + 1
    await record_event(
        case,
        f"address.corrected:{correction.event_id}",
        EventKind.address_corrected,  # the address itself stays out of the log
        correction.actor,
        {"recipient": recipient.value, "reason": correction.reason, "attempt": attempt},
    )
    case.addresses[recipient] = correction.address
    case.letter_attempts[recipient] = attempt
    del case.rejected[recipient]
    show(case)
    return f"address corrected: the letter to {recipient.value} is posted again (attempt {attempt})"


def apply_postal(case: CaseFile, event: PostalEvent) -> bool:
    """Update the shipment the event is about; False when no such letter was sent (yet)."""
    shipment = case.shipments.get(event.waybill_no)
    if shipment is None:
        return False
    if shipment.status is not PostalStatus.delivered:  # a late in-transit never undoes it
        shipment.status = event.status
    if event.status is PostalStatus.delivered:
        shipment.delivered_at = event.occurred_at
        shipment.signer = event.signer
    return True


def check_postal(case: CaseFile, event: PostalEvent) -> None:
    # Cases from before the hardening kept any postal event (the gate's legacy path).
    if case.hardened and (case.conclusion_document is None or case.closed is not None):
        raise ValueError("本案尚未寄出结论书 (no conclusion letter of this case is in the post)")


async def on_postal_event(case: CaseFile, event: PostalEvent) -> str:
    if not apply_postal(case, event):
        # The tracking event may overtake the activity that sent the letter: keep it.
        case.early_postal.append(event)
        log(case, "postal event for an unknown waybill kept", waybill_no=event.waybill_no)
        return f"postal event kept until waybill {event.waybill_no} is known"
    await record_postal(case, event)
    show(case)
    return f"postal event {event.status.value} recorded for {event.waybill_no}"


async def record_postal(case: CaseFile, event: PostalEvent) -> None:
    await record_event(
        case,
        key=f"postal:{event.event_id}",
        kind=POSTAL_KINDS[event.status],
        actor=event.actor,
        data={"waybill_no": event.waybill_no, "occurred_at": event.occurred_at.isoformat()},
    )


async def run(case: CaseFile) -> None:
    await enter_stage(case, Stage.delivery)
    assert case.conclusion is not None
    await send_notice(case, "benefits_agency.copy")  # queued when the conclusion was issued
    if not case.hardened:  # before the hardening the delivery clock started after posting
        await post_letters(case)
        await start_delivery_clock(case)
        await watch_delivery(case)
    else:  # the clock runs while a refused letter waits for its address
        await start_delivery_clock(case)
        watching = asyncio.create_task(watch_delivery(case))
        await post_letters(case)
        await watching
    await record_event(
        case,
        key="delivery.completed",
        kind=EventKind.delivery_completed,
        actor="system",
        data={s.recipient.value: str(s.delivered_at) for s in case.shipments.values()},
    )


async def post_letters(case: CaseFile) -> None:
    await asyncio.gather(*(post_letter(case, r) for r in Recipient))
    early, case.early_postal = case.early_postal, []
    for event in early:
        if apply_postal(case, event):
            await record_postal(case, event)
    show(case)


async def start_delivery_clock(case: CaseFile) -> None:
    """Delivered = signed for on the EMS receipt, within 15 days of the conclusion."""
    assert case.policy is not None and case.concluded_on is not None
    limit = await clocks.due(case.concluded_on, case.policy.delivery_days, DayUnit.calendar_days)
    clocks.start_clock(case, ClockName.delivery, limit)


async def watch_delivery(case: CaseFile) -> None:
    await clocks.watch(case, ClockName.delivery, lambda: case.all_delivered, detail="结论书未送达")
