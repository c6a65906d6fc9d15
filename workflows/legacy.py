"""Code paths of cases started before the core hardening (patch `hardened-core`, 2026-11).

Such a case replays its history on the current code: where the hardening changed the
commands a case issues, the old way lives here, taken only when `case.hardened` is False.
Delete this module (and the patch check, with `workflow.deprecate_patch`) once no case
started before the hardening is open and none needs replaying (see the README)."""

from __future__ import annotations

from temporalio import workflow

from workflows.case_file import CaseFile
from workflows.records import show
from workflows.stages.conclusion import LETTER_PATIENCE, letter, record_conclusion, render_pdf

with workflow.unsafe.imports_passed_through():
    from schemas.clock import CHINA_TZ
    from schemas.events import ConclusionDecision


async def issue_conclusion(case: CaseFile, decision: ConclusionDecision) -> str:
    """Before the hardening the update itself rendered and stored the letter."""
    case.decision = decision
    issued_at = workflow.now()
    document = await render_pdf(letter(case, decision, issued_at), LETTER_PATIENCE)
    await record_conclusion(case, decision, issued_at, document)
    case.concluded_on = issued_at.astimezone(CHINA_TZ).date()
    case.conclusion = decision.outcome
    show(case)
    return f"conclusion issued: {decision.outcome.label()} (document {document.document_id})"
