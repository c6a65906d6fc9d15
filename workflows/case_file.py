"""The state of one case inside its workflow, and what the `status` query makes of it."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.application import AppraisalApplication, Material, MaterialKind
    from schemas.events import (
        AttendanceRecord,
        ExaminationOrder,
        PostalEvent,
        ReviewLayer,
        ReviewSignoff,
        SupplementNotice,
    )
    from schemas.outcome import Outcome
    from schemas.policy import DeadlinePolicy
    from schemas.status import CaseStatus, Deadline, StageEntry
    from schemas.steps import Appointment, Panel, Shipment, Stage


def majority(opinions: list[Outcome]) -> Outcome | None:
    """少数服从多数: the outcome more than half the panel gave, or None (no tie-break exists)."""
    if not opinions:
        return None
    outcome, votes = Counter(opinions).most_common(1)[0]
    return outcome if votes * 2 > len(opinions) else None


CONCLUSION = "conclusion"  # the legal limit: 60 days from the complete application
GREEN_CONCLUSION = "green_conclusion"  # the green channel's shorter internal clock
SITE_PROMISE = "site_promise"  # the local promise: conclusion within 5 days of the appraisal


@dataclass(eq=False)  # identity matters: a moved clock is a new Clock
class Clock:
    """A legal or promised deadline: due at the end of `due_on` (China time)."""

    due_on: date
    due_at: datetime
    started_at: datetime
    remind: bool = True
    overdue: bool = False
    reminded: set[float] = field(default_factory=set)


@dataclass
class CaseFile:
    case_id: str
    application: AppraisalApplication
    received_at: datetime
    receipt_date: date
    stage: Stage = Stage.acceptance
    stages: list[StageEntry] = field(default_factory=list)
    policy: DeadlinePolicy | None = None
    clocks: dict[str, Clock] = field(default_factory=dict)
    watchers: list[asyncio.Task[bool]] = field(default_factory=list)
    # acceptance
    missing: list[MaterialKind] = field(default_factory=list)
    notice: SupplementNotice | None = None
    supplement_due: date | None = None
    supplied: list[Material] = field(default_factory=list)
    complete_on: date | None = None
    conclusion_due: dict[str, date] = field(default_factory=dict)  # base due dates
    extension_days: int = 0  # the one extension of the legal limit
    # organizing
    draw_attempt: int = 1
    redraws_requested: int = 0
    panel: Panel | None = None
    shortage: Panel | None = None
    appointment: Appointment | None = None
    appointment_attempt: int = 0
    awaiting_schedule: bool = False
    attendance: AttendanceRecord | None = None
    needs_reschedule: bool = False
    shift_days: int = 0
    site_done_on: date | None = None
    # conclusion
    deliberations: int = 0  # full-panel rounds without a majority
    review_round: int = 1
    signoffs: dict[ReviewLayer, ReviewSignoff] = field(default_factory=dict)
    conclusion_document: str | None = None
    concluded_on: date | None = None
    examinations: list[ExaminationOrder] = field(default_factory=list)
    examination_pending: ExaminationOrder | None = None
    opinions: dict[str, Outcome] = field(default_factory=dict)
    decision_id: str | None = None  # the event that issued the conclusion
    conclusion: Outcome | None = None
    shipments: dict[str, Shipment] = field(default_factory=dict)  # by waybill number
    seen_events: set[str] = field(default_factory=set)
    early_postal: list[PostalEvent] = field(default_factory=list)
    closed_reason: str | None = None
    closing_outcome: str | None = None  # refused / abandoned / terminated, for CaseOutcome
    archive_sha256: str | None = None

    @property
    def decided(self) -> bool:
        """No conclusion clock runs any more: the conclusion is issued or the case closed."""
        return self.conclusion is not None or bool(self.closed_reason)

    @property
    def green(self) -> bool:
        return self.application.green_channel

    def outstanding(self) -> list[MaterialKind]:
        """Kinds the supplement notice asked for that have not been handed in."""
        asked = [item.kind for item in self.notice.items] if self.notice else self.missing
        handed = {m.kind for m in self.supplied}
        return [kind for kind in dict.fromkeys(asked) if kind not in handed]

    def deadlines(self, now: datetime) -> list[Deadline]:
        return [
            Deadline(
                name=name,
                due_on=clock.due_on,
                due_at=clock.due_at,
                seconds_left=(clock.due_at - now).total_seconds(),
                overdue=clock.overdue,
            )
            for name, clock in sorted(self.clocks.items(), key=lambda item: item[1].due_at)
        ]

    @property
    def panel_ids(self) -> list[str]:
        return [m.expert_id for m in self.panel.members] if self.panel else []

    @property
    def all_opinions_in(self) -> bool:
        return bool(self.panel) and all(e in self.opinions for e in self.panel_ids)

    @property
    def panel_majority(self) -> Outcome | None:
        return majority(list(self.opinions.values())) if self.all_opinions_in else None

    @property
    def all_delivered(self) -> bool:
        return bool(self.shipments) and all(
            s.status == "delivered" for s in self.shipments.values()
        )

    def pending_actions(self) -> list[str]:
        if self.closed_reason:
            return []
        if self.stage is Stage.acceptance:
            return self._acceptance_actions()
        if self.stage is Stage.organizing:
            return self._organizing_actions()
        if self.stage is Stage.conclusion and self.examination_pending:
            return [f"examination_results from {self.examination_pending.hospital}"]
        if self.stage is Stage.conclusion and self.conclusion is None:
            missing = [e for e in self.panel_ids if e not in self.opinions]
            if missing:
                return [f"record_opinion from {e}" for e in missing]
            if self.panel_majority is None:
                return [
                    f"panel deliberation (round {self.deliberations}): experts correct opinions"
                ]
            for layer in ReviewLayer:
                if layer not in self.signoffs:
                    return [
                        f"sign_off_review by the {layer.value} group (round {self.review_round})"
                    ]
            return ["issue_conclusion"]
        if self.stage is Stage.delivery:
            return [
                f"postal_event delivered for {s.waybill_no} ({s.recipient.value})"
                for s in self.shipments.values()
                if s.status != "delivered"
            ]
        return []

    def _acceptance_actions(self) -> list[str]:
        if self.missing and self.notice is None:
            return ["issue_supplement_notice listing: " + ", ".join(self.missing)]
        if self.notice is not None and self.outstanding():
            return [
                f"materials_supplemented by {self.supplement_due}: " + ", ".join(self.outstanding())
            ]
        return []

    def _organizing_actions(self) -> list[str]:
        if self.shortage is not None:
            return [
                f"panel shortage (short by {self.shortage.short_by}): extend the pool, then redraw_panel"
            ]
        if self.awaiting_schedule:
            return ["schedule_appraisal: no session with a free seat"]
        if self.needs_reschedule:
            return ["reschedule: the worker missed the appraisal with a good reason"]
        if self.appointment and self.attendance is None:
            return [
                f"record_attendance at {self.appointment.starts_at:%Y-%m-%d %H:%M} {self.appointment.place}"
            ]
        return []

    def status(self, now: datetime) -> CaseStatus:
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
            deadlines=self.deadlines(now),
            policy_version=self.policy.version if self.policy else None,
            receipt_date=self.receipt_date,
            complete_on=self.complete_on,
            missing_materials=self.outstanding() if self.complete_on is None else [],
            appointment=self.appointment,
            attendance=self.attendance.status.value if self.attendance else None,
            deadline_shift_days=self.shift_days,
            examinations=[e.hospital + ": " + ", ".join(e.items) for e in self.examinations],
            review_round=self.review_round,
            signed_off=[layer.value for layer in self.signoffs],
            deliberations=self.deliberations,
            conclusion_document=self.conclusion_document,
        )
