"""Stage 2, organizing (组织鉴定): draw the expert panel and notify the worker."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.case_file import CaseFile
from workflows.records import STORAGE_OPTIONS, enter_stage, record_event

with workflow.unsafe.imports_passed_through():
    from activities.experts import Experts
    from activities.notifications import Notifications
    from schemas.steps import OutboxMessage, PanelDrawRequest, Stage


def panel_size(case: CaseFile) -> int:
    return 5 if case.application.severe else 3


async def run(case: CaseFile) -> None:
    await enter_stage(case, Stage.organizing)
    app = case.application
    # The seed comes from the workflow's deterministic random and is kept with the draw,
    # so auditors can redo the draw from the stored pool snapshot.
    seed = workflow.random().randint(1, 2**31 - 1)
    case.panel = await workflow.execute_activity_method(
        Experts.draw_panel,
        PanelDrawRequest(
            case_id=case.case_id,
            stage=Stage.organizing,
            specialties=app.injury.specialties,
            size=panel_size(case),
            seed=seed,
            on=workflow.now().date(),
            citizen_id=app.worker.citizen_id,
            employer_credit_code=app.employer.credit_code,
            treating_hospitals=app.injury.treating_hospitals,
            treating_doctors=app.injury.treating_doctors,
        ),
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
    )
    await record_event(
        case,
        key="panel.drawn",
        kind="panel.drawn",
        actor="system",
        data={"seed": case.panel.seed, "members": case.panel_ids, "eligible": case.panel.eligible},
    )
    await workflow.execute_activity_method(
        Notifications.queue_message,
        OutboxMessage(
            case_id=case.case_id,
            stage=Stage.organizing,
            key="appraisal.notice",
            channel="sms",
            recipient="worker",
            subject="劳动能力鉴定通知",
            body={"mode": app.mode.value, "bring": ["身份证或社保卡", "病历原件", "影像资料"]},
        ),
        **STORAGE_OPTIONS,
    )
