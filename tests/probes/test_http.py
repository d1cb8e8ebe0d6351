"""Endpoint availability checks against local servers that answer well and badly.

An aiohttp server takes its behaviour from the path; a raw TCP server speaks garbage or
resets. Every bad answer must end as a reason, with sizes and times capped.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from probes import (
    PROBERS,
    CheckDefaults,
    FailureReason,
    ProbeCollector,
    ProbeEnv,
    ProbeResult,
    ResultBook,
    Runner,
)
from probes.http import HttpFindings, HttpTarget, expand_http
from vigie import USER_AGENT
from vigie.http import outbound_client

TEN_MB = 10 * 1024 * 1024
# 64 MiB of zeros in about 64 KiB, as one network read brings it.
GZIP_BOMB = gzip.compress(bytes(64 * 2**20), compresslevel=9)


async def _answer(request: web.Request) -> web.StreamResponse:
    behaviour = request.match_info["behaviour"]
    if behaviour == "ok":
        return web.Response(text='{"status": "ok", "items": [1, 2]}')
    if behaviour == "xml":
        return web.Response(text='<a xmlns="urn:x"><b>up</b></a>', content_type="text/xml")
    if behaviour == "agent":
        return web.Response(text=request.headers.get("User-Agent", ""))
    if behaviour == "teapot":
        return web.Response(status=418)
    if behaviour == "loop":
        raise web.HTTPFound("/loop2")
    if behaviour == "loop2":
        raise web.HTTPFound("/loop")
    if behaviour == "hop":
        raise web.HTTPFound("/ok")
    if behaviour == "huge":
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = b"x" * 65536
        with contextlib.suppress(ConnectionError):
            for _ in range(TEN_MB // len(chunk)):
                await response.write(chunk)
        return response
    if behaviour == "to-broken-ipv6":  # Location as the server wrote it, not as a URL
        return web.Response(status=302, headers={"Location": "http://[::1/x"})
    if behaviour == "to-bad-a-label":
        return web.Response(status=302, headers={"Location": "http://xn--/"})
    if behaviour == "deep-json":
        return web.Response(text="[" * 100_000 + "]" * 100_000)
    if behaviour == "deep-xml":
        return web.Response(text="<a>" * 100_000 + "</a>" * 100_000, content_type="text/xml")
    if behaviour == "gzip-bomb":
        return web.Response(body=GZIP_BOMB, headers={"Content-Encoding": "gzip"})
    if behaviour == "slowloris":
        response = web.StreamResponse()
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for _ in range(600):
                await response.write(b"x")
                await asyncio.sleep(0.05)
        return response
    raise web.HTTPNotFound()


@pytest.fixture
async def server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/{behaviour}", _answer)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


@pytest.fixture
async def raw() -> AsyncIterator[str]:
    """A TCP server: /garbage gets non-HTTP bytes, anything else a reset."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        if b"/garbage" in request:
            writer.write(b"SSH-2.0-OpenSSH_9.0\r\n\x00\x01\x02 not http at all\r\n\r\n")
            await writer.drain()
        else:
            writer.transport.abort()  # an RST, not a FIN
            return
        writer.close()

    tcp = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = tcp.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    tcp.close()
    await tcp.wait_closed()


async def run(url: str, limit: float = 3.0, **settings: object) -> ProbeResult:
    target = HttpTarget.model_validate({"url": url, **settings})
    (check,) = expand_http(target, CheckDefaults(timeout=limit))
    async with outbound_client() as http:
        env = ProbeEnv(http=http, user_agent=USER_AGENT)
        try:
            return await Runner(PROBERS, env, ResultBook()).run(check)
        finally:
            await env.aclose()


@pytest.mark.parametrize(
    ("path", "settings", "reason"),
    [
        pytest.param("/ok", {}, FailureReason.OK, id="ok"),
        pytest.param("/hop", {}, FailureReason.OK, id="one-redirect"),
        pytest.param("/ok", {"body_regex": '"status": "ok"'}, FailureReason.OK, id="regex"),
        pytest.param(
            "/ok", {"body_regex": "down"}, FailureReason.HTTP_BODY_MISMATCH, id="regex-miss"
        ),
        pytest.param(
            # Exponential for a backtracking engine; RE2 answers at once.
            "/ok",
            {"body_regex": "(.*.*)*#"},
            FailureReason.HTTP_BODY_MISMATCH,
            id="regex-bomb",
        ),
        pytest.param(
            "/ok", {"json_path": "status", "json_value": "ok"}, FailureReason.OK, id="json"
        ),
        pytest.param("/ok", {"json_path": "items.1"}, FailureReason.OK, id="json-index"),
        pytest.param(
            "/ok",
            {"json_path": "status", "json_value": "down"},
            FailureReason.HTTP_BODY_MISMATCH,
            id="json-value",
        ),
        pytest.param(
            "/xml", {"json_path": "status"}, FailureReason.HTTP_BODY_MISMATCH, id="not-json"
        ),
        pytest.param(
            "/deep-json", {"json_path": "0"}, FailureReason.HTTP_BODY_MISMATCH, id="json-too-deep"
        ),
        pytest.param("/xml", {"xml_path": "{*}b"}, FailureReason.OK, id="xml"),
        pytest.param(
            "/deep-xml", {"xml_path": "a"}, FailureReason.HTTP_BODY_MISMATCH, id="xml-too-deep"
        ),
        pytest.param("/xml", {"xml_path": "{*}c"}, FailureReason.HTTP_BODY_MISMATCH, id="xml-miss"),
        pytest.param("/teapot", {}, FailureReason.HTTP_STATUS, id="status"),
        pytest.param("/teapot", {"valid_status_codes": [418]}, FailureReason.OK, id="expected"),
        pytest.param("/loop", {}, FailureReason.HTTP_REDIRECT_LOOP, id="redirect-loop"),
        pytest.param(
            "/hop", {"max_redirects": 0}, FailureReason.HTTP_REDIRECT_LOOP, id="redirect-cap"
        ),
        pytest.param("/huge", {}, FailureReason.HTTP_TOO_LARGE, id="10MB-body"),
        pytest.param(
            "/to-broken-ipv6", {}, FailureReason.MALFORMED_RESPONSE, id="redirect-to-no-url"
        ),
        pytest.param(
            "/to-bad-a-label", {}, FailureReason.NETWORK_ERROR, id="redirect-to-bad-a-label"
        ),
    ],
)
@pytest.mark.parametrize(
    "client",
    [
        pytest.param({}, id="fresh-connection"),  # probes.http_fast
        pytest.param({"keep_alive": True}, id="kept-connection"),  # httpx
    ],
)
async def test_answers_become_reasons(
    server: str,
    path: str,
    settings: dict[str, object],
    reason: FailureReason,
    client: dict[str, object],
) -> None:
    result = await run(server + path, **settings, **client)
    assert result.reason is reason, result.detail


