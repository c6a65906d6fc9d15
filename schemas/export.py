"""Export the JSON Schemas other systems and the UI's users validate against.

`make schema` rewrites them; tests/unit/test_schemas.py fails when a model changed and the
committed files did not."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.application import AppraisalApplication
from schemas.events import ConclusionDecision, ExpertOpinion, PostalEvent
from schemas.status import CaseStatus

FOLDER = Path(__file__).resolve().parent / "json"
EXPORTED: dict[str, type[BaseModel]] = {
    "appraisal_application": AppraisalApplication,
    "expert_opinion": ExpertOpinion,
    "conclusion_decision": ConclusionDecision,
    "postal_event": PostalEvent,
    "case_status": CaseStatus,
}


def render(model: type[BaseModel]) -> str:
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def main() -> None:
    FOLDER.mkdir(exist_ok=True)
    for name, model in EXPORTED.items():
        (FOLDER / f"{name}.schema.json").write_text(render(model), encoding="utf-8")
        print(f"wrote schemas/json/{name}.schema.json")


if __name__ == "__main__":
    main()
