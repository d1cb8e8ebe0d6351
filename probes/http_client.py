"""Connection tracing of the endpoint checks (probes/http.py): phase timings and TLS facts.

A `Trace` is what one check learns about its connections: phase timings (connect, tls,
ttfb, transfer), requests made, the HTTP version and the TLS facts of the last
handshake. The fresh-connection path (`probes.http_fast`) writes it directly; on the
httpx path (`probes.endpoint_clients`) the request hook `attach_trace` hands each request
the trace of the check in progress (a context variable, so `probes.http_fetch.fetch` is
used as it is) and `Trace` turns httpcore's `trace` events into the same figures. Nothing
here raises for a target's fault, and nothing imports httpx: the fresh-connection path
does without it.
"""

from __future__ import annotations

import ssl
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from probes.tls_chain import presented_chain

if TYPE_CHECKING:
    import httpx

__all__ = ["CURRENT_TRACE", "TlsFacts", "Trace", "attach_trace"]


async def attach_trace(request: httpx.Request) -> None:
    """An httpx request hook: hands the request the trace of the check in progress."""
    trace = CURRENT_TRACE.get()
    if trace is not None:
        request.extensions["trace"] = trace


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
