"""Posting a conclusion letter and keeping the courier's tracking events, for both delivery
paths (workflows/stages/delivery.py, letters.py).

A letter the courier refuses to take (a 4xx: an address it cannot serve, a conflicting
request) never fails the case: it is recorded, the supervisor is told, and the case waits for
the office to correct the address (`correct_address`), then posts the letter again under a new
idempotency key (one per recipient and attempt)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.case_file import CaseFile
from workflows.records import notify, record_event, show

with workflow.unsafe.imports_passed_through():
    from activities.postal import PostalActivities
    from schemas.events import PostalEvent
    from schemas.steps import LetterRequest, Recipient, Shipment, Stage
    from schemas.vocabulary import EventKind, Party, PostalStatus

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


def check_postal(case: CaseFile, event: PostalEvent) -> None:
    # Cases from before the hardening kept any postal event (the gate's legacy path).
    if case.hardened and (case.conclusion_document is None or case.closed is not None):
        raise ValueError("本案尚未寄出结论书 (no conclusion letter of this case is in the post)")


async def record_postal(case: CaseFile, event: PostalEvent, **extra: str | int | None) -> None:
    data = {"waybill_no": event.waybill_no, "occurred_at": event.occurred_at.isoformat()}
    await record_event(
        case,
        key=f"postal:{event.event_id}",
        kind=POSTAL_KINDS[event.status],
        actor=event.actor,
        data={**data, **{k: v for k, v in extra.items() if v is not None}},
    )
