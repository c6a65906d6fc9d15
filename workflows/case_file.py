"""The state of one case inside its workflow, and what the `status` query makes of it."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.application import (
        Address,
        ApplicantRole,
        AppraisalApplication,
        Material,
        MaterialKind,
    )
    from schemas.clock import china, china_text
    from schemas.delivery import DeliveryState, LetterReturn, PublicNotice
    from schemas.events import (
        AttendanceRecord,
        ConclusionDecision,
        ExaminationOrder,
        PostalEvent,
        ReAppraisalRequest,
        ReviewLayer,
        ReviewSignoff,
        SupplementNotice,
    )
    from schemas.outcome import Outcome
    from schemas.policy import DeadlinePolicy
    from schemas.status import CaseStatus, Deadline, PendingAction, StageEntry, WaitsFor
    from schemas.steps import (
        Appointment,
        ArchiveSeal,
        CaseWrite,
        Panel,
        Recipient,
        Recusal,
        Shipment,
        Stage,
    )
    from schemas.vocabulary import ClockName, CloseReason, PostalStatus


# The clocks a step toward the conclusion races: the legal limit, the green channel's, and the
# promise of a conclusion within days of the appraisal; before the appraisal, the first two.
LEGAL_LIMITS = (ClockName.green_conclusion, ClockName.conclusion)
CONCLUSION_LIMITS = (ClockName.site_promise, *LEGAL_LIMITS)
NOTICE_CLOCKS = {
    Recipient.worker: ClockName.public_notice_worker,
    Recipient.employer: ClockName.public_notice_employer,
}
WINDOW_CLOCKS = {
    Recipient.worker: ClockName.dispute_window_worker,
    Recipient.employer: ClockName.dispute_window_employer,
}


def majority(opinions: list[Outcome]) -> Outcome | None:
    """少数服从多数: the outcome more than half the panel gave, or None (no tie-break exists)."""
    if not opinions:
        return None
    outcome, votes = Counter(opinions).most_common(1)[0]
    return outcome if votes * 2 > len(opinions) else None


@dataclass(eq=False)  # identity matters: a moved clock is a new Clock
class Clock:
    """A legal or promised deadline: due at the end of `due_on` (China time)."""

    due_on: date
    due_at: datetime
    started_at: datetime
    remind: bool = True
    overdue: bool = False
    calendar_warning: str | None = None  # counted without the year's holiday schedule
    reminded: set[float] = field(default_factory=set)


@dataclass
class Delivery:
    """One recipient's letter under delivery in full (patches.FULL_DELIVERY)."""

    waybill_no: str | None = None  # the letter in the post now
    posted_on: date | None = None
    heard_at: datetime | None = None  # its last tracking news (or its posting): polls count from it
    returns: list[LetterReturn] = field(default_factory=list)
    returned_to: dict[str, str] = field(default_factory=dict)  # address key -> why it came back
    awaiting_until: datetime | None = None  # back, waiting for a corrected address until
    notice: PublicNotice | None = None
    delivered_on: date | None = None  # signed for, or deemed delivered after public notice
    deemed: bool = False
    window_end: date | None = None  # the dispute window (申请再次鉴定期限)


def address_key(address: Address) -> str:
    """The same address however it was spaced: never a second letter to an address that
    sent one back."""
    return "".join(address.text.split()) + "|" + address.postal_code


