"""The lab's PKI services: CRL distribution points, the OCSP responder, CA certificates.

`PkiServer` serves over HTTP what the lab's certificates point at (CRL DP, AIA OCSP and
caIssuers) and consults the lab's faults on every request, so that the PKI probes see
stale, forged, unreachable or incriminating CRLs and revoked OCSP answers on demand. It
binds before the PKI exists (the certificates must carry its URL): `start()`, generate a
`LabPki` for `url`, then `attach()` it; until then it answers 503. `build_ocsp_response`
is the responder's pure core, usable without a server. Nothing here may bind anything but
the address it is given, block the event loop while a fault holds a request, or sign with
a key its `LabPki` does not hold.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp

from vigie.lab.faults import Fault, FaultKind, Faults
from vigie.lab.pki import INTERMEDIATE, ROOT, IssuedCert, LabPki, Revocation
from vigie.lab.service import LabService, serve_app

__all__ = ["STALE_CRL_WINDOW", "CrlWindow", "PkiServer", "build_ocsp_response"]

_CA_NAMES = (ROOT, INTERMEDIATE)
# A real CA reissues its CRL well before nextUpdate; without this a long-running lab would
# serve a cached CRL that goes stale by itself.
CRL_REISSUE_INTERVAL = timedelta(hours=1)
# Revocations are backdated so that they predate the thisUpdate of the first CRL listing them.
REVOCATION_BACKDATE = timedelta(hours=2)
OCSP_VALIDITY = timedelta(hours=1)
# Status recorded for a dropped request (nobody receives it): nginx's code for "closed
# without a response", so middlewares and logs never mistake a drop for an answer.
_NO_RESPONSE = 444
# Long enough for a normal answer to finish, short enough not to stall a test run.
_SHUTDOWN_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class CrlWindow:
    """thisUpdate and nextUpdate of a CA's CRL, as signed offsets from the time it is issued."""

    this_update_offset: timedelta = timedelta(hours=-1)
    next_update_offset: timedelta = timedelta(hours=24)


STALE_CRL_WINDOW = CrlWindow(timedelta(hours=-48), timedelta(hours=-24))


