"""`vigie probe sml` against NSD: DNAME'd zones, NAPTR sets an order must not decide, and
identifiers typed as people type them.

The renamed zone is the 2026 test SML's shape: `participant.sml.test.tech.peppol.org` is a
DNAME to `acc.edelivery.tech.ec.europa.eu`. Here the DNAME zone and its target are served
by one NSD, then by two, the second reached through `--other-zone`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from probes.naming import NamingScheme, ParticipantId, participant_name
from tests.integration.nsd import RunningNsd, nsd_serving
from tests.integration.test_sml_nsd import vigie as probe_sml

pytestmark = pytest.mark.integration

RENAMED = "renamed.vigie.test"  # the DNAME zone, as users configure it
TARGET = "target.vigie.test"  # where its participants are published
SMP = "https://smp.target.vigie.test"
OTHER_SMP = "https://other.target.vigie.test"
SCHEME = "iso6523-actorid-upis"
UNUSABLE = '"U" "Meta:SMP" "!^(.*)$!https://broken.test/\\\\1!"'
USABLE = f'"U" "Meta:SMP" "!^.*$!{SMP}!"'

# participant value -> its NAPTR records in zone-file order (NSD answers in that order)
PARTICIPANTS = {
    "0088:plain": [f"100 10 {USABLE}"],
    "0088:unusable-first": [f"100 10 {UNUSABLE}", f"100 10 {USABLE}"],
    "0088:unusable-last": [f"100 10 {USABLE}", f"100 10 {UNUSABLE}"],
    "0088:url-as-service": [f'100 10 "U" "{SMP}" "!.*!{SMP}!"', f"100 20 {USABLE}"],
    "0088:only-url-as-service": [f'100 10 "U" "{SMP}" "!.*!{SMP}!"'],
    "0088:two-smps": [f'100 10 "U" "Meta:SMP" "!.*!{OTHER_SMP}!"', f"100 10 {USABLE}"],
    "0088:mixedcase": [f"100 10 {USABLE}"],
}


def soa(zone: str) -> list[str]:
    # The name server lives outside: a DNAME owner may have no names below it (RFC 6672).
    return [
        f"$ORIGIN {zone}.",
        "$TTL 60",
        "@ IN SOA ns.vigie.test. hostmaster.vigie.test. 2026120701 3600 600 86400 60",
        "@ IN NS ns.vigie.test.",
    ]


def renamed_zone() -> str:
    return "\n".join([*soa(RENAMED), f"@ IN DNAME {TARGET}."]) + "\n"


def target_zone() -> str:
    lines = soa(TARGET)
    for value, records in PARTICIPANTS.items():
        name = participant_name(ParticipantId(SCHEME, value), TARGET, NamingScheme.NAPTR)
        lines += [f"{name}. IN NAPTR {record} ." for record in records]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def one_nsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNsd]:
    workdir = tmp_path_factory.mktemp("nsd-both")
    with nsd_serving(RENAMED, renamed_zone(), workdir, {TARGET: target_zone()}) as server:
        yield server


@pytest.fixture(scope="module")
def two_nsds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningNsd, RunningNsd]]:
    with (
        nsd_serving(RENAMED, renamed_zone(), tmp_path_factory.mktemp("nsd-dname")) as first,
        nsd_serving(TARGET, target_zone(), tmp_path_factory.mktemp("nsd-target")) as second,
    ):
        yield first, second


def address(server: RunningNsd) -> str:
    return f"{server.host}:{server.port}"


def pid(value: str) -> str:
    return f"{SCHEME}::{value}"


@pytest.mark.parametrize("layout", ["one-nsd", "two-nsds"])
def test_a_dname_zone_is_followed_to_its_target(
    layout: str, request: pytest.FixtureRequest
) -> None:
    if layout == "one-nsd":
        server: RunningNsd = request.getfixturevalue("one_nsd")
        where = ["--server", address(server)]
    else:
        first, second = request.getfixturevalue("two_nsds")
        where = ["--server", address(first), "--other-zone", f"{TARGET}={address(second)}"]
    asked = ["--participant", pid("0088:plain"), "--json"]
    status, out, err = probe_sml("--zone", RENAMED, *where, *asked)
    document = json.loads(out)
    assert (status, document["reason"]) == (0, "ok"), document
    assert err == ""
    findings = document["findings"]
    assert findings["smp_url"] == SMP
    assert f"{RENAMED} DNAME {TARGET}" in findings["chain"]


def test_without_the_target_zone_the_chain_end_is_named(
    two_nsds: tuple[RunningNsd, RunningNsd],
) -> None:
    first, _ = two_nsds
    # The target is served elsewhere and no resolver is asked here: the failure names
    # where the chain leads rather than claiming the participant has no record.
    status, out, _ = probe_sml(
        "--zone", RENAMED, "--server", address(first), "--other-zone",
        f"{TARGET}=127.0.0.1:9", "--participant", pid("0088:plain"), "--timeout", "2s", "--json",
    )  # fmt: skip
    document = json.loads(out)
    assert status == 1
    assert document["reason"] in {"connection_refused", "timeout"}
    assert TARGET in document["detail"]


@pytest.mark.parametrize(
    ("value", "expected", "code", "reason", "smp"),
    [
        pytest.param("0088:unusable-first", None, 0, "ok", SMP, id="unusable-listed-first"),
        pytest.param("0088:unusable-last", None, 0, "ok", SMP, id="unusable-listed-last"),
        pytest.param("0088:url-as-service", None, 0, "ok", SMP, id="url-in-service-skipped"),
        pytest.param(
            "0088:only-url-as-service", None, 1, "no_meta_smp_record", None, id="only-url-service"
        ),
        pytest.param("0088:two-smps", None, 0, "ok", OTHER_SMP, id="alternatives-by-url"),
        pytest.param("0088:two-smps", SMP, 0, "ok", SMP, id="expected-alternative"),
    ],
)
def test_naptr_sets_are_judged_whatever_their_order(
    one_nsd: RunningNsd, value: str, expected: str | None, code: int, reason: str, smp: str | None
) -> None:
    extra = ["--expect-smp", expected] if expected else []
    where = ["--zone", TARGET, "--server", address(one_nsd)]
    status, out, _ = probe_sml(*where, "--participant", pid(value), *extra, "--json")
    document = json.loads(out)
    assert (status, document["reason"]) == (code, reason), document
    assert document["findings"].get("smp_url") == smp


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param(f"{SCHEME}::  0088:MixedCase", id="spaces-after-separator"),
        pytest.param(" ISO6523-ACTORID-UPIS::0088:MIXEDCASE ", id="upper-case"),
    ],
)
def test_identifiers_are_read_as_the_policy_writes_them(one_nsd: RunningNsd, typed: str) -> None:
    status, out, _ = probe_sml(
        "--zone", TARGET, "--server", address(one_nsd), "--participant", typed, "--json"
    )  # fmt: skip
    document = json.loads(out)
    assert (status, document["reason"]) == (0, "ok"), document
    assert document["findings"]["participant"] == pid("0088:mixedcase")


def test_an_identifier_no_registration_could_have_is_a_usage_error(one_nsd: RunningNsd) -> None:
    status, out, err = probe_sml(
        "--zone", TARGET, "--server", address(one_nsd), "--participant", f"{SCHEME}::0088: x"
    )  # fmt: skip
    assert (status, out) == (2, "")
    assert "ICD:IDENTIFIER" in err
