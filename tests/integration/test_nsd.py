"""The probes against NSD, a reference authoritative server that is not ours."""

from __future__ import annotations

from collections.abc import Iterator

import dns.asyncquery
import dns.message
import pytest

from probes import Check, FailureReason, ProbeEnv
from probes._base import CheckDefaults
from probes.dns import SmlTarget, expand_sml
from probes.dns_soa import probe_soa
from probes.naming import NamingScheme, ParticipantId, participant_name
from tests.integration.nsd import RunningNsd, nsd_serving

pytestmark = pytest.mark.integration

ZONE = "sml.vigie.test"
SERIAL = 2026112207
PARTICIPANT = ParticipantId.parse("iso6523-actorid-upis::0088:123ABC")


def zone_text() -> str:
    bdxl = participant_name(PARTICIPANT, ZONE, NamingScheme.NAPTR)
    classic = participant_name(PARTICIPANT, ZONE, NamingScheme.CNAME)
    return f"""$ORIGIN {ZONE}.
$TTL 60
@ IN SOA ns1 hostmaster {SERIAL} 3600 600 86400 60
@ IN NS ns1
ns1 IN A 127.0.0.1
smp1.publisher IN A 127.0.0.1
{bdxl}. IN NAPTR 100 10 "U" "Meta:SMP" "!^.*$!https://smp1.{ZONE}!" .
{classic}. IN CNAME smp1.publisher
"""


@pytest.fixture(scope="module")
def nsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNsd]:
    with nsd_serving(ZONE, zone_text(), tmp_path_factory.mktemp("nsd")) as server:
        yield server


def soa_check(server: str) -> Check:
    target = SmlTarget(zone=ZONE, nameservers=[server], zone_health=False)
    (check,) = expand_sml(target, CheckDefaults(interval=60, timeout=2))
    return check


async def test_the_soa_probe_reads_nsds_serial(nsd: RunningNsd) -> None:
    result = await probe_soa(soa_check(f"{nsd.host}:{nsd.port}"), ProbeEnv())
    assert result.reason is FailureReason.OK, result.detail
    assert result.values["serial"] == SERIAL


async def test_a_zone_nsd_does_not_serve_is_refused(nsd: RunningNsd) -> None:
    target = SmlTarget(zone="other.test", nameservers=[f"{nsd.host}:{nsd.port}"], zone_health=False)
    (check,) = expand_sml(target, CheckDefaults(interval=60, timeout=2))
    result = await probe_soa(check, ProbeEnv())
    assert result.reason is FailureReason.REFUSED


@pytest.mark.parametrize(
    ("scheme", "rdtype", "expected"),
    [
        pytest.param(NamingScheme.NAPTR, "NAPTR", f"!^.*$!https://smp1.{ZONE}!", id="bdxl"),
        pytest.param(NamingScheme.CNAME, "CNAME", f"smp1.publisher.{ZONE}.", id="classic"),
    ],
)
async def test_our_participant_names_are_the_ones_a_real_sml_publishes(
    nsd: RunningNsd, scheme: NamingScheme, rdtype: str, expected: str
) -> None:
    # The zone file was written from the names; query the lower-case value's name to
    # prove the upper-case identifier hashes to the same record.
    name = participant_name(ParticipantId.parse(str(PARTICIPANT).lower()), ZONE, scheme)
    response = await dns.asyncquery.udp(
        dns.message.make_query(name, rdtype), nsd.host, port=nsd.port, timeout=2
    )
    (rdata,) = response.answer[0]
    text = rdata.regexp.decode() if rdtype == "NAPTR" else rdata.target.to_text()
    assert text == expected
