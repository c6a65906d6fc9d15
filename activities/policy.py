"""Loads the deadline policy from its config file. Called once per case, at acceptance: the
result is recorded in the case history, so replays and later stages never read the file."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from schemas.policy import DeadlinePolicy


def read_policy(path: Path) -> DeadlinePolicy:
    try:
        return DeadlinePolicy.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as error:
        # Retrying will not fix a broken file, but an operator can: the activity keeps failing
        # visibly (non-retryable would fail the case) until the file is mended.
        raise ApplicationError(
            f"deadline policy {path} is not usable: {error}", type="BadPolicy"
        ) from None


class Policies:
    def __init__(self, path: Path) -> None:
        self.path = path

    @activity.defn(name="load_policy")
    async def load_policy(self) -> DeadlinePolicy:
        return read_policy(self.path)
