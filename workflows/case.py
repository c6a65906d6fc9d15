"""AppraisalCase: one work-ability appraisal case, from application to sealed archive.

Handlers only route: every event passes the one gate (workflows/gate.py) with its stage's rule
(the validator answers at once, with the reason) and its change. The input arrives raw and is
validated here (workflows/intake.py): a bad application is the only thing that fails a case.

The workflow is registered as dynamic, though it serves only its own type: the SDK hands a
dynamic workflow its inputs raw whatever their number, where a named one would call __init__
with none or two and fail its first task for ever (a case left Running, never failed)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from workflows import actors, gate, intake, legacy, patches, records
from workflows.case_file import CaseFile
from workflows.stages import (
    acceptance,
    appointments,
    archiving,
    conclusion,
    delivery,
    dispute,
    examinations,
    opinions,
    organizing,
    panel,
)

with workflow.unsafe.imports_passed_through():
    from schemas.clock import today
    from schemas.events import (
        AddressCorrection,
        AttendanceRecord,
        ConclusionDecision,
        ConclusionExtension,
        ExaminationOrder,
        ExaminationRefusal,
        ExaminationResults,
        ExpertOpinion,
        MaterialsSupplemented,
        PanelRedraw,
        PostalEvent,
        ReAppraisalRequest,
        RecusalRequest,
        Reschedule,
        ReviewSignoff,
        ScheduleAppraisal,
        SupplementExtension,
        SupplementNotice,
    )
    from schemas.status import CaseStatus

STAGES = (acceptance, organizing, conclusion, delivery)
CASE_TYPE = "AppraisalCase"


@workflow.defn(dynamic=True)
class AppraisalCase:
    @workflow.init
    def __init__(self, inputs: Sequence[RawValue]) -> None:
        if (started := workflow.info().workflow_type) != CASE_TYPE:
            # As for any type no worker registered: the task fails until a worker has it.
            raise RuntimeError(f"workflow type {started} is not registered on this worker")
        # Decided once, before any command: replaying a case started before the hardening
        # takes the old paths (workflows/legacy.py).
        lean = workflow.patched(patches.LEAN_CASE)  # implies every patch before it
        hardened = lean or workflow.patched(patches.HARDENED_CORE)
        jining_rules = lean or (hardened and workflow.patched(patches.JINING_RULES))
        full_delivery = lean or (jining_rules and workflow.patched(patches.FULL_DELIVERY))
        archive_package = lean or (jining_rules and workflow.patched(patches.ARCHIVE_PACKAGE))
        recorded_refusals = lean or (
            archive_package and workflow.patched(patches.RECORDED_REFUSALS)
        )
        proven_actors = lean or (recorded_refusals and workflow.patched(patches.PROVEN_ACTORS))
        read = intake.read_application(inputs, ruled=jining_rules, strict=lean)
        self.invalid = read if isinstance(read, ApplicationError) else None
        # Built before any handler runs, so an early signal or query finds the case.
        self.file = None
        if not isinstance(read, ApplicationError):
            self.file = CaseFile(
                case_id=workflow.info().workflow_id,
                application=read,
                received_at=workflow.now(),
                receipt_date=read.received_on or today(),
                hardened=hardened,
                jining_rules=jining_rules,
                full_delivery=full_delivery,
                archive_package=archive_package,
                recorded_refusals=recorded_refusals,
                proven_actors=proven_actors,
                lean=lean,
            )

    @property
    def case(self) -> CaseFile:
        """The case, for updates and queries; refused when the application was not valid."""
        if self.file is None:
            raise gate.refusal("申请不符合要求, 案件未受理 (the application was not valid)")
        return self.file

    @workflow.run
    async def run(self, inputs: Sequence[RawValue]) -> CaseStatus:
        if self.invalid is not None:
            raise self.invalid
        case = self.case
        if case.hardened:  # one upsert per workflow task, of what changed
            self.showing = asyncio.create_task(records.keep_shown(case))
        if case.lean:  # one PostgreSQL transaction per workflow task, of what it wrote
            self.writing = asyncio.create_task(records.keep_written(case))
        for stage in STAGES:
            await stage.run(case)
            if case.closed:  # refused, abandoned or terminated: still archived
                break
        await archiving.run(case)
        await asyncio.gather(*case.watchers)  # clocks spanning stages end with the case
        await workflow.wait_condition(workflow.all_handlers_finished)
        await records.written(case)
        if case.unshown:
            records.upsert_changed(case)
        return case.status(workflow.now())

    @workflow.query(
        description="Where the case stands: stage, deadlines, pending actions, panel, decisions (CaseStatus)."
    )
    def status(self) -> CaseStatus:
        return self.case.status(workflow.now())

    # acceptance
    @workflow.update(
        description="The one-time notice listing every missing material (一次性告知); the applicant then has the policy's time to supplement."
    )
    async def issue_supplement_notice(self, notice: SupplementNotice) -> str:
        return await gate.apply(
            self.case, notice, acceptance.check_notice, acceptance.issue_notice, actors.CLERK
        )

    @issue_supplement_notice.validator
    def _check_notice(self, notice: SupplementNotice) -> None:
        gate.check(self.case, notice, acceptance.check_notice)

    @workflow.signal(
        description="Materials handed in after the supplement notice (补正材料); the case is accepted once nothing is outstanding."
    )
    async def materials_supplemented(self, event: MaterialsSupplemented) -> None:
        if self.file:  # a signal to a case whose application was not valid is dropped
            await gate.deliver(
                self.file,
                event,
                acceptance.check_supplemented,
                acceptance.on_supplemented,
                actors.CLERK,
            )

    @workflow.update(description="More time to supplement, for a recorded good reason.")
    async def extend_supplement_deadline(self, extension: SupplementExtension) -> str:
        return await gate.apply(
            self.case, extension, acceptance.check_extension, acceptance.extend, actors.CLERK
        )

    @extend_supplement_deadline.validator
    def _check_extension(self, extension: SupplementExtension) -> None:
        gate.check(self.case, extension, acceptance.check_extension)

    # organizing
    @workflow.update(
        description="Draw the panel again after a shortage, once the expert pool was extended."
    )
    async def redraw_panel(self, request: PanelRedraw) -> str:
        return await gate.apply(
            self.case, request, organizing.check_redraw, organizing.redraw, actors.CLERK
        )

    @redraw_panel.validator
    def _check_redraw(self, request: PanelRedraw) -> None:
        gate.check(self.case, request, organizing.check_redraw)

    @workflow.update(
        description="A party (worker or employer) asks for a panel expert's recusal (回避) with a reason, before the appraisal: that seat is drawn again, the others stay."
    )
    async def request_recusal(self, request: RecusalRequest) -> str:
        return await gate.apply(self.case, request, panel.check_recusal, panel.recuse, actors.CLERK)

    @request_recusal.validator
    def _check_recusal(self, request: RecusalRequest) -> None:
        gate.check(self.case, request, panel.check_recusal)

    @workflow.update(
        description="The office books or moves the appraisal (a session, or a time and place); the legal deadline does not move."
    )
    async def schedule_appraisal(self, choice: ScheduleAppraisal) -> str:
        return await gate.apply(
            self.case, choice, appointments.check_schedule, appointments.schedule, actors.CLERK
        )

    @schedule_appraisal.validator
    def _check_schedule(self, choice: ScheduleAppraisal) -> None:
        gate.check(self.case, choice, appointments.check_schedule)

    @workflow.update(
        description="Grant the worker's request to move the appraisal; the conclusion deadline moves by the same delay."
    )
    async def reschedule(self, request: Reschedule) -> str:
        return await gate.apply(
            self.case, request, appointments.check_reschedule, appointments.reschedule, actors.CLERK
        )

    @reschedule.validator
    def _check_reschedule(self, request: Reschedule) -> None:
        gate.check(self.case, request, appointments.check_reschedule)

    @workflow.update(
        description="Attendance on the appraisal day (identity verified), or a no-show with or without a good reason."
    )
    async def record_attendance(self, record: AttendanceRecord) -> str:
        return await gate.apply(
            self.case,
            record,
            appointments.check_attendance,
            appointments.record_attendance,
            actors.CLERK,
        )

    @record_attendance.validator
    def _check_attendance(self, record: AttendanceRecord) -> None:
        gate.check(self.case, record, appointments.check_attendance)

    # conclusion
    @workflow.update(
        description="The panel commissions examinations from a hospital (委托检查); opinions wait for the results."
    )
    async def commission_examination(self, order: ExaminationOrder) -> str:
        return await gate.apply(
            self.case,
            order,
            examinations.check_examination,
            examinations.commission_examination,
            actors.PANEL_OR_CLERK,
        )

    @commission_examination.validator
    def _check_examination(self, order: ExaminationOrder) -> None:
        gate.check(self.case, order, examinations.check_examination)

    @workflow.signal(description="A hospital reports the commissioned examination results.")
    async def examination_results(self, results: ExaminationResults) -> None:
        if self.file:
            await gate.deliver(
                self.file,
                results,
                examinations.check_results,
                examinations.on_results,
                actors.EXAMINATIONS,
            )

    @workflow.update(
        description="A hospital reports the commissioned examination results and hears at once whether the case took them (the gateway's way; the signal's checks and effects)."
    )
    async def report_examination_results(self, results: ExaminationResults) -> str:
        return await gate.apply(
            self.case,
            results,
            examinations.check_results,
            examinations.on_results,
            actors.EXAMINATIONS,
        )

    @report_examination_results.validator
    def _check_results(self, results: ExaminationResults) -> None:
        gate.check(self.case, results, examinations.check_results)

    @workflow.update(
        description="The worker refuses the commissioned examinations: this appraisal ends (当次鉴定终止)."
    )
    async def record_examination_refusal(self, refusal: ExaminationRefusal) -> str:
        return await gate.apply(
            self.case,
            refusal,
            examinations.check_refusal,
            examinations.refuse_examination,
            actors.CLERK,
        )

    @record_examination_refusal.validator
    def _check_refusal(self, refusal: ExaminationRefusal) -> None:
        gate.check(self.case, refusal, examinations.check_refusal)

    @workflow.update(
        description="A panel member's opinion on the case type's scale; a correction replaces it until the review starts."
    )
    async def record_opinion(self, opinion: ExpertOpinion) -> str:
        return await gate.apply(
            self.case, opinion, opinions.check_opinion, opinions.record_opinion, actors.PANEL
        )

    @record_opinion.validator
    def _check_opinion(self, opinion: ExpertOpinion) -> None:
        gate.check(self.case, opinion, opinions.check_opinion)

    @workflow.update(
        description="A review group (面检组 → 总检组 → 复核组, in order) signs off or sends the case back with a reason."
    )
    async def sign_off_review(self, signoff: ReviewSignoff) -> str:
        return await gate.apply(
            self.case,
            signoff,
            opinions.check_signoff,
            opinions.sign_off,
            actors.layer(signoff.layer),
        )

    @sign_off_review.validator
    def _check_signoff(self, signoff: ReviewSignoff) -> None:
        gate.check(self.case, signoff, opinions.check_signoff)

    @workflow.update(
        description="The one 30-day extension of the 60-day legal limit, with a reason, before it runs out."
    )
    async def extend_conclusion_deadline(self, extension: ConclusionExtension) -> str:
        return await gate.apply(
            self.case,
            extension,
            conclusion.check_extension,
            conclusion.extend,
            actors.COMMITTEE_OR_SUPERVISOR,
        )

    @extend_conclusion_deadline.validator
    def _check_conclusion_extension(self, extension: ConclusionExtension) -> None:
        gate.check(self.case, extension, conclusion.check_extension)

    @workflow.update(
        description="The committee's conclusion, following the panel majority after all three sign-offs; the letter is then issued by the case."
    )
    async def issue_conclusion(self, decision: ConclusionDecision) -> str:
        decide = conclusion.decide if self.case.hardened else legacy.issue_conclusion
        return await gate.apply(
            self.case, decision, conclusion.check_decision, decide, actors.COMMITTEE
        )

    @issue_conclusion.validator
    def _check_decision(self, decision: ConclusionDecision) -> None:
        gate.check(self.case, decision, conclusion.check_decision)

    # delivery
    @workflow.signal(
        description="A postal tracking event (EMS accepted, in transit, signed for, returned) for a conclusion letter."
    )
    async def postal_event(self, event: PostalEvent) -> None:
        if self.file:
            await gate.deliver(
                self.file, event, delivery.check_postal, delivery.on_postal_event, actors.POSTAL
            )

    @workflow.update(
        description="A postal tracking event (EMS accepted, in transit, signed for, returned) for a conclusion letter, answered at once: accepted, or refused with the reason (the gateway's and the CLI's way; the signal's checks and effects)."
    )
    async def report_postal_event(self, event: PostalEvent) -> str:
        return await gate.apply(
            self.case, event, delivery.check_postal, delivery.on_postal_event, actors.POSTAL
        )

    @report_postal_event.validator
    def _check_postal(self, event: PostalEvent) -> None:
        gate.check(self.case, event, delivery.check_postal)

    @workflow.update(
        description="Correct a recipient's address after the courier refused the letter, or after it came back (never to an address a letter came back from); it is posted again."
    )
    async def correct_address(self, correction: AddressCorrection) -> str:
        return await gate.apply(
            self.case, correction, delivery.check_address, delivery.correct_address, actors.CLERK
        )

    @correct_address.validator
    def _check_address(self, correction: AddressCorrection) -> None:
        gate.check(self.case, correction, delivery.check_address)

    # archiving: the dispute window
    @workflow.update(
        description="A party (worker or employer) applies for re-appraisal (申请再次鉴定) within 15 days of receiving the conclusion: recorded and referred to the provincial committee (a linked case <case id>-SD)."
    )
    async def request_re_appraisal(self, request: ReAppraisalRequest) -> str:
        return await gate.apply(
            self.case, request, dispute.check_request, dispute.request, actors.RE_APPRAISAL
        )

    @request_re_appraisal.validator
    def _check_re_appraisal(self, request: ReAppraisalRequest) -> None:
        gate.check(self.case, request, dispute.check_request)
