"""Delivery in full (结论送达): one recipient's letter as the status shows it, the public
notice (公告送达) and what the notice activity needs to publish one."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, Field

from schemas.steps import CaseStep, Recipient

PUBLIC_NOTICE = "public-notice"  # the `kind` of a published notice, one per recipient


class NoticeRequest(CaseStep):
    """Publish the notice of one recipient's conclusion letter; the same request publishes
    once (the document id is the key)."""

    recipient: Recipient
    recipient_name: str = Field(repr=False)
    concluded_on: date
    conclusion_document: str
    returns: list[str] = Field(description="why each letter came back, in order")
    published_at: AwareDatetime
    deemed_delivered_on: date
    days: int = Field(ge=1, description="the policy's public notice period")
    dispute_window_days: int = Field(ge=1, description="the policy's dispute window")

    @property
    def document_id(self) -> str:
        return f"{self.case_id}/{PUBLIC_NOTICE}-{self.recipient.value}"


class PublicNotice(BaseModel):
    """The publication record: where, when, the text (stored as a document with its SHA-256),
    and the day the letter is deemed delivered."""

    recipient: Recipient
    place: str
    published_at: datetime
    deemed_delivered_on: date
    document_id: str
    sha256: str
    text: str


class LetterReturn(BaseModel):
    """A letter that came back: to which address attempt, when, why."""

    attempt: int
    waybill_no: str
    returned_on: date
    reason: str


class DeliveryState(BaseModel):
    """One recipient's letter: delivered (signed for, or deemed after public notice), in the
    post, back and waiting for an address, or under public notice."""

    recipient: Recipient
    attempt: int = 1
    waybill_no: str | None = None
    returns: list[LetterReturn] = Field(default_factory=list)
    awaiting_address_until: datetime | None = None  # then public notice
    public_notice: PublicNotice | None = None
    delivered_on: date | None = None  # the date signed for, or deemed delivered
    deemed: bool = False
    dispute_window_ends: date | None = None
