"""The fresh client connection of the endpoint and certificate checks, against real local
servers: TLS and plain, a large answer read in parts, and the ways a peer goes away."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import cast

import pytest

from probes.tls_stream import ClientStream
from tests.probes.tls_test_servers import closed_port, material, raw_server
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


def client_context(pki: LabPki) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=pki.trust_anchor_pem().decode())


@pytest.mark.parametrize("use_tls", [True, False], ids=["tls", "plain"])
async def test_a_request_and_a_large_answer_arrive_whole(pki: LabPki, use_tls: bool) -> None:
    context = server_ssl_context(material(pki.endpoint("smp1"))) if use_tls else None
    async with echo_big_server(context) as port:
        stream = await ClientStream.open("127.0.0.1", port)
        try:
            if use_tls:
                tls = await stream.start_tls(client_context(pki), "smp1.edelivery.test")
                assert tls.version() in {"TLSv1.2", "TLSv1.3"}
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


class InterfaceOnlyTransport:
    """What uvloop hands a protocol: asyncio.Transport's methods, not its class."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.sent.append(data)

    def is_closing(self) -> bool:
        return self.aborted

    def abort(self) -> None:
        self.aborted = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def test_a_transport_that_only_has_the_interface_is_used() -> None:
    transport = InterfaceOnlyTransport()
    near, far = socket.socketpair()
    with near, far:
        stream = ClientStream(near)
        stream.connection_made(cast(asyncio.BaseTransport, transport))
        stream.write(b"GET / HTTP/1.1\r\n")
        stream.data_received(b"HTTP/1.1 200 OK\r\n")
        assert await stream.readuntil(b"\r\n") == b"HTTP/1.1 200 OK\r\n"
        stream.close()
    assert transport.sent == [b"GET / HTTP/1.1\r\n"]
    assert transport.aborted
