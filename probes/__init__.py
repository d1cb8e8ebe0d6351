"""Probes: one module per protocol, one prober signature, one registry table.

Adding a protocol means one new module and one row in each table below: `TARGETS` maps a
configuration section to its target model and to the checks it expands into, `PROBERS`
maps a check kind to the function that runs it. This package imports none of vigie's
other packages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from probes._base import (
    Check,
    CheckDefaults,
    FailureReason,
    ProbeEnv,
    Prober,
    ProbeResult,
    Series,
)
from probes._config import TargetBase
from probes._metrics import ProbeCollector
from probes._runner import CheckRecord, ResultBook, Runner
from probes.dns import SmlTarget, expand_sml, probe_soa

__all__ = [
    "PROBERS",
    "TARGETS",
    "Check",
    "CheckDefaults",
    "CheckRecord",
    "FailureReason",
    "ProbeCollector",
    "ProbeEnv",
    "ProbeResult",
    "Prober",
    "ResultBook",
    "Runner",
    "Series",
    "TargetSpec",
]


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """A configuration section: the model of its entries and how one becomes checks."""

    model: type[TargetBase]
    expand: Callable[[Any, CheckDefaults], Iterable[Check]]
    description: str


TARGETS: dict[str, TargetSpec] = {
    "sml": TargetSpec(SmlTarget, expand_sml, "SML zones: SOA of each name server"),
    # -- smp --
    # -- certificates --
    # -- crl / ocsp --
}

PROBERS: dict[str, Prober] = {
    "dns_soa": probe_soa,
    # -- dns --
    # -- smp --
    # -- certificates --
    # -- crl / ocsp --
}
