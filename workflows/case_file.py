"""The state of one case inside its workflow, and what the `status` query makes of it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.application import AppraisalApplication
    from schemas.events import PostalEvent
    from schemas.outcome import Outcome
    from schemas.status import CaseStatus, StageEntry
    from schemas.steps import Panel, Shipment, Stage


def majority(opinions: list[Outcome]) -> Outcome | None:
    """少数服从多数: the outcome more than half the panel gave, or None (no tie-break exists)."""
    if not opinions:
        return None
    outcome, votes = Counter(opinions).most_common(1)[0]
    return outcome if votes * 2 > len(opinions) else None


@dataclass
class CaseFile:
    case_id: str
    application: AppraisalApplication
    received_at: datetime
    stage: Stage = Stage.acceptance
    stages: list[StageEntry] = field(default_factory=list)
    panel: Panel | None = None
    opinions: dict[str, Outcome] = field(default_factory=dict)
    decision_id: str | None = None  # the event that issued the conclusion
    conclusion: Outcome | None = None
    shipments: dict[str, Shipment] = field(default_factory=dict)  # by waybill number
    seen_events: set[str] = field(default_factory=set)
    early_postal: list[PostalEvent] = field(default_factory=list)
    closed_reason: str | None = None
    archive_sha256: str | None = None

    @property
    def panel_ids(self) -> list[str]:
        return [m.expert_id for m in self.panel.members] if self.panel else []

    @property
    def panel_majority(self) -> Outcome | None:
        if not self.panel or len(self.opinions) < len(self.panel.members):
            return None
        return majority(list(self.opinions.values()))

    @property
    def all_delivered(self) -> bool:
        return bool(self.shipments) and all(
            s.status == "delivered" for s in self.shipments.values()
        )

    def pending_actions(self) -> list[str]:
        if self.stage is Stage.conclusion and self.conclusion is None:
            missing = [e for e in self.panel_ids if e not in self.opinions]
            if missing:
                return [f"record_opinion from {e}" for e in missing]
            if self.panel_majority is None:
                return ["panel deliberation: no majority yet"]
            return ["issue_conclusion"]
        if self.stage is Stage.delivery:
            return [
                f"postal_event delivered for {s.waybill_no} ({s.recipient.value})"
                for s in self.shipments.values()
                if s.status != "delivered"
            ]
        return []

    def status(self) -> CaseStatus:
        app = self.application
        return CaseStatus(
            case_id=self.case_id,
            case_type=app.case_type,
            stage=self.stage,
            green_channel=app.green_channel,
            mode=app.mode,
            jurisdiction=app.jurisdiction,
            stages=list(self.stages),
            pending_actions=self.pending_actions(),
            panel=self.panel,
            opinions=dict(self.opinions),
            panel_majority=self.panel_majority,
            conclusion=self.conclusion,
            shipments=list(self.shipments.values()),
            closed_reason=self.closed_reason,
            archive_sha256=self.archive_sha256,
        )
