"""The one capped HTTP fetch: its redirect rule, caps and failures, through an injected
transport (`httpx.MockTransport`), so every rule is seen without a server."""

from __future__ import annotations

import asyncio
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from probes import FailureReason
from probes.http_fetch import Answer, Failed, Problem, Redirects, fetch, reason_of

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler), follow_redirects=False)


def moved(to: str) -> httpx.Response:
    return httpx.Response(302, headers={"Location": to})


@pytest.mark.parametrize(
    ("followed", "limit", "problem"),
    [
        pytest.param(["http://h/b"], 1, None, id="one-within-limit"),
        pytest.param(["http://h/b", "http://h/c"], 1, "more than 1 redirects", id="over-limit"),
        pytest.param(["http://h/a"], 3, "redirect loop: http://h/a -> http://h/a", id="self"),
        pytest.param(["http://h/b", "http://h/a"], 3, "redirect loop", id="back"),
    ],
)
def test_the_redirect_rule(followed: list[str], limit: int, problem: str | None) -> None:
    rule = Redirects("http://h/a", limit)
    refused = [rule.follow(url) for url in followed][-1]
    if problem is None:
        assert refused is None
    else:
        assert isinstance(refused, Failed)
        assert refused.problem is Problem.REDIRECT_LOOP
        assert problem in refused.detail


def test_a_problem_a_prober_does_not_name_keeps_its_common_reason() -> None:
    names = {Problem.TOO_LARGE: FailureReason.SMP_TOO_LARGE}
    assert reason_of(Failed(Problem.TOO_LARGE, ""), names) is FailureReason.SMP_TOO_LARGE
    assert reason_of(Failed(Problem.REFUSED, ""), names) is FailureReason.CONNECTION_REFUSED
    with pytest.raises(KeyError, match="redirect_loop"):
        reason_of(Failed(Problem.REDIRECT_LOOP, ""), names)


async def test_redirects_are_followed_to_the_answer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/a":
            return moved("/b")
        return httpx.Response(200, content=b"here")

    async with client(handler) as http:
        answer = await fetch(http, "http://h/a", max_body=100, max_redirects=1)
    assert isinstance(answer, Answer)
    assert (answer.url, answer.status, answer.body) == ("http://h/b", 200, b"here")


async def test_without_max_redirects_a_redirect_is_the_answer() -> None:
    async with client(lambda _: moved("/b")) as http:
        answer = await fetch(http, "http://h/a", max_body=100)
        refused = await fetch(http, "http://h/a", max_body=100, only_2xx=True)
    assert isinstance(answer, Answer)
    assert answer.status == 302
    assert refused == Failed(Problem.STATUS, "HTTP 302 Found")


async def test_a_loop_of_redirects_is_refused() -> None:
    async with client(lambda r: moved("/b" if r.url.path == "/a" else "/a")) as http:
        answer = await fetch(http, "http://h/a", max_body=100, max_redirects=5)
    assert isinstance(answer, Failed)
    assert answer.problem is Problem.REDIRECT_LOOP
    assert answer.detail == "redirect loop: http://h/a -> http://h/b -> http://h/a"


