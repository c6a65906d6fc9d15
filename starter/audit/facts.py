"""What the audit reads from the case's Temporal history besides replaying it: the application
(for its receipt date and to know which strings are personal), the workflow's result when it
completed, and which event-log rows the history asked PostgreSQL to write."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class HistoryFacts:
    application: dict[str, Any] | None = None  # the decoded input
    result: dict[str, Any] | None = None  # CaseStatus as JSON, once the case completed
    # Keys of the case_events rows that completed recording activities wrote (None: unknown).
    recorded: set[str] | None = None
    # Rows of recording activities scheduled but not completed in this history: a running
    # activity may have written its row already; an archive's export ends before archiving.
    pending: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)  # payloads that could not be read
