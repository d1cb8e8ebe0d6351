"""The `targets.smp[]` model: what it accepts, and the exact message for what it refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from probes import CheckDefaults
from probes.smp import SmpTarget, expand_smp

PARTICIPANT = "iso6523-actorid-upis::9915:test"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param({"url": "ftp://smp.test"}, "is not an http(s) URL with a host", id="ftp"),
        pytest.param({"url": "https://"}, "is not an http(s) URL with a host", id="no-host"),
        pytest.param({"url": "https://smp.test/?a=1"}, "takes no query", id="query"),
        pytest.param({"participant": "9915:test"}, "needs SCHEME::VALUE", id="no-scheme"),
        pytest.param({"document_type": "invoice"}, "expected SCHEME::VALUE", id="bad-doctype"),
        pytest.param({"trust_anchors": "/nonexistent.pem"}, "nonexistent.pem", id="no-anchors"),
        pytest.param({"health": "tomcat"}, "'domismp', 'phoss' or 'oxalis'", id="health"),
        pytest.param({"max_body": 10}, "greater than or equal to 1024", id="tiny-max-body"),
        pytest.param({"follow": 1}, "Extra inputs are not permitted", id="unknown-key"),
    ],
)
def test_refused_settings(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SmpTarget(**{"url": "https://smp.test", "participant": PARTICIPANT, **settings})


def test_anchors_without_verification_is_a_contradiction(tmp_path: Path) -> None:
    from tests.lab.https_helpers import make_throwaway_pki

    anchors = tmp_path / "root.pem"
    anchors.write_bytes(make_throwaway_pki().ca_pem)
    with pytest.raises(ValidationError, match="trust_anchors is set but verify_signature"):
        SmpTarget(
            url="https://smp.test",
            participant=PARTICIPANT,
            trust_anchors=anchors,
            verify_signature=False,
        )


def test_one_check_per_target_with_exact_urls() -> None:
    target = SmpTarget(url="https://smp.test/smp/", participant=PARTICIPANT)
    (check,) = expand_smp(target, CheckDefaults(interval=30, timeout=5))
    assert (check.kind, check.service, check.target) == (
        "smp",
        "smp",
        f"{PARTICIPANT}@https://smp.test/smp",
    )
    assert (check.interval, check.timeout) == (30, 5)
    assert check.params.service_group_url == (
        "https://smp.test/smp/iso6523-actorid-upis%3A%3A9915%3Atest"
    )
    assert check.params.metadata_url("busdox-docid-qns::urn:a::b##c") == (
        "https://smp.test/smp/iso6523-actorid-upis%3A%3A9915%3Atest/services/"
        "busdox-docid-qns%3A%3Aurn%3Aa%3A%3Ab%23%23c"
    )