@dataclass(frozen=True, slots=True)
class _IssuedCrl:
    cache_key: tuple[int, CrlWindow]  # (faults.version, window); attach() clears the cache
    issued_at: datetime
    der: bytes


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PkiServer(LabService):
    """Serves the attached `LabPki` over HTTP on `host:port` (port 0: the system picks).

    Routes: `GET /crl/{root,intermediate}.crl`, `POST /ocsp`, `GET /ocsp/{base64 request}`
    (RFC 6960 A.1), `GET /ca/{root,intermediate}.crt`. `served` counts requests per route
    (`"crl/root"`, `"ocsp"`, `"ca/intermediate"`, ...), faulted ones included.
    """

    def __init__(
        self,
        faults: Faults,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Callable[[], datetime] = _utc_now,
        crl_windows: Mapping[str, CrlWindow] | None = None,
    ) -> None:
        self.faults = faults
        self.served: Counter[str] = Counter()
        self._host = host
        self._port = port
        self._clock = clock
        self._windows = {name: CrlWindow() for name in _CA_NAMES}
        for ca_name, window in (crl_windows or {}).items():
            self.set_crl_window(ca_name, window.this_update_offset, window.next_update_offset)
        self._pki: LabPki | None = None
        self._crl_numbers = dict.fromkeys(_CA_NAMES, 0)  # last issued: only ever increases
        self._issued_crls: dict[str, _IssuedCrl] = {}
        self._revoked_at: dict[int, datetime] = {}  # fault id -> revocation time it stands for
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._stopping = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """`http://HOST:PORT`: the base_url to generate the `LabPki` with."""
        if self._url is None:
            raise RuntimeError("the lab PKI server is not started")
        return self._url

    @property
    def pki(self) -> LabPki:
        if self._pki is None:
            raise RuntimeError("no LabPki attached to the lab PKI server")
        return self._pki

    def attach(self, pki: LabPki) -> None:
        """Serve `pki` from now on (its URLs should point at `url`)."""
        self._pki = pki
        self._issued_crls.clear()

    def set_crl_window(
        self, ca_name: str, this_update_offset: timedelta, next_update_offset: timedelta
    ) -> None:
        if ca_name not in _CA_NAMES:
            raise KeyError(f"no CA named {ca_name!r}")
        self._windows[ca_name] = CrlWindow(this_update_offset, next_update_offset)

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("the lab PKI server is already started")
        app = web.Application()
        app.router.add_get("/crl/{ca}.crl", self._handle_crl)
        app.router.add_post("/ocsp", self._handle_ocsp_post)
        app.router.add_get("/ocsp/{request:.+}", self._handle_ocsp_get)
        app.router.add_get("/ca/{ca}.crt", self._handle_ca_certificate)
        self._runner, address = await serve_app(
            app, self._host, self._port, shutdown_timeout=_SHUTDOWN_TIMEOUT_SECONDS
        )
        self._stopping.clear()
        self._url = f"http://{address}"

    async def stop(self) -> None:
        runner, self._runner, self._url = self._runner, None, None
        if runner is not None:
            self._stopping.set()  # releases requests held by CRL_UNREACHABLE mode=hang
            await runner.cleanup()

    # -- handlers ------------------------------------------------------------------------

    async def _handle_crl(self, request: web.Request) -> web.StreamResponse:
        ca_name = _ca_name(request)
        self.served[f"crl/{ca_name}"] += 1
        pki = self._attached()
        unreachable = self.faults.get(FaultKind.CRL_UNREACHABLE, ca_name)
        if unreachable is not None:
            return await self._drop(request, unreachable)
        return web.Response(body=self._crl_der(pki, ca_name), content_type="application/pkix-crl")

    async def _handle_ocsp_post(self, request: web.Request) -> web.StreamResponse:
        return self._ocsp_answer(await request.read())

    async def _handle_ocsp_get(self, request: web.Request) -> web.StreamResponse:
        # RFC 6960 A.1 wants the base64 URL-encoded; tolerate clients that do not encode it.
        try:
            request_der = base64.b64decode(unquote(request.match_info["request"]), validate=True)
        except binascii.Error:
            request_der = b""  # answered malformedRequest, as any undecodable request
        return self._ocsp_answer(request_der)

    async def _handle_ca_certificate(self, request: web.Request) -> web.StreamResponse:
        ca_name = _ca_name(request)
        self.served[f"ca/{ca_name}"] += 1
        der = self._attached().ca(ca_name).cert.public_bytes(serialization.Encoding.DER)
        return web.Response(body=der, content_type="application/pkix-cert")

    # -- behaviour -----------------------------------------------------------------------

    def _attached(self) -> LabPki:
        if self._pki is None:
            raise web.HTTPServiceUnavailable(text="lab PKI not generated yet\n")
        return self._pki

    async def _drop(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        """Close the connection without any HTTP response, at once or after a hang."""
        mode = fault.param("mode", "abort")
        if mode == "hang":
            # Waits on the stop event rather than sleeping, so stop() is never held up.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), float(fault.param("delay", 30)))
        elif mode != "abort":
            raise ValueError(f"CRL_UNREACHABLE mode must be 'abort' or 'hang', not {mode!r}")
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=_NO_RESPONSE)  # never reaches the client

    def _crl_der(self, pki: LabPki, ca_name: str) -> bytes:
        """The CA's current CRL, re-signed only when faults, window or age call for it."""
        now = self._clock()
        stale = self.faults.get(FaultKind.CRL_STALE, ca_name) is not None
        window = STALE_CRL_WINDOW if stale else self._windows[ca_name]
        cache_key = (self.faults.version, window)
        max_age = min(
            CRL_REISSUE_INTERVAL, (window.next_update_offset - window.this_update_offset) / 2
        )
        issued = self._issued_crls.get(ca_name)
        if (
            issued is not None
            and issued.cache_key == cache_key
            and now - issued.issued_at < max_age
        ):
            return issued.der

        issued_by_ca = pki.issued_serials(ca_name)
        revoked = self._revocations(
            pki, (FaultKind.CERT_REVOKED, FaultKind.CRL_LISTS_MONITORED), now
        )
        forged = self.faults.get(FaultKind.CRL_BAD_SIGNATURE, ca_name) is not None
        self._crl_numbers[ca_name] += 1
        crl = pki.build_crl(
            ca_name,
            (entry for entry in revoked if entry.serial_number in issued_by_ca),
            now + window.this_update_offset,
            now + window.next_update_offset,
            crl_number=self._crl_numbers[ca_name],
            signer_key=pki.impostor_key if forged else None,
        )
        der = crl.public_bytes(serialization.Encoding.DER)
        self._issued_crls[ca_name] = _IssuedCrl(cache_key, now, der)
        return der

    def _ocsp_answer(self, request_der: bytes) -> web.Response:
        self.served["ocsp"] += 1
        pki = self._attached()
        now = self._clock()
        # CRL_LISTS_MONITORED is deliberately absent: the CRL and OCSP then disagree.
        revoked = self._revocations(pki, (FaultKind.CERT_REVOKED,), now)
        body = build_ocsp_response(pki, request_der, revoked, now)
        return web.Response(body=body, content_type="application/ocsp-response")

    def _revocations(
        self, pki: LabPki, kinds: Iterable[FaultKind], now: datetime
    ) -> list[Revocation]:
        """The baseline revocations plus those the active faults of `kinds` call for."""
        by_serial = {entry.serial_number: entry for entry in pki.baseline_revocations()}
        for kind in kinds:
            for target in self.faults.targets(kind):
                fault = self.faults.get(kind, target)
                try:
                    serial = pki.by_name(target).cert.serial_number
                except KeyError:
                    continue  # not one of this PKI's certificates: nothing to revoke
                if fault is None or serial in by_serial:
                    continue
                # Fixed the first time the fault is seen, so CRL and OCSP agree across requests.
                revoked_at = self._revoked_at.setdefault(fault.id, now - REVOCATION_BACKDATE)
                by_serial[serial] = Revocation(serial, revoked_at)
        return list(by_serial.values())