async def chunks(count: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"x" * 1000


@pytest.mark.parametrize(
    ("response", "detail"),
    [
        pytest.param(
            lambda: httpx.Response(200, headers={"Content-Length": "5000"}, content=b"x" * 5000),
            "Content-Length 5000 is more than max_body (4096 bytes)",
            id="declared",
        ),
        pytest.param(
            lambda: httpx.Response(200, content=chunks(10)),
            "more than 4096 bytes, not read",
            id="streamed",
        ),
    ],
)
async def test_a_body_over_the_cap_is_not_read(
    response: Callable[[], httpx.Response], detail: str
) -> None:
    async with client(lambda _: response()) as http:
        answer = await fetch(http, "http://h/", max_body=4096)
    assert answer == Failed(Problem.TOO_LARGE, detail)


async def test_the_budget_bounds_the_whole_exchange() -> None:
    async def stall(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    async with httpx.AsyncClient(transport=httpx.MockTransport(stall)) as http:
        answer = await fetch(http, "http://h/", max_body=100, budget=0.05)
    assert answer == Failed(Problem.TIMEOUT, "no complete answer within 0.05s")


@pytest.mark.parametrize(
    ("error", "problem"),
    [
        pytest.param(httpx.ConnectError("refused"), Problem.NETWORK, id="connect"),
        pytest.param(httpx.ReadTimeout("slow"), Problem.TIMEOUT, id="read-timeout"),
        pytest.param(httpx.RemoteProtocolError("garbage"), Problem.MALFORMED, id="not-http"),
        pytest.param(httpx.UnsupportedProtocol("ftp"), Problem.UNSUPPORTED_URL, id="scheme"),
        pytest.param(httpx.ReadError("reset"), Problem.NETWORK, id="reset"),
    ],
)
async def test_transport_failures_are_problems(error: Exception, problem: Problem) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    async with client(fail) as http:
        answer = await fetch(http, "http://h/", max_body=100, read_timeout=1.0)
    assert isinstance(answer, Failed)
    assert answer.problem is problem


@pytest.mark.parametrize("url", ["http://[::1/", "http://xn--/"], ids=["ipv6", "a-label"])
async def test_a_url_that_is_not_one_is_a_problem_not_an_exception(url: str) -> None:
    # An SMP's hrefs are the server's text, so is a Location header.
    async with client(lambda _: httpx.Response(200)) as http:
        answer = await fetch(http, url, max_body=100)
    assert isinstance(answer, Failed)
    assert answer.problem is Problem.UNSUPPORTED_URL


def compressed(data: bytes, wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


# 64 MiB of zeros in about 64 KiB: what one read of a gzip bomb brings.
BOMB = compressed(bytes(64 * 2**20), zlib.MAX_WBITS | 16)


async def streamed(body: bytes) -> AsyncIterator[bytes]:
    yield body  # as a network read brings it, undecoded


async def test_a_gzip_bomb_is_decoded_no_further_than_the_cap() -> None:
    def bomb(request: httpx.Request) -> httpx.Response:
        assert request.headers["Accept-Encoding"] == "gzip, deflate"
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=streamed(BOMB))

    async with client(bomb) as http:
        tracemalloc.start()
        try:
            answer = await fetch(http, "http://h/", max_body=2**20)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert answer == Failed(Problem.TOO_LARGE, f"more than {2**20} bytes, not read")
    assert peak < 8 * 2**20  # the cap and the compressed read, never the 64 MiB


@pytest.mark.parametrize(
    ("coding", "body", "expected"),
    [
        pytest.param("gzip", compressed(b"up", zlib.MAX_WBITS | 16), b"up", id="gzip"),
        pytest.param("deflate", compressed(b"up", zlib.MAX_WBITS), b"up", id="deflate-zlib"),
        pytest.param("deflate", compressed(b"up", -zlib.MAX_WBITS), b"up", id="deflate-raw"),
        pytest.param("identity", b"up", b"up", id="identity"),
        pytest.param("br", b"up", Problem.MALFORMED, id="not-asked-for"),
        pytest.param("gzip, gzip", b"up", Problem.MALFORMED, id="twice"),
        pytest.param("gzip", b"not gzip at all", Problem.MALFORMED, id="broken"),
    ],
)
async def test_content_codings(coding: str, body: bytes, expected: bytes | Problem) -> None:
    async with client(
        lambda _: httpx.Response(200, headers={"Content-Encoding": coding}, content=streamed(body))
    ) as http:
        answer = await fetch(http, "http://h/", max_body=100)
    if isinstance(expected, Problem):
        assert isinstance(answer, Failed)
        assert answer.problem is expected, answer.detail
    else:
        assert isinstance(answer, Answer)
        assert answer.body == expected
