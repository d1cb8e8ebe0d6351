"""The fresh client connection of the endpoint and certificate checks, against real local
servers: TLS and plain, a large answer read in parts, and the ways a peer goes away."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509

from probes.tls_stream import ClientStream, TlsClient, TlsError
from tests.probes.tls_test_servers import closed_port, issue, material, raw_server, tls_server
from vigie.lab.pki import LabPki
from vigie.lab.tls import server_ssl_context

BIG = bytes(range(256)) * 4096  # 1 MiB: more than the stream holds before pausing


@pytest.fixture(scope="module")
def pki() -> LabPki:
    return LabPki.generate("http://127.0.0.1:9", now=datetime.now(UTC))


@contextlib.asynccontextmanager
async def echo_big_server(context: ssl.SSLContext | None) -> AsyncIterator[int]:
    """Reads one line, answers it back followed by BIG, then closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        writer.write(line + BIG)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    async with server:
        yield server.sockets[0].getsockname()[1]


def client_context(pki: LabPki) -> TlsClient:
    return TlsClient(verify=True, anchors=x509.load_pem_x509_certificates(pki.trust_anchor_pem()))


@pytest.mark.parametrize("use_tls", [True, False], ids=["tls", "plain"])
async def test_a_request_and_a_large_answer_arrive_whole(pki: LabPki, use_tls: bool) -> None:
    context = server_ssl_context(material(pki.endpoint("smp1"))) if use_tls else None
    async with echo_big_server(context) as port:
        stream = await ClientStream.open("127.0.0.1", port)
        try:
            if use_tls:
                tls = await stream.start_tls(client_context(pki), "smp1.edelivery.test")
                assert tls.version in {"TLSv1.2", "TLSv1.3"}
            stream.write(b"hello\n")
            assert await stream.readuntil(b"\n") == b"hello\n"
            assert await stream.readexactly(1000) == BIG[:1000]
            rest = b""
            while chunk := await stream.read(65536):
                rest += chunk
        finally:
            stream.close()
    assert rest == BIG[1000:]


async def test_a_line_longer_than_the_limit_is_refused() -> None:
    async with echo_big_server(None) as port:
        stream = await ClientStream.open("127.0.0.1", port)
        try:
            stream.write(b"x\n")
            with pytest.raises(ValueError, match="longer than 64 KiB"):
                await stream.readuntil(b"never there")
        finally:
            stream.close()


async def test_a_server_closing_mid_handshake_is_a_reset(pki: LabPki) -> None:
    async with raw_server(b"") as port:
        stream = await ClientStream.open("127.0.0.1", port)
        try:
            with pytest.raises(ConnectionResetError):  # a FIN or an RST: both are resets
                await stream.start_tls(client_context(pki), "smp1.edelivery.test")
        finally:
            stream.close()


async def test_the_end_of_a_plain_answer_is_an_incomplete_read() -> None:
    async with raw_server(b"partial") as port:
        stream = await ClientStream.open("127.0.0.1", port)
        try:
            with pytest.raises(asyncio.IncompleteReadError) as raised:
                await stream.readexactly(100)
        finally:
            stream.close()
    assert raised.value.partial == b"partial"


