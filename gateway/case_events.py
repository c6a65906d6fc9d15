"""Events other systems report about one case: a hospital's examination results, a party's
re-appraisal request. Each goes to the case as an update; the answer is the case's own."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ValidationError

from gateway.clients import GatewayClient, Scope
from gateway.deps import Door, scoped
from gateway.errors import field_problems, invalid
from gateway.models import CaseAnswer, ExaminationResultsIn, ReAppraisalIn
from infra.logs import get_logger
from schemas.events import CaseEvent, ExaminationResults, ReAppraisalRequest

router = APIRouter(tags=["cases"])
log = get_logger(__name__)
CasePath = Annotated[
    str, Path(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9._:-]+$", description="case id")
]
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid token"},
    403: {"description": "the token lacks the scope"},
    404: {"description": "no such case"},
    409: {"description": "the case refused it (its reason), or the case is closed"},
    422: {"description": "malformed body"},
    503: {"description": "Temporal cannot be reached (Retry-After)"},
}


async def report(
    door: Door,
    client: GatewayClient,
    case_id: str,
    update: str,
    model: type[CaseEvent],
    given: BaseModel,
    **stated: Any,
) -> CaseAnswer:
    """`given` as the case event `model`, sent by `client` under its own event id space;
    `stated`: fields the gateway sets from the credential, never from the body."""
    fields = {**given.model_dump(exclude={"event_id"}), **stated}
    event_id = f"{client.client_id}:{given.model_dump()['event_id']}"
    try:
        event = model(event_id=event_id, actor=client.client_id, **fields)
    except ValidationError as error:
        raise invalid(field_problems(error.errors())) from None
    answer = await door.cases.update(case_id, update, event, event_id)
    log.info("case_event_accepted", update=update, case_id=case_id, client_id=client.client_id)
    return CaseAnswer(case_id=case_id, event_id=event_id, answer=answer)


@router.post(
    "/v1/cases/{case_id}/examination-results",
    response_model=CaseAnswer,
    summary="A hospital reports the examination results it was commissioned for (scope: examinations; the client's registered name must be the hospital the panel named)",
    responses=REFUSALS,
)
async def examination_results(
    case_id: CasePath,
    body: ExaminationResultsIn,
    door: Door,
    client: Annotated[GatewayClient, Depends(scoped(Scope.examinations))],
) -> CaseAnswer:
    # The hospital is the credential's: a hospital reports only where it was commissioned.
    return await report(
        door,
        client,
        case_id,
        "report_examination_results",
        ExaminationResults,
        body,
        hospital=client.name,
    )


@router.post(
    "/v1/cases/{case_id}/re-appraisal-requests",
    response_model=CaseAnswer,
    summary="A party's re-appraisal request, within the dispute window (scope: re_appraisal)",
    responses=REFUSALS,
)
async def re_appraisal_request(
    case_id: CasePath,
    body: ReAppraisalIn,
    door: Door,
    client: Annotated[GatewayClient, Depends(scoped(Scope.re_appraisal))],
) -> CaseAnswer:
    return await report(door, client, case_id, "request_re_appraisal", ReAppraisalRequest, body)
