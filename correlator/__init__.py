"""The correlator: probe results become alerts (`rules`, `probe_alerts`), and alerts become
tickets (`decide` says what each does, `executor` carries it out on the store,
`Correlator` drives both and the sweep).

The pure modules (`fingerprint`, `rules`, `probe_alerts`, `decide`) never read a clock or
the store; only `Correlator` and its executor do I/O.
"""

from correlator.correlator import Correlator
from correlator.decide import (
    CreateTicket,
    NoChange,
    Placement,
    ReopenTicket,
    TicketCommand,
    Topology,
    UpdateTicket,
    decide,
    place,
)
from correlator.executor import CorrelationPolicy, IngestResult
from correlator.fingerprint import fingerprint
from correlator.probe_alerts import ProbeAlerts
from correlator.rules import DEFAULT_RULES, Alert, Rule
from ticket_sink.sweep import SweepResult

__all__ = [
    "DEFAULT_RULES",
    "Alert",
    "CorrelationPolicy",
    "Correlator",
    "CreateTicket",
    "IngestResult",
    "NoChange",
    "Placement",
    "ProbeAlerts",
    "ReopenTicket",
    "Rule",
    "SweepResult",
    "TicketCommand",
    "Topology",
    "UpdateTicket",
    "decide",
    "fingerprint",
    "place",
]
