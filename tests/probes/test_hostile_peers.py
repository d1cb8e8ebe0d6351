"""Hostile peers checked side by side with a healthy one, by the real scheduler and runner.

Each hostile server on 127.0.0.1 misbehaves in one way (headers trickled, a status line and
then nothing, a body shorter than its Content-Length, an endless header block, endless
one-byte chunks, a TLS port that never answers the ClientHello, a certificate message past
what a client reads), on both HTTP paths (fresh connection and kept). Every
hostile check must end as a typed reason, and the healthy check beside them must keep
answering within its own, shorter timeout: one slow or flooding peer must never hold the
event loop, and so every other check, past a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

from probes import PROBERS, Check, CheckDefaults, FailureReason, ProbeEnv, ResultBook, Runner
from probes.cert_path import PathOptions, judge_path
from probes.crl import CrlTarget, expand_crl
from probes.crl_fetch import THREAD_PARSE_BYTES
from probes.http import HttpTarget, expand_http
from probes.http_burst import Head, TooLarge, read_body
from probes.tls_chain import fetch_chain
from tests.probes.test_cert_path_bad_input import issue
from tests.probes.tls_test_servers import pem, raw_server, tls_server
from vigie import USER_AGENT
from vigie.http import outbound_client
from vigie.lab.service import serve_app
from vigie.lab.tls import TlsMaterial
from vigie.scheduler import Scheduler

HOSTILE_TIMEOUT = 0.5
HEALTHY_TIMEOUT = 0.3
RUN_SECONDS = 1.5
HOSTILE_PATHS = ("/trickle", "/status-only", "/short", "/endless-headers", "/one-byte-chunks")


class Hostile:
    """A TCP server on 127.0.0.1 misbehaving by path; each misbehaviour lasts until the
    client goes or the server stops."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            request = await reader.readuntil(b"\r\n\r\n")
            await self._misbehave(request.split(b" ", 2)[1], reader, writer)
        writer.close()

    async def _misbehave(
        self, path: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if path == b"/trickle":  # a byte at a time, never done within the timeout
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                writer.write(bytes([byte]))
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), 0.1)
        elif path == b"/status-only":
            writer.write(b"HTTP/1.1 200 OK\r\n")
            await reader.read()  # until the client gives up
        elif path == b"/short":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nabc")
            await reader.read()
        elif path == b"/endless-headers":
            writer.write(b"HTTP/1.1 200 OK\r\n")
            while not self.stopping.is_set():
                writer.write(b"X-Filler: " + b"a" * 1000 + b"\r\n")
                await writer.drain()
        elif path == b"/one-byte-chunks":  # as fast as the client reads, never a last one
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            while not self.stopping.is_set():
                writer.write(b"1\r\nx\r\n" * 4096)
                await writer.drain()

    async def stop(self) -> None:
        self.stopping.set()
        for writer in self._writers:
            writer.transport.abort()
        await asyncio.gather(*self._handlers, return_exceptions=True)


