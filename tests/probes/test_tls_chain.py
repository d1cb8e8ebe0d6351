"""Fetching a TLS server's whole chain without verifying it, and every way that fails."""

from __future__ import annotations

import asyncio
import ssl
import sys
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from probes import FailureReason
from probes.tls_chain import fetch_chain, presented_chain
from tests.probes.tls_test_servers import closed_port, material, raw_server, tls_server
from vigie.lab.pki import LabPki
from vigie.lab.tls import server_ssl_context


@pytest.fixture(scope="module")
def pki() -> LabPki:
    return LabPki.generate("http://127.0.0.1:9", now=datetime.now(UTC))


def der_chain(pki: LabPki, name: str) -> tuple[bytes, ...]:
    return tuple(cert.public_bytes(Encoding.DER) for cert in pki.by_name(name).chain)


async def test_the_whole_presented_chain_comes_back_leaf_first(pki: LabPki) -> None:
    async with tls_server(material(pki.endpoint("smp1"))) as port:
        fetched = await fetch_chain(
            "127.0.0.1", port, server_name="smp1.edelivery.test", time_limit=5
        )
    assert fetched.reason is FailureReason.OK
    assert fetched.chain == der_chain(pki, "smp1")
    assert fetched.tls_version in {"TLSv1.2", "TLSv1.3"}
    assert set(fetched.phases) == {"connect", "tls"}


async def test_an_expired_chain_is_fetched_all_the_same(pki: LabPki) -> None:
    # Verification is ours, afterwards: the handshake must not refuse what it dislikes.
    async with tls_server(material(pki.expired("smp1"))) as port:
        fetched = await fetch_chain("127.0.0.1", port, server_name=None, time_limit=5)
    assert (fetched.reason, fetched.chain) == (FailureReason.OK, der_chain(pki, "smp1-expired"))


async def test_sni_is_the_server_name_and_absent_for_an_address(pki: LabPki) -> None:
    seen: list[str | None] = []

    def record(_ssl_object: object, name: str | None, _context: object) -> None:
        seen.append(name)

    context = server_ssl_context(material(pki.endpoint("smp2")))
    context.sni_callback = record
    server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0, ssl=context)
    async with server:
        port = server.sockets[0].getsockname()[1]
        await fetch_chain("127.0.0.1", port, server_name="smp2.edelivery.test", time_limit=5)
        await fetch_chain("127.0.0.1", port, server_name=None, time_limit=5)
    assert seen == ["smp2.edelivery.test", None]


@pytest.mark.parametrize(
    ("reply", "reason", "phase"),
    [
        pytest.param(None, FailureReason.TIMEOUT, "tls", id="stalls-mid-handshake"),
        pytest.param(b"HTTP/1.0 400 nope\r\n\r\n", FailureReason.TLS_HANDSHAKE_FAILED, "tls",
                     id="plain-http"),
        pytest.param(b"", FailureReason.TLS_HANDSHAKE_FAILED, "tls", id="closes-at-once"),
    ],
)  # fmt: skip
async def test_misbehaving_servers_are_reasons(
    reply: bytes | None, reason: FailureReason, phase: str
) -> None:
    async with raw_server(reply) as port:
        fetched = await fetch_chain("127.0.0.1", port, server_name="x.test", time_limit=0.5)
    assert fetched.reason is reason, fetched.detail
    assert fetched.chain == ()
    assert phase in fetched.phases
    if reason is FailureReason.TIMEOUT:
        assert "(tls)" in fetched.detail


async def test_a_closed_port_is_connection_refused() -> None:
    fetched = await fetch_chain("127.0.0.1", closed_port(), server_name=None, time_limit=5)
    assert fetched.reason is FailureReason.CONNECTION_REFUSED
    assert set(fetched.phases) == {"connect"}


async def test_an_unresolvable_host_is_a_network_error() -> None:
    fetched = await fetch_chain("host.invalid", 443, server_name=None, time_limit=5)
    assert fetched.reason is FailureReason.NETWORK_ERROR


async def test_the_private_chain_api_of_this_python_is_the_one_used(pki: LabPki) -> None:
    """On 3.11/3.12 `presented_chain` relies on `SSLObject._sslobj.get_unverified_chain`;
    this fails loudly if a Python release removes it, instead of silently losing the
    intermediates (the fallback returns the leaf alone)."""
    async with tls_server(material(pki.endpoint("smp1"))) as port:
        unverified = ssl.create_default_context()
        unverified.check_hostname = False
        unverified.verify_mode = ssl.CERT_NONE
        _reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=unverified, server_hostname="smp1.edelivery.test"
        )
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            if sys.version_info < (3, 13):
                assert hasattr(ssl_object._sslobj, "get_unverified_chain")
            assert presented_chain(ssl_object) == der_chain(pki, "smp1")
        finally:
            writer.close()
            await writer.wait_closed()