@pytest.mark.parametrize("keep_alive", [False, True], ids=["fresh", "kept"])
async def test_redirects_are_counted_and_phases_timed(server: str, keep_alive: bool) -> None:
    result = await run(server + "/hop", keep_alive=keep_alive)
    assert result.values["redirects"] == 1
    assert result.values["status_code"] == 200
    assert set(result.phases) == {"connect", "ttfb", "transfer"}  # plain HTTP: no tls
    assert isinstance(result.findings, HttpFindings)
    assert (result.findings.url or "").endswith("/ok")


@pytest.mark.parametrize("keep_alive", [False, True], ids=["fresh", "kept"])
async def test_both_paths_send_vigies_user_agent(server: str, keep_alive: bool) -> None:
    # The fresh path writes its own request; the kept one goes through the shared client.
    result = await run(
        server + "/agent", keep_alive=keep_alive, body_regex=f"^{re.escape(USER_AGENT)}$"
    )
    assert result.reason is FailureReason.OK, result.detail


async def test_a_gzip_bomb_ends_at_the_cap_on_the_kept_path(server: str) -> None:
    # The fresh path asks for no coding and reads the bytes as sent; the kept one decodes.
    result = await run(server + "/gzip-bomb", keep_alive=True, body_regex="x")
    assert result.reason is FailureReason.HTTP_TOO_LARGE, result.detail


async def test_a_slowloris_body_ends_at_the_timeout(server: str) -> None:
    result = await run(server + "/slowloris", limit=0.5)
    assert result.reason is FailureReason.TIMEOUT


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        pytest.param("/garbage", FailureReason.MALFORMED_RESPONSE, id="not-http"),
        # httpx reads a reset before any answer as "disconnected without a response"
        pytest.param("/reset", FailureReason.MALFORMED_RESPONSE, id="reset"),
    ],
)
async def test_broken_peers(raw: str, path: str, reason: FailureReason) -> None:
    result = await run(raw + path)
    assert result.reason is reason, result.detail


async def test_closed_port_is_refused() -> None:
    result = await run("http://127.0.0.1:9/")
    assert result.reason is FailureReason.CONNECTION_REFUSED


async def test_metrics_give_availability_and_a_latency_histogram(server: str) -> None:
    target = HttpTarget(url=server + "/ok", name="api", objectives={"latency": "250ms"})
    (check,) = expand_http(target, CheckDefaults(timeout=3))
    book = ResultBook()
    async with outbound_client() as http:
        runner = Runner(PROBERS, ProbeEnv(http=http), book)
        await runner.run(check)
        await runner.run(check)
    registry = CollectorRegistry()
    registry.register(ProbeCollector(book))
    text = generate_latest(registry).decode()
    labels = 'kind="http",service="endpoint",target="api"'
    assert f"probe_http_checks_total{{{labels}}} 2.0" in text
    assert f"probe_http_checks_good_total{{{labels}}} 2.0" in text
    assert f"probe_http_checks_fast_total{{{labels}}} 2.0" in text
    assert f"probe_http_objective_latency_seconds{{{labels}}} 0.25" in text
    assert f"probe_http_objective_availability_ratio{{{labels}}} 0.995" in text
    assert "# TYPE probe_http_duration_seconds histogram" in text
    samples = {
        (sample.name, sample.labels.get("le")): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "probe_http_duration_seconds"
        for sample in family.samples
    }
    assert samples[("probe_http_duration_seconds_bucket", "+Inf")] == 2
    assert samples[("probe_http_duration_seconds_count", None)] == 2


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        HttpTarget(url="ftp://example.org/")
    with pytest.raises(ValueError, match="regex"):
        HttpTarget(url="http://127.0.0.1/", body_regex="(")
    with pytest.raises(ValueError, match=r"invalid regex \(RE2 syntax\): invalid escape"):
        HttpTarget(url="http://127.0.0.1/", body_regex=r"(a)\1")
    with pytest.raises(ValueError, match="100-599"):
        HttpTarget(url="http://127.0.0.1/", valid_status_codes=[99])
    with pytest.raises(ValueError, match="No such file"):
        HttpTarget(url="https://127.0.0.1/", ca_file="/nonexistent/root.pem")
