"""The lab: a whole eDelivery environment on 127.0.0.1, in this process.

Two authoritative name servers for an SML zone in both naming schemes, a test PKI with
CRLs and an OCSP responder, two HTTPS SMPs signing their metadata, an HTTPS Access Point,
and a control interface to inject faults. `vigie demo`, the integration tests and the
benchmarks use it. It listens on loopback only and never contacts anything else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vigie.lab.access_point import LabAccessPoint
from vigie.lab.dns import LabNameServer
from vigie.lab.faults import Fault, FaultKind, Faults
from vigie.lab.pki import INTERMEDIATE, ROOT, IssuedCert, LabPki
from vigie.lab.pki_server import PkiServer
from vigie.lab.receiver import LabReceiver
from vigie.lab.service import LabService
from vigie.lab.smp import LabSmp
from vigie.lab.tls import TlsMaterial
from vigie.lab.zone import LabZone

__all__ = ["Lab", "LabSettings"]

SMP_NAMES = ("smp1", "smp2")
ACCESS_POINT_NAME = "ap1"
ENDPOINT_NAMES = (*SMP_NAMES, ACCESS_POINT_NAME)
NAMESERVER_NAMES = ("ns1", "ns2")
PKI, RECEIVER = "pki", "receiver"  # the other services, as `Lab.ports()` names them


@dataclass(frozen=True, slots=True)
class LabSettings:
    participants: int = 1000
    origin: str = "edelivery.test"
    host: str = "127.0.0.1"
    # Where the lab writes its CA certificates for outside tools (openssl, a real agent).
    workdir: Path | None = None
    # Ports by service name (`Lab.ports()` names them); a service not named gets a free one.
    ports: Mapping[str, int] = field(default_factory=dict)
    # Serve the PKI already in workdir/pki when it fits, instead of a new one.
    reuse_pki: bool = False


class Lab(LabService):
    """Start with `async with Lab() as lab:`; `lab.faults` injects and heals faults."""

    def __init__(self, settings: LabSettings | None = None) -> None:
        self.settings = settings or LabSettings()
        self.faults = Faults()
        ports = self.settings.ports
        self.pki_server = PkiServer(self.faults, host=self.settings.host, port=ports.get(PKI, 0))
        self.receiver = LabReceiver(host=self.settings.host, port=ports.get(RECEIVER, 0))
        self._pki: LabPki | None = None
        self._zone: LabZone | None = None
        self.access_point: LabAccessPoint | None = None
        self.smps: list[LabSmp] = []
        self.nameservers: list[LabNameServer] = []
        self._exit = contextlib.AsyncExitStack()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self._exit.aclose()
            raise

    async def _start(self) -> None:
        host = self.settings.host
        # The certificates carry the CRL and OCSP URLs, so the PKI server binds first.
        await self._exit.enter_async_context(self.pki_server)
        pki = self._pki = self._load_pki() or LabPki.generate(
            self.pki_server.url,
            endpoints=ENDPOINT_NAMES,
            hostnames={name: [f"{name}.{self.settings.origin}"] for name in ENDPOINT_NAMES},
        )
        self.pki_server.attach(pki)
        await self._exit.enter_async_context(self.receiver)
        if self.settings.workdir is not None:
            pki.write_pem_files(self.settings.workdir / "pki")
        ports = self.settings.ports

        self.access_point = LabAccessPoint(
            ACCESS_POINT_NAME,
            self.faults,
            _tls(pki.endpoint(ACCESS_POINT_NAME)),
            _tls(pki.expired(ACCESS_POINT_NAME)),
            host=host,
            port=ports.get(ACCESS_POINT_NAME, 0),
        )
        await self._exit.enter_async_context(self.access_point)
        for index, name in enumerate(SMP_NAMES):
            smp = LabSmp(
                name,
                self.faults,
                self._hosted_by(index),
                _tls(pki.endpoint(name)),
                _tls(pki.expired(name)),
                pki.signing.key,
                pki.signing.cert,
                signing_chain=pki.signing.chain[1:],
                access_point_url=f"{self.access_point.url}/as4",
                access_point_cert=pki.endpoint(ACCESS_POINT_NAME).cert,
                host=host,
                port=ports.get(name, 0),
            )
            await self._exit.enter_async_context(smp)
            self.smps.append(smp)

        # The zone publishes the SMPs' real URLs, known only now that they listen.
        self._zone = LabZone(
            origin=self.settings.origin,
            participants=self.settings.participants,
            smp_urls=[smp.url for smp in self.smps],
            nameservers=NAMESERVER_NAMES,
        )
        for name in NAMESERVER_NAMES:
            server = LabNameServer(
                self._zone, self.faults, name=name, host=host, port=ports.get(name, 0)
            )
            await self._exit.enter_async_context(server)
            self.nameservers.append(server)

    def _load_pki(self) -> LabPki | None:
        if not self.settings.reuse_pki or self.settings.workdir is None:
            return None
        return LabPki.load(self.settings.workdir / "pki", self.pki_server.url, ENDPOINT_NAMES)

    async def stop(self) -> None:
        await self._exit.aclose()

    # -- what the lab offers ---------------------------------------------------------------

    @property
    def pki(self) -> LabPki:
        if self._pki is None:
            raise RuntimeError("the lab is not started")
        return self._pki

    @property
    def zone(self) -> LabZone:
        if self._zone is None:
            raise RuntimeError("the lab is not started")
        return self._zone

    def ports(self) -> dict[str, int]:
        """The port of every service, by name: what `LabSettings.ports` takes back."""
        urls = {
            PKI: self.pki_server.url,
            RECEIVER: self.receiver.url,
            **{smp.name: smp.url for smp in self.smps},
        }
        if self.access_point is not None:
            urls[self.access_point.name] = self.access_point.url
        ports = {name: _port_of(url) for name, url in urls.items()}
        ports.update({server.name: server.address[1] for server in self.nameservers})
        return ports

    def nameserver_addresses(self) -> dict[str, str]:
        return {server.name: _host_port(server.address) for server in self.nameservers}

    def describe(self) -> dict[str, Any]:
        """Everything a person or a tool needs to point at the lab."""
        zone = self.zone
        assert self.access_point is not None
        return {
            "zone": zone.origin,
            "participants": len(zone),
            "sample_participants": [zone.participant(i) for i in range(min(5, len(zone)))],
            "nameservers": self.nameserver_addresses(),
            "smps": {smp.name: smp.url for smp in self.smps},
            "access_points": {self.access_point.name: self.access_point.url},
            "pki": {
                "crl": {ca: self.pki.crl_url(ca) for ca in (ROOT, INTERMEDIATE)},
                "ocsp": self.pki.ocsp_url,
                "trust_anchor": str(self.settings.workdir / "pki" / "root.pem")
                if self.settings.workdir
                else None,
            },
            "faults": [fault.as_dict() for fault in self.faults.active()],
            "notifications": self.receiver.url,
        }

    # -- faults ----------------------------------------------------------------------------

    def fault_targets(self, kind: FaultKind) -> list[str]:
        """What `target` may name for a fault `kind` (participants: a sample)."""
        if kind.name.startswith("NS_"):
            return list(NAMESERVER_NAMES)
        if kind.name.startswith("PARTICIPANT_"):
            return [self.zone.participant(i) for i in range(min(5, len(self.zone)))]
        if kind in (FaultKind.CRL_STALE, FaultKind.CRL_UNREACHABLE, FaultKind.CRL_BAD_SIGNATURE):
            return [ROOT, INTERMEDIATE]
        if kind is FaultKind.SMP_BAD_SIGNATURE:
            return list(SMP_NAMES)
        if kind in (FaultKind.CRL_LISTS_MONITORED, FaultKind.CERT_REVOKED):
            return [*SMP_NAMES, ACCESS_POINT_NAME]
        return [*SMP_NAMES, ACCESS_POINT_NAME]

    def inject(self, kind: FaultKind | str, target: str, **params: Any) -> Fault:
        """Inject a fault after checking that its target exists in this lab."""
        kind = FaultKind(kind)
        if kind.name.startswith("PARTICIPANT_"):
            if self.zone.index_of(target) is None:
                raise ValueError(f"{target!r} is not a participant of {self.zone.origin}")
        elif target not in self.fault_targets(kind):
            choices = ", ".join(self.fault_targets(kind))
            raise ValueError(f"{kind} cannot target {target!r}; choose one of: {choices}")
        return self.faults.inject(kind, target, **params)

    def _hosted_by(self, smp_index: int) -> _HostedBy:
        return _HostedBy(self, smp_index)


class _HostedBy:
    """`hosts(participant)` for one SMP: late-bound, since the zone is built after the SMPs."""

    __slots__ = ("_lab", "_smp_index")

    def __init__(self, lab: Lab, smp_index: int) -> None:
        self._lab = lab
        self._smp_index = smp_index

    def __call__(self, participant_id: str) -> bool:
        return self._lab.zone.smp_index(participant_id) == self._smp_index


def _tls(issued: IssuedCert) -> TlsMaterial:
    return TlsMaterial(chain_pem=issued.chain_pem(), key_pem=issued.key_pem())


def _host_port(address: tuple[str, int]) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None  # every lab URL names its port
    return port
