"""Which URLs discovery takes from other checks' findings (no network)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from probes import CheckDefaults, Findings
from probes.dns_participant import ParticipantFindings
from probes.http_discovery import HttpDiscoveryTarget, discovered_urls, expand_http_discovery
from probes.smp import SmpEndpoint, SmpFindings
from probes.x509 import X509Findings


def participant(**found: str) -> ParticipantFindings:
    return ParticipantFindings("iso6523-actorid-upis::0088:1", "naptr", "x.sml.test", **found)


def view() -> Iterator[Findings]:
    yield participant(smp_url="https://smp-b.test/")
    yield participant(smp_url="https://smp-a.test")
    yield participant(smp_url="https://smp-a.test")  # twice: once
    yield participant(publisher="smp-c.publisher.test")  # classic: no URL
    endpoints = (endpoint("https://ap.test/as4"), endpoint("ftp://x.test/"))
    yield SmpFindings("iso6523-actorid-upis::0088:1", "https://smp.test/x", endpoints=endpoints)
    yield X509Findings(certificates=())


def endpoint(url: str) -> SmpEndpoint:
    return SmpEndpoint("p", "d", "proc", "peppol-transport-as4-v2_0", url, None, b"")


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


def test_the_checks_timing_and_objectives_are_the_targets() -> None:
    """Every setting of the target reaches its check: retries and objectives included."""
    target = HttpDiscoveryTarget.model_validate(
        {"retries": 2, "objectives": {"availability": 0.9, "latency": "2s", "window": "7d"}}
    )
    (check,) = expand_http_discovery(target, CheckDefaults(interval=30, timeout=5, retries=0))
    assert (check.interval, check.timeout, check.retries) == (30, 5, 2)
    assert check.objective is not None
    assert (check.objective.availability, check.objective.latency) == (0.9, 2.0)
    assert check.objective.window == 7 * 86400
