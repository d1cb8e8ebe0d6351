"""Wiring the ticket API into the agent: tokens from the configuration, alert ingestion
through the correlator, the probe results and participant diagnoses as documented
operations.

`ticket_sink.api` may import neither `correlator` nor `probes`; this module, on the
application's side, adapts them. It must never hold state of its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from correlator.correlator import Correlator
from correlator.rules import Alert
from probes import ProbeEnv
from probes.dns import SmlTarget
from ticket_sink import Store
from ticket_sink.api import (
    ApiSettings,
    Call,
    IncomingAlert,
    IngestFn,
    Operation,
    Role,
)
from ticket_sink.sla import SlaPolicy
from vigie import __version__
from vigie.api_config import ApiConfig
from vigie.api_diagnosis import diagnosis_operation

__all__ = ["ProbeList", "api_settings"]


class ProbeOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    service: str
    target: str
    interval_seconds: float
    success: bool | None = Field(description="null until the first run ends")
    reason: str | None = Field(description="why it failed, or ok")
    detail: str | None
    duration_seconds: float | None
    finished_at: float | None = Field(description="Unix time of the last run's end")
    phases: dict[str, float] = Field(description="seconds per phase (resolve, connect, ...)")
    values: dict[str, float] = Field(description="what the check measured")
    runs: dict[str, int] = Field(description="runs so far, by outcome")


class ProbeList(BaseModel):
    """The latest result of every check this agent runs."""

    model_config = ConfigDict(extra="forbid")

    items: list[ProbeOut]


def _ingest(correlator: Correlator) -> IngestFn:
    async def ingest(alerts: Sequence[IncomingAlert], source: str) -> Mapping[str, int]:
        result = await correlator.ingest(
            [
                Alert(
                    labels=alert.labels,
                    annotations=alert.annotations,
                    severity=alert.severity,
                    starts_at=alert.starts_at,
                    ends_at=alert.ends_at,
                )
                for alert in alerts
            ],
            source=source,
        )
        return dict(result.counts)

    return ingest


def api_settings(
    config: ApiConfig,
    *,
    store: Store,
    policy: SlaPolicy,
    correlator: Correlator,
    probes: Callable[[web.Request], Awaitable[web.Response]],
    zones: Sequence[SmlTarget] = (),
    env: ProbeEnv | None = None,
) -> ApiSettings:
    async def probe_results(call: Call) -> web.Response:
        return await probes(call.request)

    probe_operation = Operation(
        "GET",
        "/probes",
        "listProbes",
        "The latest result of every check this agent runs",
        probe_results,
        Role.VIEWER,
        {200: ProbeList},
        tags=("probes",),
        errors=(401, 403),
    )
    return ApiSettings(
        store=store,
        policy=policy,
        access=config.access_policy(),
        ingest=_ingest(correlator),
        extra_operations=(
            probe_operation,
            diagnosis_operation(config.diagnosis, list(zones), env or ProbeEnv()),
        ),
        max_body_bytes=config.max_body_bytes,
        event_poll_seconds=config.event_poll_interval,
        version=__version__,
    )
