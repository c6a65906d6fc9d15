"""Payloads of signals and updates. Every event names its sender and carries an id so that a
repeated delivery is recognised and ignored."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.application import Address, Material, MaterialKind
from schemas.outcome import Outcome
from schemas.printable import Printable
from schemas.steps import Recipient, RecusalParty
from schemas.strict import Day, Lines, Moment, OneLine, Reason, YesNo
from schemas.vocabulary import PostalStatus

__all__ = ["PostalStatus", "Reason"]  # re-exported: the postal event's vocabulary, the reason

# Text is OneLine or Lines (line feeds allowed): no control or bidi characters (schemas/strict.py).
# `\w` would take the zero-width joiners, hence OneLine on the id too.
EventId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[\w.:-]+$"), OneLine]
# Roles, not people: refused as the actor of a sign-off (issue #8), which names who signed.
GENERIC_ACTORS = frozenset(
    {
        "clerk",
        "reviewer",
        "system",
        "operator",
        "admin",
        "staff",
        "user",
        "committee",
        "panel",
        "director",
    }
)


class CaseEvent(BaseModel):
    # hide_input_in_errors: a refused payload's message never repeats personal data.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)

    event_id: EventId = Field(description="unique per event; a repeat with the same id is ignored")
    actor: Annotated[str, Field(min_length=1, max_length=80, description="who reports it"), OneLine]


class ExpertOpinion(CaseEvent):
    """An expert's opinion entered at the appraisal site (update `record_opinion`)."""

    expert_id: Annotated[str, Field(min_length=1, max_length=40), OneLine]
    outcome: Outcome
    remarks: Annotated[str, Field(max_length=1000), Lines] | None = None


class ConclusionDecision(CaseEvent):
    """The committee issues the conclusion (update `issue_conclusion`)."""

    outcome: Outcome
    basis: Annotated[str, Field(min_length=2, max_length=200), OneLine] | None = Field(
        default=None,
        description="the standard applied; default: the standard of the case's scale "
        "(GB/T 16180-2014 for work injury, 劳社部发〔2002〕8号 for illness)",
    )
    # Optional for the payloads of cases decided before them; required by the conclusion
    # stage's check (workflows/stages/conclusion.py) in cases under the Jining rules.
    findings: Annotated[str, Printable, Field(min_length=2, max_length=500)] | None = Field(
        default=None,
        description="伤情/病情: the site and degree of organ impairment as the panel found it "
        "(printed on the letter, not the applicant's account)",
    )
    clause: Annotated[str, Printable, Field(min_length=1, max_length=100)] | None = Field(
        default=None,
        description="the grading clause applied, e.g. 5.9.2.3 (of GB/T 16180-2014) or the "
        "illness standard's item; printed with the basis",
    )


class PostalEvent(CaseEvent):
    """A tracking event from the postal service (signal `postal_event`)."""

    waybill_no: Annotated[str, Field(min_length=4, max_length=40), OneLine]
    status: PostalStatus
    occurred_at: Moment
    signer: Annotated[str, Field(max_length=40), OneLine] | None = None
    reason: Annotated[str, Field(max_length=200), OneLine] | None = None


def event_key(kind: str, event: CaseEvent) -> str:
    return f"{kind}:{event.event_id}"


class SupplementItem(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)

    kind: MaterialKind
    note: Annotated[str, Field(max_length=200), Lines] | None = Field(
        default=None, description="what exactly is missing"
    )


class SupplementNotice(CaseEvent):
    """The one-time notice listing everything missing (update `issue_supplement_notice`)."""

    items: list[SupplementItem] = Field(min_length=1)


class MaterialsSupplemented(CaseEvent):
    """Materials handed in after the notice (signal `materials_supplemented`)."""

    materials: list[Material] = Field(min_length=1)


class SupplementExtension(CaseEvent):
    """A good reason recorded for more time to supplement (update `extend_supplement_deadline`)."""

    reason: Reason
    until: Day


