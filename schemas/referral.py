"""A re-appraisal request referred to the provincial committee (再次鉴定): the city's file by
reference, and what the provincial case (workflow `ProvincialReferral`) answers."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, Field

from schemas.application import CaseType
from schemas.events import CaseEvent, ReAppraisalRequest
from schemas.outcome import Outcome
from schemas.steps import Recipient

PROVINCE_SUFFIX = (
    "-SD"  # 山东: the provincial case of city case JN-2026-000001 is JN-2026-000001-SD
)


def referral_id(case_id: str) -> str:
    return f"{case_id}{PROVINCE_SUFFIX}"


class ReferralFile(BaseModel):
    """The city's case by reference: the province reads the file from the city's archive and
    checks the letter against its SHA-256."""

    city_case_id: str
    case_type: CaseType
    conclusion: Outcome
    concluded_on: date
    conclusion_document: str
    conclusion_sha256: str
    delivered_on: dict[Recipient, date] = Field(description="each party's delivery date so far")
    window_ends: dict[Recipient, date] = Field(description="each party's dispute window")
    request: ReAppraisalRequest
    referred_at: AwareDatetime


class ProvincialConclusion(CaseEvent):
    """The provincial committee's conclusion on the re-appraisal (final)."""

    outcome: Outcome
    document: str | None = Field(default=None, max_length=200, description="its letter's id")


class ReferralStatus(BaseModel):
    referral_id: str
    file: ReferralFile
    requests: list[ReAppraisalRequest]
    conclusion: Outcome | None = None
    concluded_at: datetime | None = None
