"""The application as the workflow receives it: raw, so that nothing a client sends (no
input, two inputs, null, a payload that is not JSON, a wrong field) can fail the first workflow
task over and over.
A bad application fails the case at once, naming each field and the reason, never a value;
it is the only thing that fails a case."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from workflows import rules

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from schemas.application import AppraisalApplication
    from schemas.problems import problems
    from schemas.strict import LOOSE

INVALID = "InvalidApplication"


def invalid(lines: list[str]) -> ApplicationError:
    listed = "\n".join(f"  - {line}" for line in lines)
    return ApplicationError(
        f"申请不符合要求, 案件未受理 (the application is not valid):\n{listed}",
        {"problems": lines},
        type=INVALID,
        non_retryable=True,
    )


def read_application(
    inputs: Sequence[RawValue], ruled: bool = True, strict: bool = True
) -> AppraisalApplication | ApplicationError:
    """The application, or the error that fails the case. `ruled`: held to the rules of
    `rules.application_problems` (False when replaying a case started before them);
    `strict`: held to strict input (schemas/strict.py; False when replaying a case started
    before the lean case)."""
    if len(inputs) != 1:
        return invalid(
            [
                f"input: 须为一份申请 (the input must be one application, a JSON object; "
                f"got {len(inputs)} inputs)"
            ]
        )
    try:
        data = workflow.payload_converter().from_payload(inputs[0].payload)
    except Exception:
        return invalid(["input: 无法读取, 申请须为 JSON 对象 (the input is not JSON)"])
    if not isinstance(data, dict):
        kind = "null" if data is None else type(data).__name__
        return invalid(
            [f"input: 申请须为 JSON 对象 (the application must be a JSON object, not {kind})"]
        )
    try:
        # A case from before strict input replays under the loose rules that accepted it.
        application = AppraisalApplication.model_validate(data, context=None if strict else LOOSE)
    except ValidationError as error:
        return invalid(problems(error))
    if ruled and (found := rules.application_problems(application)):
        return invalid(found)
    return application
