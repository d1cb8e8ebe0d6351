"""The fresh-connection HTTP/1.1 GET of the endpoint checks, lean enough for the CPU target.

Most `http` checks open a new connection, make one GET and close it. Through httpx that
costs about twice blackbox_exporter's CPU per check (anyio's TLS stream, the connection
pool, the client's layers), so those checks take this path instead: one
`probes.tls_stream.ClientStream` (pyOpenSSL over memory BIOs, as the certificate checks use),
one request prepared as bytes once per URL, the answer read with `probes.http_burst`'s
parser.
It keeps the policy of `probes.http_fetch` (the body cap, `Redirects`), which keep-alive
and HTTP/2 checks reach through `probes.http_fetch.fetch`, and gives the same `Answer` or
`Failed`. Phases (connect, name resolution included; tls; ttfb; transfer), requests and
TLS facts go to the check's `Trace`, as httpcore's events do on the other path. Every
target's fault ends as a `Failed`; the socket is always closed before returning.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from probes.http_burst import Head, TooLarge, parse_head, read_body
from probes.http_client import TlsFacts, Trace
from probes.http_fetch import REDIRECT_STATUSES, Answer, Failed, Problem, Redirects, too_large
from probes.tls_stream import ClientStream, TlsClient, TlsError

__all__ = ["fast_get"]


async def fast_get(
    url: str,
    context: TlsClient,
    *,
    max_body: int,
    max_redirects: int,
    user_agent: str,
    trace: Trace,
) -> Answer | Failed:
    """GET `url` on fresh connections (one per redirect), noting each in `trace`; the
    caller bounds the time."""
    started = trace.clock()
    redirects = Redirects(url, max_redirects)
    current = url
    while True:
        trace.requests += 1
        answer = await _one(current, context, max_body, user_agent, trace)
        if isinstance(answer, Failed):
            return answer
        head, body = answer
        if head.status not in REDIRECT_STATUSES or not head.location:
            return Answer(current, head.status, body, duration=trace.clock() - started)
        try:
            following = urljoin(current, head.location)
        except ValueError as exc:  # an unclosed IPv6 bracket, say: as httpx reads it
            return Failed(Problem.MALFORMED, f"a redirect to an invalid URL: {str(exc)[:80]}")
        refused = redirects.follow(following)
        if refused is not None:
            return refused
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
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # a redirect's Location is the server's text
        return Failed(Problem.UNSUPPORTED_URL, f"unsupported URL: {url[:100]}")
    if parts.scheme not in {"http", "https"} or not hostname:
        return Failed(Problem.UNSUPPORTED_URL, f"unsupported URL: {url[:100]}")
    host = hostname
    https = parts.scheme == "https"
    try:
        port = parts.port or (443 if https else 80)
    except ValueError:
        return Failed(Problem.UNSUPPORTED_URL, f"invalid port in {url[:100]}")
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
    trace: Trace,
) -> tuple[Head, bytes] | Failed:
    request = _request(url, user_agent)
    if isinstance(request, Failed):
        return request
    connection: ClientStream | None = None
    phase = "connect"
    clock, phases = trace.clock, trace.phases
    mark = clock()
    try:
        connection = await ClientStream.open(request.host, request.port)
        now = clock()
        _add(phases, phase, now - mark)
        mark = now
        if request.https:
            phase = "tls"
            session = await connection.start_tls(context, request.host)
            trace.tls = TlsFacts(session.version, session.cipher, session.chain)
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
        return head, body
    except TooLarge:
        _add(phases, phase, clock() - mark)
        return too_large(max_body)
    except TlsError as exc:
        return Failed(Problem.TLS, f"TLS: {exc}")
    except ConnectionRefusedError:
        return Failed(Problem.REFUSED, "connection refused")
    except (asyncio.IncompleteReadError, ValueError) as exc:
        what = "closed before an answer" if phase == "ttfb" else "broken HTTP answer"
        return Failed(Problem.MALFORMED, f"{what}: {str(exc)[:80]}")
    except OSError as exc:
        if phase == "tls":
            return Failed(Problem.TLS, f"TLS: {exc.strerror or exc}")
        return Failed(Problem.NETWORK, exc.strerror or str(exc) or type(exc).__name__)
    finally:
        if connection is not None:
            connection.close()
