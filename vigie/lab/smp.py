"""The lab's SMP (Service Metadata Publisher): an HTTPS server on 127.0.0.1.

It answers what the probes ask a real Peppol SMP: the ServiceGroup of a participant it
hosts, the signed ServiceMetadata of each of its document types (pointing at the lab
Access Point), and the health endpoints of DomiSMP and phoss-SMP. Faults are consulted on
every request under the SMP's name (see `vigie.lab.endpoint`). It is a test double: it
must never persist anything nor accept writes (no SMP management API).
"""

from __future__ import annotations

import asyncio
import datetime
from collections import OrderedDict
from collections.abc import Callable, Sequence
from urllib.parse import unquote

from aiohttp import web
from cryptography import x509

from probes.naming import ParticipantId
from vigie.lab.endpoint import LabHttpsServer
from vigie.lab.faults import FaultKind, Faults
from vigie.lab.smp_xml import (
    DOCUMENT_TYPES,
    SigningKey,
    service_group_xml,
    signed_service_metadata_xml,
)
from vigie.lab.tls import TlsMaterial

__all__ = ["LabSmp"]

_XML = "text/xml"
# Signed documents kept; a few thousand covers the lab's benchmark populations.
_DEFAULT_CACHE_SIZE = 4096

_MetadataKey = tuple[str, str, str]  # participant, document type, access point URL


class LabSmp(LabHttpsServer):
    """A Peppol SMP 1.x serving every participant for which `hosts(participant)` is true.

    `hosts` receives `SCHEME::VALUE` lower-cased: participant identifiers compare
    case-insensitively in Peppol, as the SML's hashing of the lower-cased value does, so
    the answer does not depend on how the client spelled the identifier. The documents
    carry that lower-cased form. `access_point_url` may be changed while running; the
    signed documents are cached per participant, document type and that URL.
    """

    def __init__(
        self,
        name: str,
        faults: Faults,
        hosts: Callable[[str], bool],
        tls: TlsMaterial,
        expired_tls: TlsMaterial | None,
        signing_key: SigningKey,
        signing_cert: x509.Certificate,
        *,
        signing_chain: Sequence[x509.Certificate] = (),
        access_point_url: str,
        access_point_cert: x509.Certificate,
        host: str = "127.0.0.1",
        port: int = 0,
        cache_size: int = _DEFAULT_CACHE_SIZE,
    ) -> None:
        super().__init__(name, faults, tls, expired_tls, host, port)
        self.access_point_url = access_point_url
        self._hosts = hosts
        self._signing_key = signing_key
        self._signing_cert = signing_cert
        self._signing_chain = tuple(signing_chain)
        self._access_point_cert = access_point_cert
        self._cache_size = cache_size
        self._signed: OrderedDict[_MetadataKey, bytes] = OrderedDict()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        # Health routes first: the catch-all below would otherwise take them.
        router.add_get("/monitor/is-alive", self._is_alive)
        router.add_get("/smp-status/", self._smp_status)
        router.add_get("/ping", self._ping)
        router.add_get("/{identifiers:.+}", self._lookup)

    async def _is_alive(self, request: web.Request) -> web.Response:
        return web.Response(text="OK")  # DomiSMP

    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(text="pong")  # phoss-SMP

    async def _smp_status(self, request: web.Request) -> web.Response:
        now = datetime.datetime.now(datetime.UTC)
        return web.json_response(
            {  # phoss-SMP style keys, plus the overall status
                "status": "ok",
                "status.datetime": now.isoformat(timespec="seconds"),
                "version.smp": "vigie-lab",
                "smp.id": self.name,
                "smp.backend": "memory",
                "smp.mode": "lab",
            }
        )

    async def _lookup(self, request: web.Request) -> web.Response:
        # The route matched on aiohttp's decoded path; the identifiers are taken from the
        # raw path instead, split on "/" *before* percent-decoding each segment, so that an
        # encoded "/" (%2F) stays inside its identifier. Raw, unencoded identifiers work
        # too ("::" and ":" are legal in a path segment); only "#" must be encoded.
        segments = [unquote(segment) for segment in request.rel_url.raw_path.split("/")[1:]]
        participant = self._hosted(segments[0])
        if participant is None:
            raise web.HTTPNotFound(text="participant not hosted here\n")
        if len(segments) == 1:
            # References use the origin the client addressed (Host header), as real SMPs do.
            body = service_group_xml(participant, str(request.url.origin()))
            return web.Response(body=body, content_type=_XML, charset="utf-8")
        if len(segments) == 3 and segments[1] == "services" and segments[2] in DOCUMENT_TYPES:
            body = await self._signed_metadata(participant, segments[2])
            if self.faults.get(FaultKind.SMP_BAD_SIGNATURE, self.name) is not None:
                # Altered after signing, as a proxy or a broken SMP would: the signature
                # no longer covers what is served.
                body = body.replace(b"/as4<", b"/as4-altered<", 1)
            return web.Response(body=body, content_type=_XML, charset="utf-8")
        raise web.HTTPNotFound(text="no such service metadata\n")

    def _hosted(self, text: str) -> ParticipantId | None:
        if "::" not in text:
            # The path was decoded once; a real SMP decodes no more, so neither does the
            # lab (ParticipantId.parse would decode a pasted SMP URL form again).
            return None
        try:
            parsed = ParticipantId.parse(text)
        except ValueError:
            return None
        if parsed.scheme is None:
            return None
        participant = ParticipantId(parsed.scheme.lower(), parsed.value.lower())
        return participant if self._hosts(str(participant)) else None

    async def _signed_metadata(self, participant: ParticipantId, document_type: str) -> bytes:
        key = (str(participant), document_type, self.access_point_url)
        cached = self._signed.get(key)
        if cached is not None:
            self._signed.move_to_end(key)
            return cached
        # Off the event loop: signing takes milliseconds, and the other lab servers share
        # this loop. Two concurrent misses for one key both sign; the result is the same.
        document = await asyncio.to_thread(
            signed_service_metadata_xml,
            participant,
            document_type,
            self.access_point_url,
            self._access_point_cert,
            self._signing_key,
            self._signing_cert,
            self._signing_chain,
        )
        self._signed[key] = document
        while len(self._signed) > self._cache_size:
            self._signed.popitem(last=False)
        return document
