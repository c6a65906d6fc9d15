"""AppraisalCase: one work-ability appraisal case, from application to sealed archive.

Handlers only route: each stage module owns its validators (answer at once, with the reason)
and handlers (record the event, then change the case)."""

from __future__ import annotations

import asyncio

from temporalio import workflow

from workflows.case_file import CaseFile
from workflows.stages import (
    acceptance,
    appointments,
    archiving,
    conclusion,
    delivery,
    examinations,
    opinions,
    organizing,
)

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from schemas.application import AppraisalApplication
    from schemas.clock import today
    from schemas.events import (
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
        Reschedule,
        ReviewSignoff,
        ScheduleAppraisal,
        SupplementExtension,
        SupplementNotice,
    )
    from schemas.status import CaseStatus

STAGES = (acceptance, organizing, conclusion, delivery)


# A pydantic ValidationError (bad input from the UI, a bad payload) fails the workflow with the
# message instead of failing its task over and over.
@workflow.defn(name="AppraisalCase", failure_exception_types=[ValidationError])
class AppraisalCase:
    @workflow.init
    def __init__(self, application: AppraisalApplication) -> None:
        # Built before any handler runs, so an early signal or query finds the case.
        self.case = CaseFile(
            case_id=workflow.info().workflow_id,
            application=application,
            received_at=workflow.now(),
            receipt_date=application.received_on or today(),
        )

    @workflow.run
    async def run(self, application: AppraisalApplication) -> CaseStatus:
        case = self.case
        for stage in STAGES:
            await stage.run(case)
            if case.closed_reason:  # refused, abandoned or terminated: still archived
                break
        await archiving.run(case, reason=case.closed_reason or "delivered")
        await asyncio.gather(*case.watchers)  # clocks spanning stages end with the case
        await workflow.wait_condition(workflow.all_handlers_finished)
        return case.status(workflow.now())

    @workflow.query
    def status(self) -> CaseStatus:
        return self.case.status(workflow.now())

    # acceptance
    @workflow.update
    async def issue_supplement_notice(self, notice: SupplementNotice) -> str:
        return await acceptance.issue_notice(self.case, notice)

    @issue_supplement_notice.validator
    def _check_notice(self, notice: SupplementNotice) -> None:
        acceptance.check_notice(self.case, notice)

    @workflow.signal
    async def materials_supplemented(self, event: MaterialsSupplemented) -> None:
        await acceptance.on_supplemented(self.case, event)

    @workflow.update
    async def extend_supplement_deadline(self, extension: SupplementExtension) -> str:
        return await acceptance.extend(self.case, extension)

    @extend_supplement_deadline.validator
    def _check_extension(self, extension: SupplementExtension) -> None:
        acceptance.check_extension(self.case, extension)

    # organizing
    @workflow.update
    async def redraw_panel(self, request: PanelRedraw) -> str:
        return await organizing.redraw(self.case, request)

    @redraw_panel.validator
    def _check_redraw(self, request: PanelRedraw) -> None:
        organizing.check_redraw(self.case, request)

    @workflow.update
    async def schedule_appraisal(self, choice: ScheduleAppraisal) -> str:
        return await appointments.schedule(self.case, choice)

    @schedule_appraisal.validator
    def _check_schedule(self, choice: ScheduleAppraisal) -> None:
        appointments.check_schedule(self.case, choice)

    @workflow.update
    async def reschedule(self, request: Reschedule) -> str:
        return await appointments.reschedule(self.case, request)

    @reschedule.validator
    def _check_reschedule(self, request: Reschedule) -> None:
        appointments.check_reschedule(self.case, request)

    @workflow.update
    async def record_attendance(self, record: AttendanceRecord) -> str:
        return await appointments.record_attendance(self.case, record)

    @record_attendance.validator
    def _check_attendance(self, record: AttendanceRecord) -> None:
        appointments.check_attendance(self.case, record)

    # conclusion
    @workflow.update
    async def commission_examination(self, order: ExaminationOrder) -> str:
        return await examinations.commission_examination(self.case, order)

    @commission_examination.validator
    def _check_examination(self, order: ExaminationOrder) -> None:
        examinations.check_examination(self.case, order)

    @workflow.signal
    async def examination_results(self, results: ExaminationResults) -> None:
        await examinations.on_results(self.case, results)

    @workflow.update
    async def record_examination_refusal(self, refusal: ExaminationRefusal) -> str:
        return await examinations.refuse_examination(self.case, refusal)

    @record_examination_refusal.validator
    def _check_refusal(self, refusal: ExaminationRefusal) -> None:
        examinations.check_refusal(self.case, refusal)

    @workflow.update
    async def record_opinion(self, opinion: ExpertOpinion) -> str:
        return await opinions.record_opinion(self.case, opinion)

    @record_opinion.validator
    def _check_opinion(self, opinion: ExpertOpinion) -> None:
        opinions.check_opinion(self.case, opinion)

    @workflow.update
    async def sign_off_review(self, signoff: ReviewSignoff) -> str:
        return await opinions.sign_off(self.case, signoff)

    @sign_off_review.validator
    def _check_signoff(self, signoff: ReviewSignoff) -> None:
        opinions.check_signoff(self.case, signoff)

    @workflow.update
    async def extend_conclusion_deadline(self, extension: ConclusionExtension) -> str:
        return await conclusion.extend(self.case, extension)

    @extend_conclusion_deadline.validator
    def _check_conclusion_extension(self, extension: ConclusionExtension) -> None:
        conclusion.check_extension(self.case, extension)

    @workflow.update
    async def issue_conclusion(self, decision: ConclusionDecision) -> str:
        return await conclusion.issue_conclusion(self.case, decision)

    @issue_conclusion.validator
    def _check_decision(self, decision: ConclusionDecision) -> None:
        conclusion.check_decision(self.case, decision)

    # delivery
    @workflow.signal
    async def postal_event(self, event: PostalEvent) -> None:
        await delivery.on_postal_event(self.case, event)
