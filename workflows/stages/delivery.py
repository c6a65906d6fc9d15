"""Stage 4, delivery (结论送达): EMS letters to worker and employer, a copy to the benefits agency.

The delivery date is the date signed for on the EMS receipt, reported by the postal service
(the `postal_event` signal, or found by a tracking poll). Cases under delivery in full
(patches.FULL_DELIVERY) follow each recipient's letter through returns, the other known
address and public notice (workflows/stages/letters.py); older cases wait for both letters to
be signed for, as they did."""

from __future__ import annotations

import asyncio

from temporalio import workflow

from workflows import clocks
from workflows.case_file import CaseFile, address_key
from workflows.records import enter_stage, log, moved_on, record_event, send_notice, show
from workflows.stages import letters, notice
from workflows.stages.post import check_postal as check_postal  # the gate's rule, shared
from workflows.stages.post import post_letter, record_postal

with workflow.unsafe.imports_passed_through():
    from schemas.events import AddressCorrection, PostalEvent
    from schemas.steps import Recipient, Stage
    from schemas.vocabulary import ClockName, EventKind, PostalStatus
    from schemas.workdays import DayUnit


def check_address(case: CaseFile, correction: AddressCorrection) -> None:
    recipient = correction.recipient
    if recipient in case.rejected:
        return
    track = case.deliveries.get(recipient)
    if not case.full_delivery or track is None or track.awaiting_until is None:
        raise ValueError(
            f"{recipient.value} 的结论书未被拒收, 无需更正地址 "
            "(only the address of a letter the courier refused can be corrected)"
            if not case.full_delivery
            else f"{recipient.value} 的结论书未被拒收或退回, 无需更正地址 (only the address of a "
            "letter the courier refused, or that came back, can be corrected)"
        )
    if (why := track.returned_to.get(address_key(correction.address))) is not None:
        raise ValueError(
            f"寄往该地址的结论书已被退回 ({why}), 不再寄往同一地址 (a letter to this address "
            "came back already: give another address)"
        )


async def correct_address(case: CaseFile, correction: AddressCorrection) -> str:
    recipient = correction.recipient
    attempt = case.letter_attempts.get(recipient, 1) + 1
    returned = recipient not in case.rejected  # else the courier refused to take it
    data = {"recipient": recipient.value, "reason": correction.reason, "attempt": attempt}
    if case.full_delivery:
        # Changed before anything awaits, so the wait for a correction and its timeout
        # never both act (letters.py).
        use_address(case, correction, attempt)
    key = f"address.corrected:{correction.event_id}"
    await record_event(
        case,
        key,
        EventKind.address_corrected,  # the address itself stays out of the log
        correction.actor,
        {**data, "after": "returned"} if returned else data,
    )
    if not case.full_delivery:  # as before: posted again once the correction is recorded
        use_address(case, correction, attempt)
    show(case)
    return f"address corrected: the letter to {recipient.value} is posted again (attempt {attempt})"


def use_address(case: CaseFile, correction: AddressCorrection, attempt: int) -> None:
    recipient = correction.recipient
    case.addresses[recipient] = correction.address
    case.letter_attempts[recipient] = attempt
    if recipient in case.rejected:
        del case.rejected[recipient]
    else:
        case.deliveries[recipient].awaiting_until = None


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


async def on_postal_event(case: CaseFile, event: PostalEvent) -> str:
    if case.full_delivery:
        answer = await letters.on_postal_event(case, event)
        if len(case.deliveries) == len(Recipient) and all(
            track.delivered_on is not None for track in case.deliveries.values()
        ):  # the last letter delivered: answered once the dispute window opened
            await moved_on(case, Stage.delivery)
        return answer
    if not apply_postal(case, event):
        # The tracking event may overtake the activity that sent the letter: keep it.
        case.early_postal.append(event)
        log(case, "postal event for an unknown waybill kept", waybill_no=event.waybill_no)
        return f"postal event kept until waybill {event.waybill_no} is known"
    await record_postal(case, event)
    show(case)
    return f"postal event {event.status.value} recorded for {event.waybill_no}"


async def run(case: CaseFile) -> None:
    await enter_stage(case, Stage.delivery)
    assert case.conclusion is not None
    await send_notice(case, "benefits_agency.copy")  # queued when the conclusion was issued
    if case.full_delivery:  # each recipient's letter followed to its delivery date
        await start_delivery_clock(case)
        watching = asyncio.create_task(watch_delivery(case, lambda: notice.breach(case)))
        await letters.deliver(case)
        await watching
        await letters.record_completed(case)
        return
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
    limit = await clocks.due(
        case, case.concluded_on, case.policy.delivery_days, DayUnit.calendar_days
    )
    clocks.start_clock(case, ClockName.delivery, limit)


async def watch_delivery(case: CaseFile, detail: clocks.Detail = "结论书未送达") -> bool:
    done = (lambda: case.delivered_everywhere) if case.full_delivery else lambda: case.all_delivered
    return await clocks.watch(case, ClockName.delivery, done, detail=detail)
