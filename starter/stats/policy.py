"""The expert pool's evaluation policy (config/pool_policy.toml): when an expert's evaluations
(考核评价) flag them for review at the end of term. A flag, never a removal."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infra.settings import settings


class PoolPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    review_below: float = Field(gt=1, le=5, description="a mean score below this flags")
    min_evaluations: int = Field(ge=1, description="fewer evaluations flag nobody")

    def for_review(self, count: int, mean: float | None) -> bool:
        """Flagged for review at the end of term: enough evaluations, mean below the line."""
        return mean is not None and count >= self.min_evaluations and mean < self.review_below


class PolicyProblem(ValueError):
    """The policy file is missing or wrong: one line naming the file and the field."""


def load_pool_policy(path: Path | None = None) -> PoolPolicy:
    """`path`, else the settings' (POOL_POLICY_FILE, default config/pool_policy.toml)."""
    where = path or settings().pool_policy_file
    try:
        data = tomllib.loads(where.read_text(encoding="utf-8"))
        return PoolPolicy.model_validate(data)
    except OSError as error:
        raise PolicyProblem(f"cannot read the pool policy {where}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise PolicyProblem(f"the pool policy {where} is not TOML: {error}") from None
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in error.errors()
        )
        raise PolicyProblem(f"the pool policy {where}: {problems}") from None
