"""Fault injection state shared by the lab's servers.

The lab's servers consult this object on every request; the control interface (Python API
and the lab's HTTP control endpoint) and the demo scenario change it. It holds state only:
it never talks to the network itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from vocab.errors import InputError

__all__ = ["Fault", "FaultKind", "Faults", "UnknownFaultError"]


class FaultKind(StrEnum):
    """Every fault the lab can inject, with what `target` names for each."""

    NS_DOWN = "ns_down"  # target: name server ("ns1"); it drops every query
    NS_SLOW = "ns_slow"  # target: name server; params: delay (seconds, default 2)
    NS_SERVFAIL = "ns_servfail"  # target: name server; it answers SERVFAIL
    NS_SERIAL_SKEW = "ns_serial_skew"  # target: name server; params: offset (default 1)
    PARTICIPANT_REMOVED = "participant_removed"  # target: participant id; NXDOMAIN in both schemes
    PARTICIPANT_WRONG_SMP = "participant_wrong_smp"  # target: participant id; params: smp
    CRL_STALE = "crl_stale"  # target: CA ("root" or "intermediate"); nextUpdate in the past
    CRL_UNREACHABLE = "crl_unreachable"  # target: CA; the CRL URL hangs then fails
    CRL_BAD_SIGNATURE = "crl_bad_signature"  # target: CA; CRL signed by a foreign key
    CRL_LISTS_MONITORED = "crl_lists_monitored"  # target: certificate name; listed in its CA's CRL
    CERT_EXPIRED = "cert_expired"  # target: endpoint ("smp1", "ap1"); serves an expired certificate
    CERT_REVOKED = "cert_revoked"  # target: certificate name; listed in the CRL, OCSP says revoked
    SMP_SLOW = "smp_slow"  # target: endpoint; params: delay (seconds, default 2)
    SMP_5XX = "smp_5xx"  # target: endpoint; params: status (default 503)
    SMP_SATURATED = "smp_saturated"  # target: endpoint; params: capacity (concurrent, default 2)
    SMP_BAD_SIGNATURE = "smp_bad_signature"  # target: SMP; metadata altered after signing


@dataclass(frozen=True, slots=True)
class Fault:
    id: int
    kind: FaultKind
    target: str
    params: dict[str, Any] = field(default_factory=dict)

    def param(self, name: str, default: Any) -> Any:
        return self.params.get(name, default)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": str(self.kind), "target": self.target, "params": self.params}


class UnknownFaultError(InputError, KeyError):
    """No active fault has that id."""


class Faults:
    """The set of active faults, looked up by (kind, target) in O(1)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._by_id: dict[int, Fault] = {}
        self._by_key: dict[tuple[FaultKind, str], Fault] = {}
        self._listeners: list[Callable[[], None]] = []
        # Bumped on every change, so servers can cache what they derive from faults (CRLs).
        self.version = 0

    def inject(self, kind: FaultKind | str, target: str, **params: Any) -> Fault:
        """Activate a fault; injecting the same kind on the same target replaces it."""
        kind = FaultKind(kind)
        previous = self._by_key.get((kind, target))
        if previous is not None:
            del self._by_id[previous.id]
        fault = Fault(next(self._ids), kind, target, dict(params))
        self._by_id[fault.id] = fault
        self._by_key[(kind, target)] = fault
        self._changed()
        return fault

    def heal(self, fault_id: int) -> Fault:
        try:
            fault = self._by_id.pop(fault_id)
        except KeyError:
            raise UnknownFaultError(fault_id) from None
        del self._by_key[(fault.kind, fault.target)]
        self._changed()
        return fault

    def heal_all(self) -> None:
        self._by_id.clear()
        self._by_key.clear()
        self._changed()

    def active(self) -> list[Fault]:
        return sorted(self._by_id.values(), key=lambda fault: fault.id)

    def get(self, kind: FaultKind, target: str) -> Fault | None:
        """The active fault of `kind` on `target`, if any (the servers' hot path)."""
        return self._by_key.get((kind, target))

    def targets(self, kind: FaultKind) -> list[str]:
        return [target for (k, target) in self._by_key if k is kind]

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        self.version += 1
        for listener in self._listeners:
            listener()
