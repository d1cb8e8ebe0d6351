"""Clients, TLS settings and connection tracing for the endpoint checks (probes/http.py).

A fresh-connection HTTP/1.1 check (the default) goes through `probes.http_fast` with a
`TlsClient` from here; `keep_alive` and `http2` checks go through an httpx client from
here: one per (trust, HTTP/2, keep-alive) combination. Both are kept in `ProbeEnv.caches`,
so a thousand targets share a handful of TLS contexts, and both read a `ca_file` the same
way. They copy the shared client's timeouts
and headers. Clients that keep connections hold sockets: whoever owns the environment
calls `close_endpoint_clients(env)` at shutdown. Their transport hands each request the
`Trace` of the check in progress (a context variable, so the SMP fetch loop in
`probes.smp_http` is reused as it is), and `Trace` turns httpcore's `trace` events into
phase timings and TLS facts. Nothing here raises for a target's fault.
"""

from __future__ import annotations

import ssl
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from probes._base import FailureReason, ProbeEnv
from probes.certs import CertificateParseError, read_certificates
from probes.smp_http import Failed
from probes.tls_chain import presented_chain
from probes.tls_stream import TlsClient

__all__ = [
    "CURRENT_TRACE",
    "EndpointClients",
    "TlsFacts",
    "Trace",
    "client_for_endpoint",
    "close_endpoint_clients",
    "tls_client_for",
]

_MAX_CLIENTS = 32
_MAX_CONNECTIONS_PER_CLIENT = 64


class _TracedTransport(httpx.AsyncBaseTransport):
    """Adds the running check's trace callback to each request it sends."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        trace = CURRENT_TRACE.get()
        if trace is not None:
            request.extensions["trace"] = trace
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(frozen=True, slots=True)
class _ClientKey:
    ca_file: Path | None
    http2: bool
    keep_alive: bool
    verify: bool = True


class EndpointClients:
    """Clients of the endpoint checks by trust, HTTP/2 and keep-alive (one set per agent)."""

    CACHE_KEY = "endpoint_clients"

    def __init__(self) -> None:
        self._clients: dict[_ClientKey, httpx.AsyncClient] = {}
        self._contexts: dict[tuple[Path | None, bool], ssl.SSLContext] = {}
        self._tls_clients: dict[tuple[Path | None, bool], TlsClient] = {}

    def context(self, ca_file: Path | None, verify: bool = True) -> ssl.SSLContext | Failed:
        """The httpx clients' TLS context that trusts `ca_file` (the system's roots for
        None), or that verifies nothing when `verify` is off (the chain is still read and
        reported)."""
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
            transport=_TracedTransport(transport),
            timeout=template.timeout,
            headers=template.headers,
            follow_redirects=False,
            trust_env=False,
        )
        _keep(self._clients, key, client)
        return client


def _anchors(ca_file: Path | None) -> list[x509.Certificate] | Failed | None:
    """The certificates of `ca_file` (None: the system's roots)."""
    if ca_file is None:
        return None
    try:
        return read_certificates(ca_file)
    except CertificateParseError as exc:
        return Failed(FailureReason.TLS_HANDSHAKE_FAILED, f"ca_file {ca_file}: {exc}")


def _keep(cache: dict[Any, Any], key: Any, value: Any) -> None:
    """Store `value`, dropping the oldest entries past `_MAX_CLIENTS`."""
    while len(cache) >= _MAX_CLIENTS:
        del cache[next(iter(cache))]
    cache[key] = value


async def close_endpoint_clients(env: ProbeEnv) -> None:
    """Close the clients of `keep_alive` checks (their idle connections); at shutdown."""
    clients = env.caches.get(EndpointClients.CACHE_KEY)
    if isinstance(clients, EndpointClients):
        await clients.aclose()


def _clients(env: ProbeEnv) -> EndpointClients:
    clients = env.caches.get(EndpointClients.CACHE_KEY)
    if not isinstance(clients, EndpointClients):
        clients = env.caches[EndpointClients.CACHE_KEY] = EndpointClients()
    return clients


def tls_client_for(env: ProbeEnv, ca_file: Path | None, verify: bool = True) -> TlsClient | Failed:
    """The TLS settings of the fresh-connection path (`probes.http_fast`), cached likewise."""
    return _clients(env).tls_client(ca_file, verify)


def client_for_endpoint(
    env: ProbeEnv, *, ca_file: Path | None, http2: bool, keep_alive: bool, verify: bool = True
) -> httpx.AsyncClient | Failed:
    """The client a check with these settings uses (see the module docstring)."""
    if env.http is None:
        return Failed(FailureReason.INTERNAL_ERROR, "no HTTP client in the probe environment")
    return _clients(env).get(_ClientKey(ca_file, http2, keep_alive, verify), env.http)


@dataclass(slots=True)
class TlsFacts:
    """What the handshake of a check's last connection showed."""

    version: str
    cipher: str
    chain: tuple[bytes, ...]  # DER, leaf first, as presented (unverified order)


@dataclass(slots=True)
class Trace:
    """Phase timings of the requests of one check, from httpcore's trace events.

    connect: TCP connect (name resolution included: httpcore resolves inside it);
    tls: the handshake; ttfb: from sending the request to the end of the response
    headers; transfer: the body (timed by the caller with `end`). Redirects add up.
    """

    clock: Any
    phases: dict[str, float] = field(default_factory=dict)
    requests: int = 0
    http_version: str = ""
    tls: TlsFacts | None = None
    _started: dict[str, float] = field(default_factory=dict)
    _headers_done: float | None = None

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        prefix, _, name = event.partition(".")
        step, _, edge = name.rpartition(".")
        now = self.clock()
        if edge == "started":
            self._started[step] = now
            if step == "send_request_headers":
                self.requests += 1
                self.http_version = "HTTP/2" if prefix == "http2" else "HTTP/1.1"
            return
        begun = self._started.pop(step, None)
        if begun is None or edge not in {"complete", "failed"}:
            return
        if step == "connect_tcp":
            self._add("connect", now - begun)
        elif step == "start_tls":
            self._add("tls", now - begun)
            if edge == "complete":
                self._tls_facts(info.get("return_value"))
        elif step == "send_request_headers":
            self._started["request"] = begun
        elif step == "receive_response_headers":
            sent = self._started.pop("request", begun)
            self._add("ttfb", now - sent)
            self._headers_done = now

    def end(self) -> None:
        """The body has been read (or given up on): close the transfer phase."""
        if self._headers_done is not None:
            self._add("transfer", self.clock() - self._headers_done)
            self._headers_done = None

    def _add(self, phase: str, seconds: float) -> None:
        self.phases[phase] = self.phases.get(phase, 0.0) + seconds

    def _tls_facts(self, stream: Any) -> None:
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
        if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
            return
        cipher = ssl_object.cipher()
        self.tls = TlsFacts(
            version=ssl_object.version() or "",
            cipher=cipher[0] if cipher else "",
            chain=presented_chain(ssl_object),
        )


CURRENT_TRACE: ContextVar[Trace | None] = ContextVar("vigie_http_trace", default=None)
