"""The lab Access Point over real HTTPS on 127.0.0.1: endpoints, size cap, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from lxml import etree  # type: ignore[import-untyped]

from tests.lab.https_helpers import (
    FAULT_CASES,
    FaultCase,
    ThrowawayPki,
    check_expired_certificate_switch,
    check_fault,
    check_saturation,
    make_throwaway_pki,
)
from vigie.lab.access_point import LabAccessPoint
from vigie.lab.faults import Faults

MAX_BODY = 64 * 1024


@pytest.fixture(scope="module")
def pki() -> ThrowawayPki:
    return make_throwaway_pki()


@pytest.fixture
async def access_point(pki: ThrowawayPki) -> AsyncIterator[LabAccessPoint]:
    server = LabAccessPoint("ap1", Faults(), pki.tls, pki.expired_tls, max_body_bytes=MAX_BODY)
    async with server:
        yield server


async def test_home_answers(access_point: LabAccessPoint, pki: ThrowawayPki) -> None:
    async with pki.client() as client:
        response = await client.get(access_point.url + "/")
    assert response.status_code == 200


async def test_status_is_oxalis_style_key_value_lines(
    access_point: LabAccessPoint, pki: ThrowawayPki
) -> None:
    async with pki.client() as client:
        response = await client.get(access_point.url + "/status")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    fields = dict(line.split(": ", 1) for line in response.text.splitlines())
    assert fields["name"] == "ap1"
    assert fields["status"] == "ok"


async def test_as4_post_gets_a_soap_receipt(
    access_point: LabAccessPoint, pki: ThrowawayPki
) -> None:
    async with pki.client() as client:
        response = await client.post(access_point.url + "/as4", content=b"x" * 1000)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/soap+xml")
    envelope = etree.fromstring(response.content)
    assert envelope.tag == "{http://www.w3.org/2003/05/soap-envelope}Envelope"
    receipt = envelope.findtext(
        ".//{http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/}Receipt"
    )
    assert "1000 bytes" in receipt


async def test_as4_post_over_the_size_cap_is_413(
    access_point: LabAccessPoint, pki: ThrowawayPki
) -> None:
    async with pki.client() as client:
        response = await client.post(access_point.url + "/as4", content=b"x" * (MAX_BODY + 1))
    assert response.status_code == 413


@pytest.mark.parametrize("case", FAULT_CASES)
async def test_http_faults(
    access_point: LabAccessPoint, pki: ThrowawayPki, case: FaultCase
) -> None:
    await check_fault(access_point, pki, "/status", case)


async def test_saturation_rejects_beyond_capacity(
    access_point: LabAccessPoint, pki: ThrowawayPki
) -> None:
    await check_saturation(access_point, pki, "/status")


async def test_expired_certificate_switch(access_point: LabAccessPoint, pki: ThrowawayPki) -> None:
    await check_expired_certificate_switch(access_point, pki)