@contextlib.asynccontextmanager
async def hostile() -> AsyncIterator[str]:
    peer = Hostile()
    server = await asyncio.start_server(peer.handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await peer.stop()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def healthy() -> AsyncIterator[str]:
    async def ok(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/ok", ok)
    runner, address = await serve_app(app, "127.0.0.1", 0, shutdown_timeout=0.1)
    try:
        yield f"http://{address}/ok"
    finally:
        await runner.cleanup()


def http_check(url: str, timeout: float, name: str, **settings: object) -> Check:
    target = HttpTarget.model_validate({"url": url, "name": name, **settings})
    (check,) = expand_http(target, CheckDefaults(interval=0.1, timeout=timeout))
    return check


@pytest.fixture
async def env() -> AsyncIterator[ProbeEnv]:
    async with outbound_client() as http:
        probe_env = ProbeEnv(http=http, user_agent=USER_AGENT)
        yield probe_env
        await probe_env.aclose()


async def test_hostile_peers_never_hold_up_a_healthy_one(env: ProbeEnv) -> None:
    async with hostile() as bad, healthy() as good, raw_server(None) as silent_tls:
        hostile_checks = {
            f"{path} {client}": http_check(bad + path, HOSTILE_TIMEOUT, f"{path} {client}", **kept)
            for path in HOSTILE_PATHS
            for client, kept in (("fresh", {}), ("kept", {"keep_alive": True}))
        }
        hostile_checks["silent TLS"] = http_check(
            f"https://127.0.0.1:{silent_tls}/", HOSTILE_TIMEOUT, "silent TLS"
        )
        good_check = http_check(good, HEALTHY_TIMEOUT, "healthy")
        book = ResultBook()
        runner = Runner(PROBERS, env, book)
        checks = [*hostile_checks.values(), good_check]
        scheduler = Scheduler(
            checks, runner.run, limits={"http": len(checks)}, jitter=0.0, initial_spread=0.0
        )
        running = asyncio.create_task(scheduler.run())
        await asyncio.sleep(RUN_SECONDS)
        scheduler.stop()
        await running

    good_record = book.get(good_check.key)
    assert good_record is not None
    # Every run of the healthy check ended well within its own timeout, however busy the
    # hostile peers kept the agent.
    assert set(good_record.outcomes) == {FailureReason.OK}, good_record.outcomes
    assert sum(good_record.outcomes.values()) >= 5
    for name, check in hostile_checks.items():
        record = book.get(check.key)
        assert record is not None, name
        expected = FailureReason.MALFORMED_RESPONSE if "headers" in name else FailureReason.TIMEOUT
        assert set(record.outcomes) == {expected}, (name, record.outcomes)


def fed(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


CHUNKED = Head(200, None, True, False, None)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        pytest.param(b"2\r\nok\r\n0\r\n\r\n", b"ok", id="chunks"),
        pytest.param(b"2;x=y\r\nok\r\n0\r\nA: b\r\nC: d\r\n\r\n", b"ok", id="trailers"),
        pytest.param(b"-2\r\nok\r\n0\r\n\r\n", ValueError, id="negative-size"),
        pytest.param(b"zz\r\nok\r\n", ValueError, id="not-hex"),
        pytest.param(b"1\r\nx\r\n" * 11 + b"0\r\n\r\n", TooLarge, id="over-the-cap"),
        pytest.param(b"1\r\nx\r\n" * 5, asyncio.IncompleteReadError, id="no-last-chunk"),
    ],
)
async def test_the_chunk_reader(wire: bytes, expected: bytes | type[Exception]) -> None:
    if isinstance(expected, bytes):
        assert await read_body(fed(wire), CHUNKED, max_body=10) == expected
    else:
        with pytest.raises(expected):
            await read_body(fed(wire), CHUNKED, max_body=10)


def oversized_tls(kind: str) -> TlsMaterial:
    """A server's material past what a client reads of a handshake (OpenSSL's 100 KiB of
    certificates): a chain of 200 certificates of 1 KiB, or one certificate of 3 MiB."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)

    def certificate(number: int, padding: int = 0) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"c{number}.test")])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(number + 1)
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
        )
        if padding:
            filler = x509.UnrecognizedExtension(
                ObjectIdentifier("1.3.6.1.4.1.99999.1"), padding * b"a"
            )
            builder = builder.add_extension(filler, critical=False)
        return builder.sign(key, hashes.SHA256())

    if kind == "3MiB":
        chain = [certificate(0, 3 * 2**20)]
    else:
        chain = [certificate(number, 1024) for number in range(200)]
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return TlsMaterial(pem(*chain), key_pem)


@pytest.mark.parametrize("kind", ["200-certificates", "3MiB"])
async def test_an_oversized_certificate_message_ends_the_handshake(
    kind: str, env: ProbeEnv
) -> None:
    async with tls_server(oversized_tls(kind)) as port:
        fetched = await fetch_chain("127.0.0.1", port, server_name="x.test", time_limit=1.0)
        url = f"https://127.0.0.1:{port}/"
        fresh = await Runner(PROBERS, env, ResultBook()).run(
            http_check(url, 1.0, "fresh", insecure_skip_verify=True)
        )
        kept = await Runner(PROBERS, env, ResultBook()).run(
            http_check(url, 1.0, "kept", insecure_skip_verify=True, keep_alive=True)
        )
    assert fetched.reason is FailureReason.TLS_HANDSHAKE_FAILED, fetched.detail
    assert "excessive message size" in fetched.detail
    assert fresh.reason is FailureReason.TLS_HANDSHAKE_FAILED, fresh.detail
    assert kept.reason is FailureReason.TLS_HANDSHAKE_FAILED, kept.detail


def big_crl(entries: int) -> bytes:
    """A CRL over `probes.crl_fetch.THREAD_PARSE_BYTES`, so it is parsed in a thread."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    revoked = [
        x509.RevokedCertificateBuilder().serial_number(number + 1).revocation_date(now).build()
        for number in range(entries)
    ]
    builder = x509.CertificateRevocationListBuilder(
        issuer_name=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "big CRL")]),
        last_update=now - timedelta(hours=1),
        next_update=now + timedelta(days=1),
        revoked_certificates=revoked,
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


