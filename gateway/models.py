"""What other systems send and get back. The sender is never taken from the body: it is the
authenticated client (or, for postal webhooks, the courier that signed)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import PostalStatus, Reason
from schemas.ledger import Advance, EntryFields
from schemas.steps import Recipient
from schemas.strict import Day, Lines, Moment, OneLine, Scrubbed

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)
# The client's own id for the event: a repeat with the same id is the same event. It is sent
# to the case as "<client id>:<event id>", so two clients never collide.
ClientEventId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=40,
        pattern=r"^[\w.-]+$",
        description="your id for this event; repeat it to retry safely",
    ),
    OneLine,
]
CaseId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._:-]+$"), OneLine]


class CaseAnswer(BaseModel):
    case_id: str
    event_id: str = Field(description="the event id as the case knows it")
    answer: str = Field(description="the case's answer")


class PostalWebhook(BaseModel):
    """A courier's tracking event (the body the courier signs)."""

    # Fields the courier adds later are ignored, not refused: its format is not ours.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, hide_input_in_errors=True)

    event_id: Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[\w.:-]+$"), OneLine]
    reference: CaseId = Field(description="our case id, given with the shipment")
    waybill_no: Annotated[str, Field(min_length=4, max_length=40), OneLine]
    status: PostalStatus
    occurred_at: Moment
    signer: Annotated[str, Scrubbed, Field(max_length=40)] | None = None
    reason: Annotated[str, Scrubbed, Field(max_length=200)] | None = None


class ExaminationResultsIn(BaseModel):
    """A hospital's results of the examinations the panel commissioned."""

    model_config = STRICT
    event_id: ClientEventId
    summary: Annotated[str, Field(min_length=1, max_length=2000), Lines]


class ReAppraisalIn(BaseModel):
    """A party's request for re-appraisal (再次鉴定), as the committee received it."""

    model_config = STRICT
    event_id: ClientEventId
    requested_by: Recipient = Field(description="worker or employer: whose window applies")
    received_on: Day | None = None
    posted_on: Day | None = Field(default=None, description="邮戳日期 of a mailed request")
    reason: Reason


class LedgerEntryIn(EntryFields):
    """A hard question (疑难问题) for the ledger; it starts in `before` (prevention)."""

    event_id: ClientEventId


class LedgerAdvanceIn(Advance):
    """An entry's next step: during (explanation), after (follow-up), closed (done)."""

    event_id: ClientEventId