class PanelRedraw(CaseEvent):
    """Draw again after the pool was extended (update `redraw_panel`)."""

    reason: Reason


class ScheduleAppraisal(CaseEvent):
    """A clerk books the appraisal (update `schedule_appraisal`): a session, or a time."""

    session_id: Annotated[str, Field(max_length=60), OneLine] | None = None
    at: Moment | None = None
    place: Annotated[str, Field(max_length=200), OneLine] | None = None


class Reschedule(ScheduleAppraisal):
    """A granted request to move the appraisal (update `reschedule`); the conclusion
    deadline moves by the same delay."""

    reason: Reason


class Attendance(StrEnum):
    attended = "attended"
    no_show = "no_show"


class AttendanceRecord(CaseEvent):
    """At the appraisal (update `record_attendance`)."""

    status: Attendance
    identity_verified: YesNo = False
    good_reason: Annotated[str, Field(max_length=500), Lines] | None = None


class ExaminationOrder(CaseEvent):
    """The panel commissions examinations from a hospital (update `commission_examination`)."""

    hospital: Annotated[str, Field(min_length=2, max_length=100), OneLine]
    items: list[Annotated[str, Field(min_length=1, max_length=100), OneLine]] = Field(min_length=1)


class ExaminationResults(CaseEvent):
    """The hospital reports (signal `examination_results`)."""

    summary: Annotated[str, Field(min_length=1, max_length=2000), Lines]
    # Set by the gateway to the reporting hospital's registered name: results are taken only
    # from the hospital the panel commissioned. None: entered by the office from paper.
    hospital: Annotated[str, Field(min_length=2, max_length=100), OneLine] | None = None


class ExaminationRefusal(CaseEvent):
    """The worker refuses the commissioned examinations (update `record_examination_refusal`)."""

    reason: Reason


class ReviewLayer(StrEnum):
    """The three review groups at the site, in the order they sign off."""

    examination = "examination"  # 面检组
    chief_examination = "chief_examination"  # 总检组
    recheck = "recheck"  # 复核组


REVIEW_LABELS = {
    ReviewLayer.examination: "面检组",
    ReviewLayer.chief_examination: "总检组",
    ReviewLayer.recheck: "复核组",
}


class ReviewSignoff(CaseEvent):
    """A review group signs off, or sends the case back with a reason (update `sign_off_review`)."""

    layer: ReviewLayer
    approve: YesNo
    reason: Annotated[str, Field(max_length=500), Lines] | None = None
    # The actor is the signer's staff id; the name is printed on the letter (kept out of the
    # event log). Optional for old payloads; required for a sign-off under the Jining rules.
    signer: Annotated[str, Printable, Field(min_length=2, max_length=40)] | None = Field(
        default=None, description="the name of the group member who signs"
    )


class ConclusionExtension(CaseEvent):
    """The one 30-day extension of the legal limit, for a complex case
    (update `extend_conclusion_deadline`)."""

    reason: Reason


class ReAppraisalRequest(CaseEvent):
    """A party disputes the conclusion (申请再次鉴定) within the dispute window (update
    `request_re_appraisal`): the city records it and refers it to the provincial committee."""

    requested_by: Recipient = Field(description="worker or employer: whose window applies")
    received_on: Day | None = Field(
        default=None, description="date the committee received the request (default: today)"
    )
    posted_on: Day | None = Field(
        default=None, description="邮戳日期 of a mailed request: in time when posted in time"
    )
    reason: Reason


class AddressCorrection(CaseEvent):
    """The office corrects a recipient's address after the courier refused the letter
    (update `correct_address`); the letter is posted again under a new waybill."""

    recipient: Recipient
    address: Address
    reason: Reason


class RecusalRequest(CaseEvent):
    """A party asks for a panel expert's recusal (回避), with a reason (update
    `request_recusal`): that seat is drawn again, the recused expert excluded."""

    expert_id: Annotated[str, Field(min_length=1, max_length=40), OneLine]
    requested_by: RecusalParty
    reason: Reason