def _ca_name(request: web.Request) -> str:
    ca_name = request.match_info["ca"]
    if ca_name not in _CA_NAMES:
        raise web.HTTPNotFound(text=f"no CA named {ca_name!r}\n")
    return ca_name


# -- OCSP, pure --------------------------------------------------------------------------


def build_ocsp_response(
    pki: LabPki, request_der: bytes, revoked: Iterable[Revocation], now: datetime
) -> bytes:
    """DER OCSP response to `request_der`, as the lab's responder answers it.

    The delegated responder (its certificate included) answers for the intermediate's
    certificates; the root answers for the intermediate itself.
    """
    try:
        request = ocsp.load_der_ocsp_request(request_der)
        algorithm = request.hash_algorithm
        cert_id = (request.issuer_name_hash, request.issuer_key_hash)
        nonce = _nonce(request)
    except (ValueError, UnsupportedAlgorithm):
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    served = (ca for ca in (pki.intermediate, pki.root) if _cert_id(ca, algorithm) == cert_id)
    ca = next(served, None)
    if ca is None:
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)

    serial = request.serial_number
    revocation = next((entry for entry in revoked if entry.serial_number == serial), None)
    if serial not in pki.issued_serials(ca.name):
        status, revocation = ocsp.OCSPCertStatus.UNKNOWN, None
    elif revocation is not None:
        status = ocsp.OCSPCertStatus.REVOKED
    else:
        status = ocsp.OCSPCertStatus.GOOD
    responder = pki.ocsp_responder if ca is pki.intermediate else pki.root
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=cert_id[0],
            issuer_key_hash=cert_id[1],
            serial_number=serial,
            algorithm=algorithm,
            cert_status=status,
            this_update=now,
            next_update=now + OCSP_VALIDITY,
            revocation_time=revocation.revoked_at if revocation else None,
            revocation_reason=revocation.reason if revocation else None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, responder.cert)
    )
    if responder is not ca:
        # A client cannot verify a delegated signature without the responder's certificate.
        builder = builder.certificates([responder.cert])
    if nonce is not None:
        # Echoed so that clients which sent one (openssl does) accept the answer as fresh.
        builder = builder.add_extension(nonce, critical=False)
    response = builder.sign(responder.key, hashes.SHA256())
    return response.public_bytes(serialization.Encoding.DER)


def _cert_id(ca: IssuedCert, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of the RFC 6960 CertID of certificates `ca` issued."""
    public_key = ca.key.public_key()
    # The key hash covers the subjectPublicKey BIT STRING's contents only, not the SPKI.
    if isinstance(public_key, rsa.RSAPublicKey):
        key_bits = public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        )
    else:
        key_bits = public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    return _digest(algorithm, ca.cert.subject.public_bytes()), _digest(algorithm, key_bits)


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize()


def _nonce(request: ocsp.OCSPRequest) -> x509.OCSPNonce | None:
    try:
        return request.extensions.get_extension_for_class(x509.OCSPNonce).value
    except x509.ExtensionNotFound:
        return None


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    response = ocsp.OCSPResponseBuilder.build_unsuccessful(status)
    return response.public_bytes(serialization.Encoding.DER)
