"""The HTTP clients and TLS settings of the endpoint and SMP checks, one set per agent.

`ProbeEnv.clients` is an `EndpointClients`: one httpx client per (trust, HTTP/2,
keep-alive) combination and one `TlsClient` per trust for the fresh-connection path, so a
thousand targets share a handful of TLS contexts, and a `ca_file` is read the same way
for both. The clients copy the shared client's timeouts and headers and never follow
redirects (`probes.http_fetch` does, by its rules). Clients that keep connections hold
sockets: whoever owns the environment closes it (`ProbeEnv.aclose`). Nothing here raises
for a target's fault; httpx and the TLS stack are loaded when the first client is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probes.http_fetch import Failed, Problem

if TYPE_CHECKING:
    import ssl

    import httpx
    from cryptography import x509

    from probes._base import ProbeEnv
    from probes.tls_stream import TlsClient

__all__ = ["EndpointClients", "client_for", "client_for_endpoint", "tls_client_for"]

_MAX_CLIENTS = 32
_MAX_CONNECTIONS_PER_CLIENT = 64


@dataclass(frozen=True, slots=True)
class _ClientKey:
    ca_file: Path | None
    http2: bool
    keep_alive: bool
    verify: bool = True


class EndpointClients:
    """Clients of the endpoint checks by trust, HTTP/2 and keep-alive (one set per agent)."""

    def __init__(self) -> None:
        self._clients: dict[_ClientKey, httpx.AsyncClient] = {}
        self._contexts: dict[tuple[Path | None, bool], ssl.SSLContext] = {}
        self._tls_clients: dict[tuple[Path | None, bool], TlsClient] = {}

    def __len__(self) -> int:
        return len(self._clients)

    def context(self, ca_file: Path | None, verify: bool = True) -> ssl.SSLContext | Failed:
        """The httpx clients' TLS context that trusts `ca_file` (the system's roots for
        None), or that verifies nothing when `verify` is off (the chain is still read and
        reported)."""
        import ssl

        from cryptography.hazmat.primitives.serialization import Encoding

        context = self._contexts.get((ca_file, verify))
        if context is not None:
            return context
        anchors = _anchors(ca_file) if verify else None
        if isinstance(anchors, Failed):
            return anchors
        if anchors is None:
            context = ssl.create_default_context()
        else:
            pem = "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in anchors)
            context = ssl.create_default_context(cadata=pem)
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        _keep(self._contexts, (ca_file, verify), context)
        return context

    def tls_client(self, ca_file: Path | None, verify: bool = True) -> TlsClient | Failed:
        """The same trust as `context`, for the fresh-connection path."""
        from probes.tls_stream import TlsClient

        client = self._tls_clients.get((ca_file, verify))
        if client is not None:
            return client
        anchors = _anchors(ca_file) if verify else None
        if isinstance(anchors, Failed):
            return anchors
        client = TlsClient(verify=verify, anchors=anchors)
        _keep(self._tls_clients, (ca_file, verify), client)
        return client

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()

    def get(self, key: _ClientKey, template: httpx.AsyncClient) -> httpx.AsyncClient | Failed:
        import httpx

        from probes.http_client import attach_trace

        client = self._clients.get(key)
        if client is not None:
            return client
        verify = self.context(key.ca_file, key.verify)
        if isinstance(verify, Failed):
            return verify
        transport = httpx.AsyncHTTPTransport(
            verify=verify,
            http2=key.http2,
            trust_env=False,
            limits=httpx.Limits(
                max_connections=_MAX_CONNECTIONS_PER_CLIENT,
                # Without idle connections every check opens (and closes) its own; such a
                # client holds nothing that needs closing when it is dropped.
                max_keepalive_connections=_MAX_CONNECTIONS_PER_CLIENT if key.keep_alive else 0,
            ),
        )
        client = httpx.AsyncClient(
            transport=transport,
            event_hooks={"request": [attach_trace]},
            timeout=template.timeout,
            headers=template.headers,
            follow_redirects=False,
            trust_env=False,
        )
        _keep(self._clients, key, client)
        return client


def _anchors(ca_file: Path | None) -> list[x509.Certificate] | Failed | None:
    """The certificates of `ca_file` (None: the system's roots)."""
    from probes.certs import CertificateParseError, read_certificates

    if ca_file is None:
        return None
    try:
        return read_certificates(ca_file)
    except CertificateParseError as exc:
        return Failed(Problem.TLS, f"ca_file {ca_file}: {exc}")


def _keep(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """Store `value`, dropping the oldest entries past `_MAX_CLIENTS`."""
    while len(cache) >= _MAX_CLIENTS:
        del cache[next(iter(cache))]
    cache[key] = value


def tls_client_for(env: ProbeEnv, ca_file: Path | None, verify: bool = True) -> TlsClient | Failed:
    """The TLS settings of the fresh-connection path (`probes.http_fast`)."""
    return env.clients.tls_client(ca_file, verify)


def client_for_endpoint(
    env: ProbeEnv, *, ca_file: Path | None, http2: bool, keep_alive: bool, verify: bool = True
) -> httpx.AsyncClient | Failed:
    """The client a check with these settings uses (see the module docstring)."""
    if env.http is None:
        return Failed(Problem.INTERNAL, "no HTTP client in the probe environment")
    return env.clients.get(_ClientKey(ca_file, http2, keep_alive, verify), env.http)


def client_for(env: ProbeEnv, ca_file: Path | None) -> httpx.AsyncClient | Failed:
    """The shared client, or one that trusts exactly the certificates of `ca_file`.

    An httpx client carries one SSL context, so a private trust needs a client of its
    own. Those keep no idle connection: each run makes a fresh handshake, which is what a
    TLS check must see (a certificate swapped or expired since the last run). The CA file
    is read once, on first use; a changed file is read again after a restart.
    """
    if env.http is not None and ca_file is None:
        return env.http
    return client_for_endpoint(env, ca_file=ca_file, http2=False, keep_alive=False)