@dataclass
class CaseFile:
    case_id: str
    application: AppraisalApplication
    received_at: datetime
    receipt_date: date
    # False only when replaying a case started before the core hardening (workflows/legacy.py).
    hardened: bool = True
    # False when replaying a case started before the rules of issue #8 (patches.JINING_RULES):
    # every rule added or changed there is applied only when this is True.
    jining_rules: bool = True
    # False when replaying a case started before delivery in full (patches.FULL_DELIVERY).
    full_delivery: bool = True
    # False when replaying a case started before the archive package (patches.ARCHIVE_PACKAGE):
    # the prior-conclusion check and the package are applied only when this is True.
    archive_package: bool = True
    # False when replaying a case started before refusals were recorded (patches.
    # RECORDED_REFUSALS): its validators refused at once and left no trace.
    recorded_refusals: bool = True
    # False when replaying a case started before proven actors (patches.PROVEN_ACTORS): its
    # actors were free text, checked only by the rules of the step.
    proven_actors: bool = True
    # False when replaying a case started before the lean case (patches.LEAN_CASE): its
    # writes were one activity each and its messages sent by the case itself.
    lean: bool = True
    # A lean case's writes not yet in PostgreSQL, and counts of those journaled and
    # committed (workflows/records.py `keep_written`, `written`).
    journal: list[CaseWrite] = field(default_factory=list)
    journaled: int = 0
    committed: int = 0
    local_activities: int = 0  # running now: the search attributes wait for them
    local_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one local activity at a time
    registered: bool = False  # the case number is bound to this run: events may apply
    # The gate (workflows/gate.py): one lock for every change that awaits, and the answer
    # given to each applied event, so a repeat gets the same answer and changes nothing.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    answers: dict[str, str] = field(default_factory=dict)
    refusals: int = 0  # refused requests recorded so far (each its own log key)
    shown: dict[str, object] = field(default_factory=dict)  # search attributes last upserted
    unshown: bool = False  # changed since (records.keep_shown writes them)
    stage: Stage = Stage.acceptance
    stages: list[StageEntry] = field(default_factory=list)
    policy: DeadlinePolicy | None = None
    clocks: dict[ClockName, Clock] = field(default_factory=dict)
    watchers: list[asyncio.Task[bool]] = field(default_factory=list)
    # acceptance
    duplicate_of: str | None = None  # the open case of the same worker and injury
    missing: list[MaterialKind] = field(default_factory=list)
    notice: SupplementNotice | None = None
    supplement_due: date | None = None
    supplied: list[Material] = field(default_factory=list)
    complete_on: date | None = None
    conclusion_due: dict[ClockName, date] = field(default_factory=dict)  # base due dates
    extension_days: int = 0  # the one extension of the legal limit
    # organizing
    draw_attempt: int = 1
    redraws_requested: int = 0
    panel: Panel | None = None
    shortage: Panel | None = None
    recusals: list[Recusal] = field(default_factory=list)  # granted at a party's request
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
    conclusion_sha256: str | None = None
    concluded_on: date | None = None
    examinations: list[ExaminationOrder] = field(default_factory=list)
    examination_pending: ExaminationOrder | None = None
    opinions: dict[str, Outcome] = field(default_factory=dict)
    decision: ConclusionDecision | None = None
    decided_at: datetime | None = None
    conclusion: Outcome | None = None  # decided by the committee
    letter_problem: str | None = None  # why the conclusion letter cannot be issued (escalated)
    # delivery
    shipments: dict[str, Shipment] = field(default_factory=dict)  # by waybill number
    early_postal: list[PostalEvent] = field(default_factory=list)
    rejected: dict[Recipient, str] = field(default_factory=dict)  # the courier refused a letter
    addresses: dict[Recipient, Address] = field(default_factory=dict)  # corrected by the office
    letter_attempts: dict[Recipient, int] = field(default_factory=dict)
    deliveries: dict[Recipient, Delivery] = field(default_factory=dict)  # full delivery only
    # archiving: the dispute window; a request in it is referred to the province
    re_appraisals: list[ReAppraisalRequest] = field(default_factory=list)
    referral_id: str | None = None
    closed: CloseReason | None = None
    closed_reason: str | None = None  # the recorded reason, in words
    archive_sha256: str | None = None
    archive_seal: ArchiveSeal | None = None

    @property
    def decided(self) -> bool:
        """No conclusion clock runs any more: the conclusion is decided or the case closed."""
        return self.conclusion is not None or self.closed is not None

    @property
    def closed_text(self) -> str | None:
        """How the case closed, as the case row and the archive keep it."""
        if self.closed is None:
            return None
        return (
            f"{self.closed.value}: {self.closed_reason}"
            if self.closed_reason
            else self.closed.value
        )

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
                calendar_warning=clock.calendar_warning,
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
            s.status is PostalStatus.delivered for s in self.shipments.values()
        )

    @property
    def delivered_everywhere(self) -> bool:
        """Full delivery: every recipient signed for the letter or is deemed to have it."""
        return len(self.deliveries) == len(Recipient) and all(
            d.delivered_on is not None for d in self.deliveries.values()
        )

    def pending_actions(self) -> list[str]:
        """What the case waits for, and from whom; times in China time."""
        return [pending.action for pending in self.pending()]

    def pending(self) -> list[PendingAction]:
        """The pending actions, each with whom it waits for and the clock that governs it."""
        if self.closed is not None:
            return []
        if self.stage is Stage.acceptance:
            return self._acceptance_actions()
        if self.stage is Stage.organizing:
            return self._organizing_actions()
        if self.stage is Stage.conclusion:
            return self._conclusion_actions()
        if self.stage is Stage.delivery:
            return self._full_delivery_actions() if self.full_delivery else self._delivery_actions()
        if self.stage is Stage.archiving and self.full_delivery:
            return self._dispute_actions()
        return []

    def _waiting(
        self,
        action: str,
        waits_for: WaitsFor,
        clocks: tuple[ClockName, ...] = (),
        at: datetime | None = None,
    ) -> PendingAction:
        """`action` under the soonest running clock of `clocks`; due at `at` when given
        (an appointment's hour, an address's deadline), else when that clock runs out."""
        running = [(name, self.clocks[name]) for name in clocks if name in self.clocks]
        if not running:
            return PendingAction(action=action, waits_for=waits_for, due_at=at and china(at))
        name, clock = min(running, key=lambda item: item[1].due_at)
        return PendingAction(
            action=action,
            waits_for=waits_for,
            clock=name,
            due_at=china(at or clock.due_at),
            overdue=clock.overdue,
        )

    @property
    def applicant_role(self) -> WaitsFor:
        """Who hands in the materials: the applicant (a relative acts for the worker)."""
        role = self.application.applicant.role
        if role is ApplicantRole.employer:
            return WaitsFor.employer
        return WaitsFor.agency if role is ApplicantRole.agency else WaitsFor.worker

    def _acceptance_actions(self) -> list[PendingAction]:
        if self.missing and self.notice is None:
            return [
                self._waiting(
                    "issue_supplement_notice listing: " + ", ".join(self.missing),
                    WaitsFor.clerk,
                    (ClockName.supplement_notice,),
                )
            ]
        if self.notice is not None and self.outstanding():
            return [
                self._waiting(
                    f"materials_supplemented by {self.supplement_due} (北京时间): "
                    + ", ".join(self.outstanding()),
                    self.applicant_role,
                    (ClockName.supplement,),
                )
            ]
        return []

    def _organizing_actions(self) -> list[PendingAction]:
        if self.shortage is not None:
            return [
                self._waiting(
                    f"panel shortage (short by {self.shortage.short_by}): extend the pool, then redraw_panel",
                    WaitsFor.supervisor,
                    LEGAL_LIMITS,
                )
            ]
        if self.awaiting_schedule:
            return [
                self._waiting(
                    "schedule_appraisal: no session with a free seat", WaitsFor.clerk, LEGAL_LIMITS
                )
            ]
        if self.needs_reschedule:
            return [
                self._waiting(
                    "reschedule: the worker missed the appraisal with a good reason",
                    WaitsFor.clerk,
                    LEGAL_LIMITS,
                )
            ]
        if self.appointment and self.attendance is None:
            at = china_text(self.appointment.starts_at)
            return [
                self._waiting(
                    f"record_attendance at {at} {self.appointment.place}",
                    WaitsFor.clerk,
                    (ClockName.attendance,),
                    at=self.appointment.starts_at,
                )
            ]
        return []

    def _conclusion_actions(self) -> list[PendingAction]:
        if self.examination_pending:
            return [
                self._waiting(
                    f"examination_results from {self.examination_pending.hospital}",
                    WaitsFor.hospital,
                    (ClockName.examination,),
                )
            ]
        if self.conclusion is not None:
            if self.letter_problem:
                return [
                    self._waiting(
                        f"结论书无法出具, 已上报 (letter escalated): {self.letter_problem}",
                        WaitsFor.supervisor,
                    )
                ]
            return [
                self._waiting(
                    "结论书出具中 (the conclusion letter is being issued)", WaitsFor.system
                )
            ]
        missing = [e for e in self.panel_ids if e not in self.opinions]
        if missing:
            return [
                self._waiting(f"record_opinion from {e}", WaitsFor.expert, CONCLUSION_LIMITS)
                for e in missing
            ]
        if self.panel_majority is None:
            return [
                self._waiting(
                    f"panel deliberation (round {self.deliberations}): experts correct opinions",
                    WaitsFor.expert,
                    CONCLUSION_LIMITS,
                )
            ]
        for layer in ReviewLayer:
            if layer not in self.signoffs:
                return [
                    self._waiting(
                        f"sign_off_review by the {layer.value} group (round {self.review_round})",
                        WaitsFor(layer.value),
                        CONCLUSION_LIMITS,
                    )
                ]
        return [self._waiting("issue_conclusion", WaitsFor.committee, CONCLUSION_LIMITS)]

    def _refused_letters(self) -> list[PendingAction]:
        return [
            self._waiting(
                f"correct_address for {recipient.value}: 快递拒收 (the courier refused the letter): {why}",
                WaitsFor.clerk,
                (ClockName.delivery,),
            )
            for recipient, why in self.rejected.items()
        ]

    def _delivery_actions(self) -> list[PendingAction]:
        return self._refused_letters() + [
            self._waiting(
                f"postal_event delivered for {s.waybill_no} ({s.recipient.value})",
                WaitsFor.post_office,
                (ClockName.delivery,),
            )
            for s in self.shipments.values()
            if s.status is not PostalStatus.delivered
        ]

    def _full_delivery_actions(self) -> list[PendingAction]:
        actions = self._refused_letters()
        for recipient, track in self.deliveries.items():
            if track.delivered_on is not None or recipient in self.rejected:
                continue
            if track.notice is not None:
                actions.append(
                    self._waiting(
                        f"公告送达中, {track.notice.deemed_delivered_on} 视为送达 (public notice: "
                        f"{recipient.value} deemed delivered on {track.notice.deemed_delivered_on})",
                        WaitsFor.system,
                        (NOTICE_CLOCKS[recipient],),
                    )
                )
            elif track.awaiting_until is not None:
                why = track.returns[-1].reason
                actions.append(
                    self._waiting(
                        f"correct_address for {recipient.value} by {china_text(track.awaiting_until)}"
                        f", else public notice: 退回 (returned): {why}",
                        WaitsFor.clerk,
                        at=track.awaiting_until,
                    )
                )
            elif track.waybill_no is not None:
                actions.append(
                    self._waiting(
                        f"postal_event delivered for {track.waybill_no} ({recipient.value})",
                        WaitsFor.post_office,
                        (ClockName.delivery,),
                    )
                )
        return actions

    def _dispute_actions(self) -> list[PendingAction]:
        if self.referral_id is not None:
            return []
        return [
            self._waiting(
                f"request_re_appraisal by {recipient.value} until {track.window_end} 24:00 北京时间",
                WaitsFor(recipient.value),
                (WINDOW_CLOCKS[recipient],),
            )
            for recipient, track in self.deliveries.items()
            if track.window_end is not None
        ]

    def delivery_states(self) -> list[DeliveryState]:
        return [
            DeliveryState(
                recipient=recipient,
                attempt=self.letter_attempts.get(recipient, 1),
                waybill_no=track.waybill_no,
                returns=list(track.returns),
                awaiting_address_until=track.awaiting_until and china(track.awaiting_until),
                public_notice=track.notice
                and track.notice.model_copy(
                    update={"published_at": china(track.notice.published_at)}
                ),
                delivered_on=track.delivered_on,
                deemed=track.deemed,
                dispute_window_ends=track.window_end,
            )
            for recipient in Recipient
            if (track := self.deliveries.get(recipient)) is not None
        ]

    def status(self, now: datetime) -> CaseStatus:
        app = self.application
        pending = self.pending()
        return CaseStatus(
            case_id=self.case_id,
            case_type=app.case_type,
            stage=self.stage,
            green_channel=app.green_channel,
            green_channel_grant=app.green_channel_grant,
            mode=app.mode,
            jurisdiction=app.jurisdiction,
            stages=[StageEntry(stage=s.stage, entered_at=china(s.entered_at)) for s in self.stages],
            pending_actions=[pending.action for pending in pending],
            pending=pending,
            panel=self.panel,
            opinions=dict(self.opinions),
            panel_majority=self.panel_majority,
            conclusion=self.conclusion,
            shipments=[
                s.model_copy(update={"delivered_at": s.delivered_at and china(s.delivered_at)})
                for s in self.shipments.values()
            ],
            closed=self.closed,
            closed_reason=self.closed_reason,
            archive_sha256=self.archive_sha256,
            archive_seal=self.archive_seal,
            deadlines=self.deadlines(now),
            policy_version=self.policy.version if self.policy else None,
            receipt_date=self.receipt_date,
            complete_on=self.complete_on,
            missing_materials=self.outstanding() if self.complete_on is None else [],
            appointment=self.appointment
            and self.appointment.model_copy(
                update={"starts_at": china(self.appointment.starts_at)}
            ),
            attendance=self.attendance.status.value if self.attendance else None,
            deadline_shift_days=self.shift_days,
            recusals=list(self.recusals),
            examinations=[e.hospital + ": " + ", ".join(e.items) for e in self.examinations],
            review_round=self.review_round,
            signed_off=[layer.value for layer in self.signoffs],
            deliberations=self.deliberations,
            conclusion_document=self.conclusion_document,
            deliveries=self.delivery_states(),
            referral_id=self.referral_id,
        )
