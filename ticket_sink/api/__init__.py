"""The ticket API: tickets, alerts, known errors, reports and change events over HTTP.

`setup_api(app, ApiSettings(...))` serves it under /api/v1 from an aiohttp application;
the application passes in what `ticket_sink` may not import itself (alert ingestion,
extra operations such as the probe results).
"""

from ticket_sink.api.alert_models import IncomingAlert, severity_of
from ticket_sink.api.auth import AccessPolicy, ApiToken, Principal, Role, hash_token
from ticket_sink.api.framework import Call, Operation, json_response
from ticket_sink.api.problems import NotAvailable, Problem
from ticket_sink.api.routes import API_PREFIX, operations, setup_api
from ticket_sink.api.settings import API_SETTINGS, ApiSettings, IngestFn

__all__ = [
    "API_PREFIX",
    "API_SETTINGS",
    "AccessPolicy",
    "ApiSettings",
    "ApiToken",
    "Call",
    "IncomingAlert",
    "IngestFn",
    "NotAvailable",
    "Operation",
    "Principal",
    "Problem",
    "Role",
    "hash_token",
    "json_response",
    "operations",
    "setup_api",
    "severity_of",
]
