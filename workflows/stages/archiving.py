"""Stage 5, archiving (案卷归档): the dispute window (cases under delivery in full,
workflows/stages/dispute.py), then seal the case file (the archive package,
activities/package.py)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.case_file import CaseFile
from workflows.records import enter_stage, show, written
from workflows.stages import dispute

with workflow.unsafe.imports_passed_through():
    from activities.archive import Archive
    from schemas.status import StageEntry
    from schemas.steps import ArchiveRequest, Stage
    from schemas.vocabulary import CloseReason


async def run(case: CaseFile) -> None:
    if case.full_delivery and case.closed is None:  # delivered: the dispute window first
        await enter_stage(case, Stage.archiving)
        await dispute.run(case)
    else:
        if case.closed is None:
            case.closed = CloseReason.delivered
        await enter_stage(case, Stage.archiving)
    assert case.closed_text is not None
    request = ArchiveRequest(
        case_id=case.case_id,
        stage=Stage.archiving,
        closed_reason=case.closed_text,
        archived_at=workflow.now(),
    )
    if case.archive_package:  # the package: its parts come from the case as it stands
        request = request.model_copy(
            update={
                "package": True,
                "materials": case.application.materials,
                "supplemented": case.supplied,
                "shipments": list(case.shipments.values()),
                "retention_years": case.policy.archive_retention_years if case.policy else None,
            }
        )
    await written(case)  # the package holds every event the case journaled
    receipt = await workflow.execute_activity_method(
        Archive.archive_case,
        request,
        start_to_close_timeout=timedelta(minutes=2),
        retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
        summary="封存案卷 (seal the case file)"
        if not case.archive_package
        else "封存案卷包 (seal the archive package: parts, SHA-256, history)",
    )
    case.archive_sha256 = receipt.sha256
    case.archive_seal = receipt.seal  # also in the result: a copy PostgreSQL's owner cannot edit
    case.stage = Stage.archived
    case.stages.append(StageEntry(stage=Stage.archived, entered_at=workflow.now()))
    show(case)
