"""ProvincialReferral: the provincial committee's case for a re-appraisal (再次鉴定) a party
applied for within the dispute window of a city case.

Started by the city case as a child workflow that outlives it (ParentClosePolicy.ABANDON),
workflow id `<city case id>-SD`. It carries the city's file by reference (case id, conclusion
letter id and SHA-256, the request, the delivery dates), and the search attribute `LinkedCase`
names the city case (which names it back). It waits for the province's conclusion, which is
final, and closes with it."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.clock import china_text
    from schemas.events import ReAppraisalRequest
    from schemas.referral import ProvincialConclusion, ReferralFile, ReferralStatus

ROLES = {"worker": "职工", "employer": "用人单位"}


@workflow.defn(name="ProvincialReferral")
class ProvincialReferral:
    @workflow.init
    def __init__(self, file: ReferralFile) -> None:
        self.file = file
        self.requests = [file.request]
        self.conclusion: ProvincialConclusion | None = None
        self.concluded_at: datetime | None = None

    @workflow.run
    async def run(self, file: ReferralFile) -> ReferralStatus:
        self.show()
        await workflow.wait_condition(lambda: self.conclusion is not None)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    @workflow.query(
        description="The referral: the city's file by reference, the requests, the province's conclusion."
    )
    def status(self) -> ReferralStatus:
        return ReferralStatus(
            referral_id=workflow.info().workflow_id,
            file=self.file,
            requests=list(self.requests),
            conclusion=self.conclusion.outcome if self.conclusion else None,
            concluded_at=self.concluded_at,
        )

    @workflow.signal(
        description="Another party's re-appraisal request on the same conclusion, forwarded by the city case."
    )
    def add_request(self, request: ReAppraisalRequest) -> None:
        if all(r.event_id != request.event_id for r in self.requests):
            self.requests.append(request)
            self.show()

    @workflow.update(
        description="The provincial committee's conclusion (final): the referral closes."
    )
    def record_conclusion(self, conclusion: ProvincialConclusion) -> str:
        self.conclusion, self.concluded_at = conclusion, workflow.now()
        self.show()
        return f"再次鉴定结论已记录: {conclusion.outcome.label()} (the provincial conclusion is recorded)"

    @record_conclusion.validator
    def _check_conclusion(self, conclusion: ProvincialConclusion) -> None:
        if self.conclusion is not None:
            raise ValueError("再次鉴定结论已记录 (the provincial conclusion was recorded already)")

    def show(self) -> None:
        file = self.file
        lines = [
            f"**{workflow.info().workflow_id}** · 再次鉴定 (re-appraisal) · 移送自 {file.city_case_id}",
            f"原结论 {file.conclusion.label()} · {file.concluded_on} · 结论书 {file.conclusion_document}"
            f" (SHA-256 {file.conclusion_sha256})",
            f"移送 referred: {china_text(file.referred_at)}",
            *(
                f"申请 request: {ROLES[r.requested_by.value]} ({r.requested_by.value}) · {r.reason}"
                for r in self.requests
            ),
        ]
        if self.conclusion:
            lines.append(f"再次鉴定结论 conclusion: {self.conclusion.outcome.label()}")
        workflow.set_current_details("\n\n".join(lines))
