"""The registry table: which configuration section becomes which checks, run by what.

Adding a protocol means one new module and one row below: `TARGETS` maps a configuration
section to its target model, to the checks it expands into and to the function that
runs each kind of those checks (docs/probers.md walks through one). `PROBERS`, the
kinds' functions, and the configuration's `targets` section (`vigie.config`) are read
off it. Importing this module imports every prober; a command that runs one kind imports
that prober's module alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
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
    """A configuration section: the model of its entries, how one becomes checks, and the
    function that runs each kind of check it makes."""

    model: type[TargetBase]
    expand: Callable[[Any, CheckDefaults], Iterable[Check]]
    probers: Mapping[str, Prober]
    description: str
    max_entries: int | None = None  # most entries the section takes (None: no limit)


TARGETS: dict[str, TargetSpec] = {
    "sml": TargetSpec(
        SmlTarget,
        expand_sml,
        {
            "dns_soa": probe_soa,
            "dns_zone": probe_zone,
            "dns_participant": probe_participant,
            "dns_sweep": probe_sweep,
        },
        "SML zones: SOA per name server, zone health, canary participants, list sweeps",
    ),
    "smp": TargetSpec(
        SmpTarget,
        expand_smp,
        {"smp": probe_smp},
        "SMPs: a participant's ServiceGroup, signed metadata, health",
    ),
    "certificates": TargetSpec(
        CertificateTarget,
        expand_certificates,
        {"x509": probe_x509},
        "certificates: a TLS endpoint's chain (url), PEM/DER files (file), or those "
        "published in SMP metadata (smp_metadata)",
    ),
    "crl": TargetSpec(
        CrlTarget,
        expand_crl,
        {"crl": probe_crl},
        "CRLs: a URL and the CRL distribution points of certificates",
    ),
    "ocsp": TargetSpec(
        OcspTarget,
        expand_ocsp,
        {"ocsp": probe_ocsp},
        "OCSP: a certificate's status from its responder",
    ),
    "http": TargetSpec(
        HttpTarget,
        expand_http,
        {"http": probe_http},
        "HTTP(S) endpoints: availability, phases, service objectives",
    ),
    "capacity": TargetSpec(
        CapacityTarget,
        expand_capacity,
        {"capacity": probe_capacity},
        "HTTP(S) endpoints: a bounded burst, rarely: headroom",
    ),
    "http_discovery": TargetSpec(
        HttpDiscoveryTarget,
        expand_http_discovery,
        {"http_discovery": probe_http_discovery},
        "HTTP(S) endpoints found by the SML and SMP checks (opt-in, capped)",
        max_entries=1,
    ),
}

# Every kind of check and the function that runs it, from the table above.
PROBERS: dict[str, Prober] = {
    kind: prober for spec in TARGETS.values() for kind, prober in spec.probers.items()
}
