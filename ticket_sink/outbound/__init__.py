"""Telling on-call staff: the outbox worker and the sinks it delivers through (e-mail,
webhooks, chat, Events API v2, Alertmanager), with routing, quiet hours, silences and
retries.

The correlator and the SLA sweep only write outbox rows (`TicketTx.enqueue`); everything
from there to a receiver happens here. Nothing in this package decides what a ticket is
or changes one.
"""

from ticket_sink.outbound._base import Envelope, Sink
from ticket_sink.outbound.config import NotificationsConfig, parse_matcher
from ticket_sink.outbound.metrics import NotificationMetrics
from ticket_sink.outbound.outbox import (
    DeliveryRecord,
    NotificationRecord,
    notification_record_to_dict,
    ticket_notifications,
)
from ticket_sink.outbound.retry import Outcome, RetryPolicy, Verdict
from ticket_sink.outbound.routing import Silence
from ticket_sink.outbound.silences import (
    create_silence,
    expire_silence,
    list_silences,
    silence_to_dict,
)
from ticket_sink.outbound.sinks import build_sinks, notification_client
from ticket_sink.outbound.worker import OutboxWorker

__all__ = [
    "DeliveryRecord",
    "Envelope",
    "NotificationMetrics",
    "NotificationRecord",
    "NotificationsConfig",
    "OutboxWorker",
    "Outcome",
    "RetryPolicy",
    "Silence",
    "Sink",
    "Verdict",
    "build_sinks",
    "create_silence",
    "expire_silence",
    "list_silences",
    "notification_client",
    "notification_record_to_dict",
    "parse_matcher",
    "silence_to_dict",
    "ticket_notifications",
]
