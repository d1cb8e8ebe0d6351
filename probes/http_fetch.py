"""The one capped HTTP fetch of the probers: one policy for sizes, times and redirects.

Every prober that reads a body over HTTP (SMP metadata, endpoint checks, CRLs, OCSP)
goes through `fetch`, or, for a fresh-connection HTTP/1.1 endpoint check, through its
lean twin `probes.http_fast.fast_get`; both keep to the policy written here:

- a body is read up to `max_body` bytes, decoded here and never past the cap (httpx's
  decoders have no output bound: one 64 KiB read of a gzip bomb would become 64 MiB in
  one call that holds the event loop); only gzip and deflate are asked for and undone,
  any other coding is `MALFORMED`; a declared Content-Length over the cap is refused
  before reading, and reading stops past it;
- redirects are followed by hand (the clients never follow them), at most
  `max_redirects`, and a URL seen twice is a loop (`Redirects`); with `max_redirects`
  None a redirect is an answer like any other (a CRL distribution point answers itself);
- `budget` bounds the whole exchange, the request's own timeout each network wait.

The result is an `Answer` or a `Failed` whose `problem` is one of a few neutral
`Problem`s; each prober names them in its own vocabulary with a table and `reason_of`
(a body too large is `smp_too_large` for an SMP, `crl_too_large` for a CRL). Nothing here
raises for a target's fault, and nothing here judges what an answer says.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from probes._base import FailureReason

if TYPE_CHECKING:
    import httpx

__all__ = ["Answer", "Failed", "Problem", "Redirects", "fetch", "reason_of", "too_large"]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CHUNKS_PER_TURN = 256  # body chunks read before other tasks get a turn
ACCEPT_ENCODING = "gzip, deflate"  # the codings `_Decoder` undoes under the cap


class Problem(StrEnum):
    """Why a fetch gave no answer to judge; each prober maps these to its reasons."""

    TIMEOUT = "timeout"
    REFUSED = "refused"
    TLS = "tls"  # the handshake failed, or the trust to verify it with cannot be read
    NETWORK = "network"  # any other transport failure (reset, no route, name not found)
    MALFORMED = "malformed"  # not HTTP, or a broken encoding
    UNSUPPORTED_URL = "unsupported_url"
    STATUS = "status"  # not 2xx, where the caller asked for 2xx only
    TOO_LARGE = "too_large"
    REDIRECT_LOOP = "redirect_loop"  # a URL seen twice, or more than max_redirects
    INTERNAL = "internal"  # the environment lacks what the fetch needs


@dataclass(frozen=True, slots=True)
class Failed:
    problem: Problem
    detail: str


@dataclass(frozen=True, slots=True)
class Answer:
    """What the server answered last (after redirects), whatever its status."""

    url: str
    status: int
    body: bytes
    # The fresh-connection path parses only the headers it needs to read the body.
    headers: Mapping[str, str] = field(default_factory=dict)
    duration: float = 0.0  # seconds, redirects included


# What a problem is called when a prober does not say otherwise.
_COMMON = {
    Problem.TIMEOUT: FailureReason.TIMEOUT,
    Problem.REFUSED: FailureReason.CONNECTION_REFUSED,
    Problem.TLS: FailureReason.TLS_HANDSHAKE_FAILED,
    Problem.NETWORK: FailureReason.NETWORK_ERROR,
    Problem.MALFORMED: FailureReason.MALFORMED_RESPONSE,
    Problem.UNSUPPORTED_URL: FailureReason.NETWORK_ERROR,
    Problem.INTERNAL: FailureReason.INTERNAL_ERROR,
}


def reason_of(failed: Failed, names: Mapping[Problem, FailureReason]) -> FailureReason:
    """The prober's reason for `failed`: from its table `names`, else the common one."""
    reason = names.get(failed.problem) or _COMMON.get(failed.problem)
    if reason is None:  # a prober's table must name the problems specific to a body
        raise KeyError(f"no reason for fetch problem {failed.problem}")
    return reason


def too_large(max_body: int, declared: str | None = None) -> Failed:
    if declared is not None:
        detail = f"Content-Length {declared} is more than max_body ({max_body} bytes)"
    else:
        detail = f"more than {max_body} bytes, not read"
    return Failed(Problem.TOO_LARGE, detail)


class Redirects:
    """The redirect rule of one fetch: at most `limit` redirects, no URL twice."""

    def __init__(self, url: str, limit: int) -> None:
        self.visited = [url]
        self._limit = limit

    def follow(self, following: str) -> Failed | None:
        """None when `following` may be fetched next (and is noted), else why not."""
        if following in self.visited:
            chain = " -> ".join([*self.visited, following][-4:])
            return Failed(Problem.REDIRECT_LOOP, f"redirect loop: {chain}")
        if len(self.visited) > self._limit:
            return Failed(
                Problem.REDIRECT_LOOP, f"more than {self._limit} redirects (last to {following})"
            )
        self.visited.append(following)
        return None