async def test_big_crls_parsed_together_leave_threads_to_resolve_host_names(
    env: ProbeEnv,
) -> None:
    body = big_crl(60_000)
    assert len(body) > THREAD_PARSE_BYTES

    async def crl(_request: web.Request) -> web.Response:
        return web.Response(body=body)

    async def ok(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/crl/{number}", crl)
    app.router.add_get("/ok", ok)
    # Where the fresh-connection path connects for "localhost": the first address found.
    *_, address = socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)[0]
    site, bound = await serve_app(app, str(address[0]), 0, shutdown_timeout=0.1)
    port = bound.rsplit(":", 1)[1]
    try:
        crl_checks = [
            next(
                expand_crl(
                    CrlTarget.model_validate({"url": f"http://{bound}/crl/{n}", "refresh": 0.01}),
                    CheckDefaults(interval=0.1, timeout=5.0),
                )
            )
            for n in range(12)
        ]
        by_name = http_check(f"http://localhost:{port}/ok", HEALTHY_TIMEOUT, "by name")
        book = ResultBook()
        runner = Runner(PROBERS, env, book)
        scheduler = Scheduler(
            [*crl_checks, by_name],
            runner.run,
            limits={"crl": len(crl_checks), "http": 1},
            jitter=0.0,
            initial_spread=0.0,
        )
        running = asyncio.create_task(scheduler.run())
        await asyncio.sleep(RUN_SECONDS)
        scheduler.stop()
        await running
    finally:
        await env.aclose()  # the CRL fetches still in flight end before their server
        await site.cleanup()
    record = book.get(by_name.key)
    assert record is not None
    # Every CRL parse took a thread of the loop's default executor, which resolves host
    # names too: the check by name must never wait for one past its timeout.
    assert set(record.outcomes) == {FailureReason.OK}, record.outcomes
    parsed = [entry for check in crl_checks if (entry := book.get(check.key)) is not None]
    assert sum(entry.outcomes[FailureReason.OK] for entry in parsed) >= 2  # they were busy


async def test_a_linked_chain_of_hundreds_is_refused_without_validating_it() -> None:
    # What a server can present within OpenSSL's 100 KiB: some 200 small certificates,
    # each the issuer of the one before. The validator would check every signature of the
    # 202-certificate path, holding the event loop, before it was refused as too long.
    links = [issue("link 200", None, ca=True)]
    for number in range(199, -1, -1):
        links.append(issue(f"link {number}", links[-1], ca=True))
    root, leaf = links[0], issue("leaf", links[-1], ca=False)
    verdict = await judge_path(
        leaf.cert,
        [link.cert for link in reversed(links[1:])],
        [root.cert],
        at=datetime.now(UTC),
        options=PathOptions(),
    )
    assert verdict.reason is FailureReason.CHAIN_UNTRUSTED
    assert verdict.detail.startswith("no path to the trust anchors"), verdict.detail


async def test_a_crl_fetch_outliving_its_check_ends_when_the_agent_closes() -> None:
    # The fetch is shielded from the check (others may wait on it): a check cancelled as
    # the agent stops leaves it running, and only closing the probe state can end it,
    # with its connection.
    async with hostile() as bad, outbound_client() as http:
        env = ProbeEnv(http=http)
        (check,) = expand_crl(
            CrlTarget.model_validate({"url": bad + "/status-only"}),
            CheckDefaults(timeout=5.0),
        )
        running = asyncio.create_task(Runner(PROBERS, env, ResultBook()).run(check))
        await asyncio.sleep(0.2)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        fetching = [task for task in asyncio.all_tasks() if task.get_name().startswith("crl-")]
        await env.aclose()
        assert fetching
        assert all(task.done() for task in fetching)  # before the server or client goes
