"""Payloads of signals and updates. Every event names its sender and carries an id so that a
repeated delivery is recognised and ignored."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.outcome import Outcome

EventId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[\w.:-]+$")]


class CaseEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: EventId = Field(description="unique per event; a repeat with the same id is ignored")
    actor: Annotated[str, Field(min_length=1, max_length=80, description="who reports it")]


class ExpertOpinion(CaseEvent):
    """An expert's opinion entered at the appraisal site (update `record_opinion`)."""

    expert_id: Annotated[str, Field(min_length=1, max_length=40)]
    outcome: Outcome
    remarks: str | None = Field(default=None, max_length=1000)


class ConclusionDecision(CaseEvent):
    """The committee issues the conclusion (update `issue_conclusion`)."""

    outcome: Outcome
    basis: Annotated[str, Field(min_length=2, max_length=200)] = "GB/T 16180-2014"


class PostalStatus(StrEnum):
    accepted = "accepted"  # 收寄
    in_transit = "in_transit"
    delivered = "delivered"  # 签收
    returned = "returned"  # 退回


class PostalEvent(CaseEvent):
    """A tracking event from the postal service (signal `postal_event`)."""

    waybill_no: Annotated[str, Field(min_length=4, max_length=40)]
    status: PostalStatus
    occurred_at: AwareDatetime
    signer: str | None = Field(default=None, max_length=40)
    reason: str | None = Field(default=None, max_length=200)


def event_key(kind: str, event: CaseEvent) -> str:
    return f"{kind}:{event.event_id}"
