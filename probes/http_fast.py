"""The fresh-connection HTTP/1.1 GET of the endpoint checks, lean enough for the CPU target.

Most `http` checks open a new connection, make one GET and close it. Through httpx that
costs about twice blackbox_exporter's CPU per check (anyio's TLS stream, the connection
pool, the client's layers), so those checks take this path instead: one
`probes.tls_stream.ClientStream` (pyOpenSSL over memory BIOs, as the certificate checks use),
one request prepared as bytes once per URL, the answer read with `probes.http_burst`'s
parser.
Redirects are followed by hand, at most `max_redirects`, and a URL seen twice is a loop
(the same rules as `probes.smp_http.fetch`, which keep-alive and HTTP/2 checks use).
Phases: connect (name resolution included), tls, ttfb, transfer. Every target's fault
ends as a `Failed`; the socket is always closed before returning.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from probes._base import FailureReason
from probes.http_burst import Head, TooLarge, parse_head, read_body
from probes.http_client import TlsFacts
from probes.smp_http import Failed
from probes.tls_stream import ClientStream, TlsClient, TlsError

__all__ = ["FastAnswer", "fast_get"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class FastAnswer:
    url: str  # after redirects
    status: int
    body: bytes
    requests: int
    tls: TlsFacts | None


async def fast_get(
    url: str,
    context: TlsClient,
    *,
    max_body: int,
    max_redirects: int,
    user_agent: str,
    clock: Callable[[], float],
    phases: dict[str, float],
) -> FastAnswer | Failed:
    """GET `url` on fresh connections (one per redirect), adding up `phases`; the caller
    bounds the time."""
    visited = [url]
    current = url
    tls: TlsFacts | None = None
    while True:
        answer = await _one(current, context, max_body, user_agent, clock, phases)
        if isinstance(answer, Failed):
            return answer
        head, body, facts = answer
        tls = facts or tls
        if head.status not in _REDIRECTS or not head.location:
            return FastAnswer(current, head.status, body, len(visited), tls)
        following = urljoin(current, head.location)
        if following in visited:
            chain = " -> ".join([*visited, following][-4:])
            return Failed(FailureReason.HTTP_REDIRECT_LOOP, f"redirect loop: {chain}")
        if len(visited) > max_redirects:
            return Failed(
                FailureReason.HTTP_REDIRECT_LOOP,
                f"more than {max_redirects} redirects (last to {following})",
            )
        visited.append(following)
        current = following


def _add(phases: dict[str, float], phase: str, seconds: float) -> None:
    phases[phase] = phases.get(phase, 0.0) + seconds


@dataclass(frozen=True, slots=True)
class _Request:
    host: str
    port: int
    https: bool
    data: bytes  # the whole GET


@functools.lru_cache(maxsize=1024)
def _request(url: str, user_agent: str) -> _Request | Failed:
    """The GET of `url` as bytes (a pure function of its arguments, so kept per URL)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return Failed(FailureReason.NETWORK_ERROR, f"unsupported URL: {url[:100]}")
    host = parts.hostname
    https = parts.scheme == "https"
    try:
        port = parts.port or (443 if https else 80)
    except ValueError:
        return Failed(FailureReason.NETWORK_ERROR, f"invalid port in {url[:100]}")
    authority = f"[{host}]" if ":" in host else host
    if parts.port:
        authority += f":{parts.port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    data = (
        f"GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: */*\r\n"
        f"User-Agent: {user_agent}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")
    return _Request(host, port, https, data)


async def _one(
    url: str,
    context: TlsClient,
    max_body: int,
    user_agent: str,
    clock: Callable[[], float],
    phases: dict[str, float],
) -> tuple[Head, bytes, TlsFacts | None] | Failed:
    request = _request(url, user_agent)
    if isinstance(request, Failed):
        return request
    connection: ClientStream | None = None
    phase = "connect"
    mark = clock()
    facts: TlsFacts | None = None
    try:
        connection = await ClientStream.open(request.host, request.port)
        now = clock()
        _add(phases, phase, now - mark)
        mark = now
        if request.https:
            phase = "tls"
            session = await connection.start_tls(context, request.host)
            facts = TlsFacts(session.version, session.cipher, session.chain)
            now = clock()
            _add(phases, phase, now - mark)
            mark = now
        phase = "ttfb"
        connection.write(request.data)
        head = parse_head(await connection.readuntil(b"\r\n\r\n"))
        now = clock()
        _add(phases, phase, now - mark)
        mark = now
        phase = "transfer"
        body = await read_body(connection, head, max_body)
        _add(phases, phase, clock() - mark)
        return head, body, facts
    except TooLarge:
        _add(phases, phase, clock() - mark)
        return Failed(FailureReason.HTTP_TOO_LARGE, f"more than {max_body} bytes, not read")
    except TlsError as exc:
        return Failed(FailureReason.TLS_HANDSHAKE_FAILED, f"TLS: {exc}")
    except ConnectionRefusedError:
        return Failed(FailureReason.CONNECTION_REFUSED, "connection refused")
    except (asyncio.IncompleteReadError, ValueError) as exc:
        what = "closed before an answer" if phase == "ttfb" else "broken HTTP answer"
        return Failed(FailureReason.MALFORMED_RESPONSE, f"{what}: {str(exc)[:80]}")
    except OSError as exc:
        if phase == "tls":
            return Failed(FailureReason.TLS_HANDSHAKE_FAILED, f"TLS: {exc.strerror or exc}")
        return Failed(FailureReason.NETWORK_ERROR, exc.strerror or str(exc) or type(exc).__name__)
    finally:
        if connection is not None:
            connection.close()
