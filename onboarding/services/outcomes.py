"""What a pipeline step service can report besides a GraphError: done, retry, wait, or fail."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class StepOutcome:
    """A step finished: `result` holds the ids Meta returned (never secrets)."""

    result: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    skipped: bool = False


class StepRetry(Exception):
    """Not done yet for a reason of ours (e.g. Meta does not list the override yet): back off."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StepWait(Exception):
    """Do not try again before `until` (e.g. our own count of register calls is at the limit)."""

    def __init__(self, reason: str, *, until: datetime) -> None:
        super().__init__(reason)
        self.reason = reason
        self.until = until


class StepFailed(Exception):
    """The step cannot succeed without a person acting; `reason` says what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
