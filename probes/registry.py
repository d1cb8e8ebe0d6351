"""The registry tables: which configuration section becomes which checks, and which
function runs each kind of check.

Adding a protocol means one new module and one row in each table below: `TARGETS` maps a
configuration section to its target model and to the checks it expands into, `PROBERS`
maps a check kind to the function that runs it. Importing this module imports every
prober; a command that runs one kind imports that prober's module alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from probes._base import Check, CheckDefaults, Prober
from probes._config import TargetBase
from probes.capacity import CapacityTarget, expand_capacity, probe_capacity
from probes.crl import CrlTarget, expand_crl, probe_crl
from probes.dns import SmlTarget, expand_sml
from probes.dns_participant import probe_participant
from probes.dns_soa import probe_soa
from probes.dns_sweep import probe_sweep
from probes.dns_zone import probe_zone
from probes.http import HttpTarget, expand_http, probe_http
from probes.http_discovery import (
    HttpDiscoveryTarget,
    expand_http_discovery,
    probe_http_discovery,
)
from probes.ocsp import OcspTarget, expand_ocsp, probe_ocsp
from probes.smp import SmpTarget, expand_smp
from probes.smp_run import probe_smp
from probes.x509 import CertificateTarget, expand_certificates, probe_x509

__all__ = ["PROBERS", "TARGETS", "TargetSpec"]


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """A configuration section: the model of its entries and how one becomes checks."""

    model: type[TargetBase]
    expand: Callable[[Any, CheckDefaults], Iterable[Check]]
    description: str


TARGETS: dict[str, TargetSpec] = {
    "sml": TargetSpec(
        SmlTarget,
        expand_sml,
        "SML zones: SOA per name server, zone health, canary participants, list sweeps",
    ),
    # -- smp --
    "smp": TargetSpec(
        SmpTarget, expand_smp, "SMPs: a participant's ServiceGroup, signed metadata, health"
    ),
    # -- certificates --
    "certificates": TargetSpec(
        CertificateTarget,
        expand_certificates,
        "certificates: a TLS endpoint's chain (url), PEM/DER files (file), or those "
        "published in SMP metadata (smp_metadata)",
    ),
    # -- crl / ocsp --
    "crl": TargetSpec(
        CrlTarget, expand_crl, "CRLs: a URL and the CRL distribution points of certificates"
    ),
    "ocsp": TargetSpec(OcspTarget, expand_ocsp, "OCSP: a certificate's status from its responder"),
    # -- http / capacity --
    "http": TargetSpec(
        HttpTarget, expand_http, "HTTP(S) endpoints: availability, phases, service objectives"
    ),
    "capacity": TargetSpec(
        CapacityTarget, expand_capacity, "HTTP(S) endpoints: a bounded burst, rarely: headroom"
    ),
    "http_discovery": TargetSpec(
        HttpDiscoveryTarget,
        expand_http_discovery,
        "HTTP(S) endpoints found by the SML and SMP checks (opt-in, capped)",
    ),
}

PROBERS: dict[str, Prober] = {
    "dns_soa": probe_soa,
    # -- dns --
    "dns_zone": probe_zone,
    "dns_participant": probe_participant,
    "dns_sweep": probe_sweep,
    # -- smp --
    "smp": probe_smp,
    # -- certificates --
    "x509": probe_x509,
    # -- crl / ocsp --
    "crl": probe_crl,
    "ocsp": probe_ocsp,
    # -- http / capacity --
    "http": probe_http,
    "capacity": probe_capacity,
    "http_discovery": probe_http_discovery,
}
