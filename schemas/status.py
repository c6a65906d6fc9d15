"""What the `status` query answers: where the case stands and what it waits for."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from schemas.application import AppraisalMode, CaseType, Jurisdiction
from schemas.outcome import Outcome
from schemas.steps import Panel, Shipment, Stage


class StageEntry(BaseModel):
    stage: Stage
    entered_at: datetime


class Deadline(BaseModel):
    name: str
    due_at: datetime
    seconds_left: float


class CaseStatus(BaseModel):
    case_id: str
    case_type: CaseType
    stage: Stage
    green_channel: bool
    mode: AppraisalMode
    jurisdiction: Jurisdiction
    stages: list[StageEntry] = Field(default_factory=list)
    pending_actions: list[str] = Field(default_factory=list)
    deadlines: list[Deadline] = Field(default_factory=list)
    panel: Panel | None = None
    opinions: dict[str, Outcome] = Field(default_factory=dict)
    panel_majority: Outcome | None = None
    conclusion: Outcome | None = None
    shipments: list[Shipment] = Field(default_factory=list)
    closed_reason: str | None = None
    archive_sha256: str | None = None