async def test_a_peer_that_resets_is_a_socket_error() -> None:
    async def handle(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # RST instead of FIN

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        stream = await ClientStream.open("127.0.0.1", server.sockets[0].getsockname()[1])
        try:
            with pytest.raises(ConnectionResetError):
                await stream.readexactly(1)
        finally:
            stream.close()


async def test_a_closed_port_is_refused() -> None:
    with pytest.raises(ConnectionRefusedError):
        await ClientStream.open("127.0.0.1", closed_port())


async def test_a_write_larger_than_the_socket_takes_is_sent_whole() -> None:
    """The server reads only after a pause, so most of the write waits for the socket."""
    big = BIG * 8

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(0.2)
        received = await reader.readexactly(len(big))
        writer.write(b"%d %d\n" % (len(received), received == big))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        stream = await ClientStream.open("127.0.0.1", server.sockets[0].getsockname()[1])
        try:
            stream.write(big)
            assert await stream.readuntil(b"\n") == b"%d 1\n" % len(big)
        finally:
            stream.close()


async def handshake(client: TlsClient, port: int, server_name: str) -> str:
    """The negotiated version, or the TlsError's message."""
    stream = await ClientStream.open("127.0.0.1", port)
    try:
        return (await stream.start_tls(client, server_name)).version
    except TlsError as exc:
        return str(exc)
    finally:
        stream.close()


async def test_a_verifying_client_accepts_a_chain_to_its_anchors(pki: LabPki) -> None:
    async with tls_server(material(pki.endpoint("smp1"))) as port:
        assert await handshake(client_context(pki), port, "smp1.edelivery.test") in {
            "TLSv1.2",
            "TLSv1.3",
        }
        # No SNI for an address; the leaf names 127.0.0.1 among its addresses.
        assert await handshake(client_context(pki), port, "127.0.0.1") in {"TLSv1.2", "TLSv1.3"}


@pytest.mark.parametrize(
    ("served", "server_name", "anchors", "message"),
    [
        pytest.param(
            "smp1",
            "smp1.edelivery.test",
            "other",
            "certificate verify failed: unable to get local issuer certificate "
            "(certificate 1 of the chain)",
            id="other-root",
        ),
        pytest.param(
            "smp1",
            "smp1.edelivery.test",
            "system",
            "certificate verify failed: unable to get local issuer certificate "
            "(certificate 1 of the chain)",
            id="system-roots",
        ),
        pytest.param(
            "smp1-expired",
            "smp1.edelivery.test",
            "lab",
            "certificate verify failed: certificate has expired (the leaf)",
            id="expired-leaf",
        ),
        pytest.param(
            "smp1",
            "smp2.edelivery.test",
            "lab",
            "the certificate does not name smp2.edelivery.test",
            id="other-name",
        ),
    ],
)
async def test_a_verifying_client_says_why_it_refuses(
    pki: LabPki, served: str, server_name: str, anchors: str, message: str
) -> None:
    other = LabPki.generate("http://127.0.0.1:9", now=datetime.now(UTC))
    client = {
        "lab": client_context(pki),
        "other": client_context(other),
        "system": TlsClient(verify=True),
    }[anchors]
    issued = pki.expired("smp1") if served == "smp1-expired" else pki.endpoint(served)
    async with tls_server(material(issued)) as port:
        assert await handshake(client, port, server_name) == message


async def test_an_internationalised_name_matches_its_a_label(pki: LabPki) -> None:
    now = datetime.now(UTC)
    leaf = issue(
        "bücher.test",
        pki.intermediate,
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=1),
        dns_names=["xn--bcher-kva.test"],
    )
    async with tls_server(material(leaf)) as port:
        assert await handshake(client_context(pki), port, "bücher.test") in {"TLSv1.2", "TLSv1.3"}
        assert await handshake(client_context(pki), port, "xn--bcher-kva.test") in {
            "TLSv1.2",
            "TLSv1.3",
        }


async def test_a_client_that_does_not_verify_takes_any_chain(pki: LabPki) -> None:
    async with tls_server(material(pki.expired("smp1"))) as port:
        assert await handshake(TlsClient(verify=False), port, "x.test") in {"TLSv1.2", "TLSv1.3"}


async def test_a_broken_record_after_the_handshake_is_a_tls_error(pki: LabPki) -> None:
    context = server_ssl_context(material(pki.endpoint("smp1")))
    async with echo_big_server(context) as port:
        stream = await ClientStream.open("127.0.0.1", port)
        try:
            await stream.start_tls(client_context(pki), "smp1.edelivery.test")
            stream._received(b"\x17\x03\x03\x00\x20" + bytes(32))  # not under our keys
            with pytest.raises(TlsError):
                await stream.read(10)
        finally:
            stream.close()


async def test_a_name_that_is_not_a_host_name_is_a_tls_error(pki: LabPki) -> None:
    async with tls_server(material(pki.endpoint("smp1"))) as port:
        assert "not a valid server name" in await handshake(TlsClient(verify=False), port, "a..b")
