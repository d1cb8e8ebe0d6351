"""A CNAME chain told one link per answer, by a name server on 127.0.0.1: a chain that
loops across answers, or goes 100 deep, ends as a reason after a bounded number of
queries, never as an endless walk."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import cast

import dns.flags
import dns.message
import dns.rrset
import pytest

from probes import FailureReason, ProbeEnv
from probes.dns_chain import ChainServers, follow_chain
from probes.dns_lookup import MAX_CHAIN, Lookup, evaluate_naptr
from probes.dns_servers import ZoneServers
from probes.dns_wire import TYPE_NAPTR

ZONE = "chain.test"


class OneLinkServer(asyncio.DatagramProtocol):
    """Answers `nK.chain.test` with a CNAME to the next name, and nothing else: in `loop`
    mode n0 -> n1 -> n0, else n0 -> n1 -> ... without end."""

    def __init__(self, loop: bool) -> None:
        self.loop = loop
        self.asked: list[str] = []
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        name = query.question[0].name.to_text()
        self.asked.append(name)
        number = int(name.split(".", 1)[0].removeprefix("n"))
        following = (number + 1) % 2 if self.loop else number + 1
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        response.answer.append(
            dns.rrset.from_text(name, 60, "IN", "CNAME", f"n{following}.{ZONE}.")
        )
        assert self._transport is not None
        self._transport.sendto(response.to_wire(), addr)


@contextlib.asynccontextmanager
async def one_link_server(loop: bool) -> AsyncIterator[tuple[OneLinkServer, tuple[str, int]]]:
    transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: OneLinkServer(loop), local_addr=("127.0.0.1", 0)
    )
    try:
        yield protocol, transport.get_extra_info("sockname")[:2]
    finally:
        transport.close()


@pytest.mark.parametrize(
    ("loop", "detail", "most_asked"),
    [
        pytest.param(True, f"CNAME/DNAME loop at n0.{ZONE}", 1, id="loop-across-answers"),
        pytest.param(
            False, f"chain longer than {MAX_CHAIN} links", MAX_CHAIN + 1, id="hundred-deep"
        ),
    ],
)
async def test_a_chain_told_one_link_at_a_time_ends(
    loop: bool, detail: str, most_asked: int
) -> None:
    async with one_link_server(loop) as (server, address):
        where = ChainServers(
            ZONE.encode(), ZoneServers(ZONE, ()), ((ZONE.encode(), (("fake", address),)),)
        )
        first = Lookup(FailureReason.NODATA, follow=f"n1.{ZONE}".encode())
        lookup = await follow_chain(
            first,
            f"n0.{ZONE}".encode(),
            TYPE_NAPTR,
            where,
            lambda message, name, _zone: evaluate_naptr(message, name, None),
            ProbeEnv(),
            time_limit=1.0,
        )
    assert lookup.reason is FailureReason.MALFORMED_RECORD, lookup.detail
    assert detail in lookup.detail
    assert len(server.asked) <= most_asked
