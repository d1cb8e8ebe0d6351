"""Which URLs discovery takes from other checks' artifacts (no network)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from probes.http_discovery import HttpDiscoveryTarget, discovered_urls


def view() -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield "dns_participant", {"smp_url": "https://smp-b.test/"}
    yield "dns_participant", {"smp_url": "https://smp-a.test"}
    yield "dns_participant", {"smp_url": "https://smp-a.test"}  # twice: once
    yield "dns_participant", {"publisher": "smp-c.publisher.test"}  # classic: no URL
    yield "smp", {"endpoints": (endpoint("https://ap.test/as4"), endpoint("ftp://x.test/"))}
    yield "x509", {"chain": ()}


def endpoint(url: str) -> Any:
    return type("Endpoint", (), {"url": url})()  # what SmpEndpoint offers here


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        pytest.param(
            {},
            ["https://ap.test/as4", "https://smp-a.test", "https://smp-b.test"],
            id="both-sorted-deduplicated",
        ),
        pytest.param(
            {"access_points": False, "smp_path": "/ping"},
            ["https://smp-a.test/ping", "https://smp-b.test/ping"],
            id="smps-with-path",
        ),
        pytest.param({"smp": False}, ["https://ap.test/as4"], id="access-points"),
    ],
)
def test_discovered_urls(settings: dict[str, Any], expected: list[str]) -> None:
    assert discovered_urls(view, HttpDiscoveryTarget(**settings)) == expected
