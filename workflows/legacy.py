"""Code paths of cases started before the core hardening (patch `hardened-core`, 2026-11).

Such a case replays its history on the current code: where the hardening changed the
commands a case issues, the old way lives here, taken only when `case.hardened` is False.
Delete this module (and the patch check, with `workflow.deprecate_patch`) once no case
started before the hardening is open and none needs replaying (see the README)."""

from __future__ import annotations

from temporalio import workflow

from workflows.case_file import CaseFile
from workflows.records import ACTIVITY_OPTIONS, show
from workflows.stages.conclusion import LETTER_PATIENCE, _render, letter, queue_benefits_copy

with workflow.unsafe.imports_passed_through():
    from activities.storage import Storage
    from schemas.clock import CHINA_TZ
    from schemas.events import ConclusionDecision
    from schemas.steps import ConclusionRecord, Stage

HARDENED_CORE = "hardened-core"  # the patch id


async def issue_conclusion(case: CaseFile, decision: ConclusionDecision) -> str:
    """Before the hardening the update itself rendered and stored the letter."""
    case.decision_id = decision.event_id
    issued_at = workflow.now()
    document = await _render(letter(case, decision, issued_at), LETTER_PATIENCE)
    case.conclusion_document = document.document_id
    await workflow.execute_activity_method(
        Storage.record_conclusion,
        ConclusionRecord(
            case_id=case.case_id,
            stage=Stage.conclusion,
            outcome=decision.outcome,
            basis=decision.basis,
            issued_at=issued_at,
            issued_by=decision.actor,
        ),
        **ACTIVITY_OPTIONS,
    )
    await queue_benefits_copy(case, decision.outcome, document)
    case.concluded_on = issued_at.astimezone(CHINA_TZ).date()
    case.conclusion = decision.outcome
    show(case)
    return f"conclusion issued: {decision.outcome.label()} (document {document.document_id})"