async def fetch(
    client: httpx.AsyncClient,
    request: httpx.Request | str,
    *,
    max_body: int,
    max_redirects: int | None = None,
    only_2xx: bool = False,
    budget: float | None = None,
    accept: str = "*/*",
    read_timeout: float | None = None,
    monotonic: Callable[[], float] = time.perf_counter,
) -> Answer | Failed:
    """Send `request` (a URL: a GET with `accept` and `read_timeout`) by the module's policy.

    With `only_2xx` a non-2xx answer is a `Problem.STATUS` and its body is not read.
    """
    import httpx

    started = monotonic()
    if isinstance(request, str):
        try:
            request = client.build_request(
                "GET", request, headers={"Accept": accept}, timeout=read_timeout
            )
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:
            return Failed(Problem.UNSUPPORTED_URL, f"unsupported URL: {exc}")
    request.headers["Accept-Encoding"] = ACCEPT_ENCODING
    redirects = Redirects(str(request.url), max_redirects or 0)
    try:
        async with asyncio.timeout(budget):
            while True:
                response = await client.send(request, stream=True, follow_redirects=False)
                try:
                    following = response.next_request if max_redirects is not None else None
                    if response.status_code not in REDIRECT_STATUSES or following is None:
                        answer = await _read(response, max_body, only_2xx)
                        if isinstance(answer, Failed):
                            return answer
                        return Answer(
                            str(response.url), response.status_code, answer,
                            response.headers, monotonic() - started,
                        )  # fmt: skip
                finally:
                    # Closing mid-body drops the connection: nothing more is read.
                    await response.aclose()
                refused = redirects.follow(str(following.url))
                if refused is not None:
                    return refused
                request = following
    except TimeoutError:
        return Failed(Problem.TIMEOUT, f"no complete answer within {budget:.3g}s")
    except httpx.TimeoutException as exc:
        return Failed(Problem.TIMEOUT, f"{type(exc).__name__} after {read_timeout or 0:g}s")
    except httpx.ConnectError as exc:
        return _connect_failure(exc)
    except httpx.UnsupportedProtocol as exc:
        return Failed(Problem.UNSUPPORTED_URL, f"unsupported URL: {exc}")
    except UnicodeError as exc:  # httpx lets idna's error through for a host like "xn--"
        return Failed(Problem.UNSUPPORTED_URL, f"unsupported URL: {str(exc)[:100]}")
    except (httpx.RemoteProtocolError, httpx.DecodingError) as exc:
        return Failed(Problem.MALFORMED, f"broken HTTP answer: {exc}")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return Failed(Problem.NETWORK, f"{type(exc).__name__}: {exc}".rstrip(": "))


async def _read(response: httpx.Response, max_body: int, only_2xx: bool) -> bytes | Failed:
    if only_2xx and not 200 <= response.status_code < 300:
        text = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
        return Failed(Problem.STATUS, text)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body:
        return too_large(max_body, declared)
    if response.is_stream_consumed:
        # Made in memory with its body (an in-process transport): httpx decoded it whole.
        return too_large(max_body) if len(response.content) > max_body else response.content
    decoder = _Decoder.of(response.headers.get("content-encoding", ""))
    if isinstance(decoder, Failed):
        return decoder
    body = bytearray()
    chunks = 0
    try:
        async for chunk in response.aiter_raw():
            chunks += 1
            if chunks % _CHUNKS_PER_TURN == 0:
                # h11 hands out the chunks of one read without waiting: a peer sending
                # one-byte chunks would otherwise keep every other check and the timeout out.
                await asyncio.sleep(0)
            # Never more than one byte past the cap, however much `chunk` inflates to.
            body += decoder.decode(chunk, max_body + 1 - len(body))
            if len(body) > max_body:
                return too_large(max_body)
    except zlib.error as exc:
        return Failed(Problem.MALFORMED, f"broken {decoder.coding} body: {exc}")
    return bytes(body)


class _Decoder:
    """One body's Content-Encoding, undone with a bound on each call's output."""

    def __init__(self, coding: str, wbits: int | None) -> None:
        self.coding = coding
        self._wbits = wbits
        self._zlib = None if wbits is None else zlib.decompressobj(wbits)
        self._started = False

    @classmethod
    def of(cls, header: str) -> _Decoder | Failed:
        codings = [part.strip().lower() for part in header.split(",")]
        codings = [coding for coding in codings if coding not in {"", "identity"}]
        if not codings:
            return cls("identity", None)
        if len(codings) == 1 and codings[0] in {"gzip", "x-gzip"}:
            return cls("gzip", zlib.MAX_WBITS | 16)
        if len(codings) == 1 and codings[0] == "deflate":
            return cls("deflate", zlib.MAX_WBITS)
        return Failed(Problem.MALFORMED, f"Content-Encoding {header[:60]!r} was not asked for")

    def decode(self, data: bytes, most: int) -> bytes:
        """At most `most` (> 0) bytes of what `data` decodes to; the rest is not decoded."""
        if self._zlib is None:
            return data
        started, self._started = self._started, True
        try:
            return self._zlib.decompress(data, most)
        except zlib.error:
            if started or self._wbits != zlib.MAX_WBITS:
                raise
            # "deflate" is raw DEFLATE for some servers, zlib-wrapped by the RFC.
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._zlib.decompress(data, most)


def _connect_failure(exc: BaseException) -> Failed:
    """The cause httpx wraps: a TLS verification failure, a refusal, or another error."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            message = cause.verify_message or cause.reason or str(cause)
            return Failed(Problem.TLS, f"TLS: {message}")
        if isinstance(cause, ssl.SSLError):
            return Failed(Problem.TLS, f"TLS: {cause.reason or cause}")
        if isinstance(cause, ConnectionRefusedError):
            return Failed(Problem.REFUSED, "connection refused")
        cause = cause.__cause__ or cause.__context__
    return Failed(Problem.NETWORK, str(exc) or type(exc).__name__)
