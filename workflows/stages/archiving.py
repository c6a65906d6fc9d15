"""Stage 5, archiving (案卷归档): seal the case file. The dispute window comes with delivery in depth."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.case_file import CaseFile
from workflows.records import enter_stage, show

with workflow.unsafe.imports_passed_through():
    from activities.archive import Archive
    from schemas.status import StageEntry
    from schemas.steps import ArchiveRequest, Stage


async def run(case: CaseFile, reason: str) -> None:
    await enter_stage(case, Stage.archiving)
    receipt = await workflow.execute_activity_method(
        Archive.archive_case,
        ArchiveRequest(
            case_id=case.case_id,
            stage=Stage.archiving,
            closed_reason=reason,
            archived_at=workflow.now(),
        ),
        start_to_close_timeout=timedelta(minutes=2),
        retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
    )
    case.closed_reason = reason
    case.archive_sha256 = receipt.sha256
    case.stage = Stage.archived
    case.stages.append(StageEntry(stage=Stage.archived, entered_at=workflow.now()))
    show(case)
