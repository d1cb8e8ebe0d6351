"""HTTP for the SMP prober: one GET with capped size and redirects, failures as values.

`fetch` streams a body and stops reading past `max_body` bytes (decoded, so a compressed
bomb is capped too), follows at most `max_redirects` redirects by hand (the shared client
never follows them) and stops at the first URL seen twice. `client_for` gives the client
a target uses: the process's shared one, or, for a target with its own CA file, one of a
small set kept in `ProbeEnv.caches`. Nothing here raises for a target's fault.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from probes._base import FailureReason, ProbeEnv
from probes.certs import CertificateParseError, read_certificates

__all__ = ["CaClients", "Failed", "Fetched", "client_for", "fetch"]

# Clients with their own trust, one per CA file; more files than this and the oldest goes.
MAX_CA_CLIENTS = 32
_MAX_CONNECTIONS_PER_CA_CLIENT = 16
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # after redirects
    status: int
    headers: httpx.Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class Failed:
    reason: FailureReason
    detail: str


class CaClients:
    """Clients that trust one CA file each, kept in `ProbeEnv.caches` (one set per agent)."""

    CACHE_KEY = "ca_clients"

    def __init__(self) -> None:
        self._clients: dict[str, httpx.AsyncClient] = {}

    def __len__(self) -> int:
        return len(self._clients)

    def get(self, ca_file: Path, template: httpx.AsyncClient) -> httpx.AsyncClient | Failed:
        key = str(ca_file)
        client = self._clients.get(key)
        if client is not None:
            return client
        try:
            certificates = read_certificates(ca_file)
        except CertificateParseError as exc:
            return Failed(FailureReason.TLS_HANDSHAKE_FAILED, f"ca_file {ca_file}: {exc}")
        context = ssl.create_default_context(
            cadata="".join(_pem(certificate) for certificate in certificates)
        )
        client = httpx.AsyncClient(
            verify=context,
            timeout=template.timeout,
            headers=template.headers,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(
                max_connections=_MAX_CONNECTIONS_PER_CA_CLIENT, max_keepalive_connections=0
            ),
        )
        while len(self._clients) >= MAX_CA_CLIENTS:
            del self._clients[next(iter(self._clients))]
        self._clients[key] = client
        return client


def client_for(env: ProbeEnv, ca_file: Path | None) -> httpx.AsyncClient | Failed:
    """The shared client, or the one that trusts exactly the certificates of `ca_file`.

    An httpx client carries one SSL context, so a private trust needs a client of its
    own. Those keep no idle connection: each run makes a fresh handshake, which is what a
    TLS check must see (a certificate swapped or expired since the last run), and they
    hold nothing that needs closing when the agent stops or the oldest is dropped. The
    CA file is read once, on first use; a changed file is read again after a restart.
    """
    if env.http is None:
        return Failed(FailureReason.INTERNAL_ERROR, "no HTTP client in the probe environment")
    if ca_file is None:
        return env.http
    clients = env.caches.get(CaClients.CACHE_KEY)
    if not isinstance(clients, CaClients):
        clients = env.caches[CaClients.CACHE_KEY] = CaClients()
    return clients.get(ca_file, env.http)


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(Encoding.PEM).decode("ascii")


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    max_body: int,
    max_redirects: int,
    read_timeout: float,
    accept: str = "application/xml, text/xml;q=0.9, */*;q=0.1",
) -> Fetched | Failed:
    """GET `url`: the answer of whatever status, or why there is none."""
    visited = [url]
    current = httpx.URL(url)
    while True:
        try:
            async with client.stream(
                "GET", current, headers={"Accept": accept}, timeout=read_timeout
            ) as response:
                if response.status_code in _REDIRECT_STATUSES and response.next_request:
                    following = response.next_request.url
                else:
                    return await _read(response, max_body)
        except httpx.TimeoutException as exc:
            return Failed(FailureReason.TIMEOUT, f"{type(exc).__name__} after {read_timeout:g}s")
        except httpx.ConnectError as exc:
            return _connect_failure(exc)
        except httpx.UnsupportedProtocol as exc:
            return Failed(FailureReason.SMP_HTTP_ERROR, f"unsupported URL: {exc}")
        except (httpx.RemoteProtocolError, httpx.DecodingError) as exc:
            return Failed(FailureReason.MALFORMED_RESPONSE, f"broken HTTP answer: {exc}")
        except httpx.TransportError as exc:
            return Failed(FailureReason.NETWORK_ERROR, str(exc) or type(exc).__name__)
        if str(following) in visited:
            return Failed(
                FailureReason.SMP_REDIRECT_LOOP,
                f"redirect loop: {' -> '.join([*visited, str(following)][-4:])}",
            )
        if len(visited) > max_redirects:
            return Failed(
                FailureReason.SMP_REDIRECT_LOOP,
                f"more than {max_redirects} redirects (last to {following})",
            )
        visited.append(str(following))
        current = following


async def _read(response: httpx.Response, max_body: int) -> Fetched | Failed:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body:
        return Failed(
            FailureReason.SMP_TOO_LARGE,
            f"Content-Length {declared} is more than max_body ({max_body} bytes)",
        )
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_body:
            # Leaving the stream's block closes the connection: nothing more is read.
            return Failed(FailureReason.SMP_TOO_LARGE, f"more than {max_body} bytes, not read")
    return Fetched(str(response.url), response.status_code, response.headers, bytes(body))


def _connect_failure(exc: BaseException) -> Failed:
    """The cause httpx wraps: a TLS verification failure, a refusal, or another error."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            message = cause.verify_message or cause.reason or str(cause)
            return Failed(FailureReason.TLS_HANDSHAKE_FAILED, f"TLS: {message}")
        if isinstance(cause, ssl.SSLError):
            return Failed(FailureReason.TLS_HANDSHAKE_FAILED, f"TLS: {cause.reason or cause}")
        if isinstance(cause, ConnectionRefusedError):
            return Failed(FailureReason.CONNECTION_REFUSED, "connection refused")
        cause = cause.__cause__ or cause.__context__
    return Failed(FailureReason.NETWORK_ERROR, str(exc) or type(exc).__name__)
