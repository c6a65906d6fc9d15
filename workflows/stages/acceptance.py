"""Stage 1, acceptance (材料受理): register the case and accept a complete application."""

from __future__ import annotations

from temporalio import workflow

from workflows.case_file import CaseFile
from workflows.records import STORAGE_OPTIONS, enter_stage, record_event

with workflow.unsafe.imports_passed_through():
    from activities.storage import Storage
    from schemas.steps import CaseRegistration, Stage


async def run(case: CaseFile) -> None:
    app = case.application
    await workflow.execute_activity_method(
        Storage.register_case,
        CaseRegistration(
            case_id=case.case_id,
            stage=Stage.acceptance,
            case_type=app.case_type,
            citizen_id=app.worker.citizen_id,
            green_channel=app.green_channel,
            mode=app.mode,
            jurisdiction=app.jurisdiction,
            received_at=case.received_at,
        ),
        **STORAGE_OPTIONS,
    )
    await enter_stage(case, Stage.acceptance, actor=app.applicant.role.value)
    # 立申立受: a complete application is accepted at once. Materials rules come with issue 3.
    await record_event(
        case,
        key="application.accepted",
        kind="application.accepted",
        actor="system",
        data={"materials": [m.kind.value for m in app.materials]},
    )
