"""What the API needs from the application that serves it, gathered in one value.

The API lives in `ticket_sink`, which may import neither `correlator` nor `probes`: the
application passes in the pieces that need them (alert ingestion, extra operations
such as the probe results) as plain callables. This module must never import
the application.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from aiohttp import web

from ticket_sink.api.alert_models import IncomingAlert
from ticket_sink.api.auth import AccessPolicy
from ticket_sink.api.framework import Operation
from ticket_sink.sla import SlaPolicy
from ticket_sink.store import Store

__all__ = ["API_SETTINGS", "ApiSettings", "IngestFn"]

# Ingest a batch of alerts from `source` ("alertmanager", "api"); durable on return. The
# result is a summary of plain counts. May raise `NotAvailable`.
IngestFn = Callable[[Sequence[IncomingAlert], str], Awaitable[Mapping[str, int]]]


@dataclass(frozen=True)
class ApiSettings:
    store: Store
    policy: SlaPolicy  # for the SLA deadlines shown with each ticket
    access: AccessPolicy = field(default_factory=AccessPolicy)
    ingest: IngestFn | None = None  # None: POST /alerts answers 503
    extra_operations: Sequence[Operation] = ()
    max_body_bytes: int = 1024 * 1024
    body_timeout_seconds: float = 30.0  # the whole body, however slowly it trickles
    event_poll_seconds: float = 0.5
    keepalive_seconds: float = 15.0
    title: str = "vigie ticket API"
    version: str = "1"


API_SETTINGS = web.AppKey("api_settings", ApiSettings)
