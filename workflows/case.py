"""AppraisalCase: one work-ability appraisal case, from application to sealed archive."""

from __future__ import annotations

from temporalio import workflow

from workflows.case_file import CaseFile
from workflows.stages import acceptance, archiving, conclusion, delivery, organizing

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from schemas.application import AppraisalApplication
    from schemas.events import ConclusionDecision, ExpertOpinion, PostalEvent
    from schemas.status import CaseStatus


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
        )

    @workflow.run
    async def run(self, application: AppraisalApplication) -> CaseStatus:
        case = self.case
        await acceptance.run(case)
        await organizing.run(case)
        await conclusion.run(case)
        await delivery.run(case)
        await archiving.run(case, reason="delivered")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return case.status()

    @workflow.query
    def status(self) -> CaseStatus:
        return self.case.status()

    @workflow.update
    async def record_opinion(self, opinion: ExpertOpinion) -> str:
        return await conclusion.record_opinion(self.case, opinion)

    @record_opinion.validator
    def _check_opinion(self, opinion: ExpertOpinion) -> None:
        conclusion.check_opinion(self.case, opinion)

    @workflow.update
    async def issue_conclusion(self, decision: ConclusionDecision) -> str:
        return await conclusion.issue_conclusion(self.case, decision)

    @issue_conclusion.validator
    def _check_decision(self, decision: ConclusionDecision) -> None:
        conclusion.check_decision(self.case, decision)

    @workflow.signal
    async def postal_event(self, event: PostalEvent) -> None:
        await delivery.on_postal_event(self.case, event)
