"""The configuration every prober's targets share: `TargetBase`.

Each prober module declares the model of its own targets on top of `TargetBase`; the
application's configuration composes them. The types they are written in (durations,
addresses, URLs, `StrictModel`) are the shared vocabulary of `vocab`.
"""

from __future__ import annotations

from pydantic import Field

from probes._base import CheckDefaults
from vocab import PositiveDuration, StrictModel

__all__ = ["TargetBase"]


class TargetBase(StrictModel):
    """Settings every target has; unset ones fall back to the configuration's defaults."""

    interval: PositiveDuration | None = Field(
        None, description="time between two runs of each check; unset: defaults.interval"
    )
    timeout: PositiveDuration | None = Field(
        None, description="time limit of one run; unset: defaults.timeout"
    )
    retries: int | None = Field(
        None,
        ge=0,
        le=5,
        description="extra attempts before a failure is reported; unset: defaults.retries",
    )

    def timing(self, defaults: CheckDefaults) -> CheckDefaults:
        """This target's interval, timeout and retries, falling back to `defaults`."""
        return CheckDefaults(
            interval=defaults.interval if self.interval is None else self.interval,
            timeout=defaults.timeout if self.timeout is None else self.timeout,
            retries=defaults.retries if self.retries is None else self.retries,
        )
