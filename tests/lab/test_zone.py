"""The lab zone's data: participant names in both schemes, fixtures, fault overrides."""

from __future__ import annotations

from typing import Any

import dns.message
import dns.name
import dns.rdatatype
import pytest

from probes.naming import NamingScheme, ParticipantId, participant_name
from vigie.lab.zone import (
    BAD_REGEXP_PARTICIPANT,
    EBCORE_PARTICIPANTS,
    LARGE_LABEL,
    LARGE_NAPTR_COUNT,
    MULTI_NAPTR_PARTICIPANT,
    LabZone,
    Node,
    ParticipantRef,
)

SMP1, SMP2 = "https://smp1.edelivery.test", "https://smp2.edelivery.test"
# Independent vector (computed outside this code base) for the naming functions.
VECTOR_ID = "iso6523-actorid-upis::0088:123abc"
VECTOR_CLASSIC = "B-f5e78500450d37de5aabe6648ac3bb70.iso6523-actorid-upis.edelivery.test."
VECTOR_BDXL = (
    "y7dzfxaf3d4cjz4kcgrxtec6twvcga4ky7zwa5boif6mswd4tdrq.iso6523-actorid-upis.edelivery.test."
)


@pytest.fixture(scope="module")
def zone() -> LabZone:
    return LabZone(participants=20, smp_urls=(SMP1, SMP2), extra_participants=[VECTOR_ID])


def name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


def records(node: Node | None, rdtype: dns.rdatatype.RdataType) -> list[str]:
    assert node is not None
    return [rdata.to_text() for rdata in node.rrsets[rdtype]]


def test_participants_are_deterministic_and_include_two_ebcore_ids(zone: LabZone) -> None:
    ids = list(zone.participant_ids())

    assert len(zone) == len(ids) == 20 + 2 + 1
    assert ids[0] == "iso6523-actorid-upis::9915:lab0000000"
    assert ids[19] == "iso6523-actorid-upis::9915:lab0000019"
    assert ids[20:22] == list(EBCORE_PARTICIPANTS)
    assert ids[22] == VECTOR_ID
    assert ids == list(LabZone(participants=20, extra_participants=[VECTOR_ID]).participant_ids())
    assert all(ParticipantId.parse(pid).scheme is None for pid in EBCORE_PARTICIPANTS)


def test_participant_out_of_range_raises(zone: LabZone) -> None:
    with pytest.raises(IndexError):
        zone.participant(len(zone))


@pytest.mark.parametrize(
    ("participant_id", "expected"),
    [
        pytest.param("iso6523-actorid-upis::9915:lab0000000", 0, id="first"),
        pytest.param("iso6523-actorid-upis::9915:lab0000007", 1, id="round-robin"),
        pytest.param("iso6523-actorid-upis::9915:LAB0000007", 1, id="value-case-insensitive"),
        pytest.param(EBCORE_PARTICIPANTS[0], 0, id="ebcore-index-20"),
        pytest.param(VECTOR_ID, 0, id="extra-index-22"),
        pytest.param("iso6523-actorid-upis::9915:lab0000020", None, id="beyond-the-zone"),
        pytest.param("other-scheme::9915:lab0000001", None, id="same-value-other-scheme"),
    ],
)
def test_smp_index(zone: LabZone, participant_id: str, expected: int | None) -> None:
    assert zone.smp_index(participant_id) == expected


def test_independent_vector_in_both_schemes(zone: LabZone) -> None:
    index = zone.index_of(VECTOR_ID)
    assert index is not None

    assert zone.participant_name(index, NamingScheme.CNAME) == name(VECTOR_CLASSIC)
    assert zone.participant_name(index, NamingScheme.NAPTR) == name(VECTOR_BDXL)
    assert records(zone.lookup(name(VECTOR_CLASSIC)), dns.rdatatype.CNAME) == [
        "smp1.publisher.edelivery.test."
    ]
    assert records(zone.lookup(name(VECTOR_BDXL)), dns.rdatatype.NAPTR) == [
        '100 10 "U" "Meta:SMP" "!^.*$!https://smp1.edelivery.test!" .'
    ]


def test_every_participant_resolves_in_both_schemes_as_probes_naming_computes() -> None:
    zone = LabZone(participants=20_000, smp_urls=(SMP1, SMP2))

    for index in range(0, len(zone), 97):
        pid = ParticipantId.parse(zone.participant(index))
        for scheme in NamingScheme:
            node = zone.lookup(name(participant_name(pid, zone.origin, scheme)))
            assert node is not None
            assert node.participant == ParticipantRef(index, scheme)


def test_ebcore_names_have_no_scheme_label(zone: LabZone) -> None:
    for pid in EBCORE_PARTICIPANTS:
        index = zone.index_of(pid)
        assert index is not None
        for scheme in NamingScheme:
            participant = zone.participant_name(index, scheme)
            assert participant.parent() == zone.origin_name
            assert zone.lookup(participant) is not None


def test_naptr_regexp_alternates_between_both_forms(zone: LabZone) -> None:
    regexps = [
        records(zone.lookup(zone.participant_name(i, NamingScheme.NAPTR)), dns.rdatatype.NAPTR)
        for i in range(4)
    ]

    assert regexps == [
        ['100 10 "U" "Meta:SMP" "!^.*$!https://smp1.edelivery.test!" .'],
        ['100 10 "U" "Meta:SMP" "!.*!https://smp2.edelivery.test!" .'],
        ['100 10 "U" "Meta:SMP" "!^.*$!https://smp1.edelivery.test!" .'],
        ['100 10 "U" "Meta:SMP" "!.*!https://smp2.edelivery.test!" .'],
    ]


def test_classic_name_is_a_cname_to_its_smp_publisher_which_has_an_address(
    zone: LabZone,
) -> None:
    node = zone.lookup(zone.participant_name(1, NamingScheme.CNAME))

    assert records(node, dns.rdatatype.CNAME) == ["smp2.publisher.edelivery.test."]
    publisher = zone.lookup(name("smp2.publisher.edelivery.test"))
    assert records(publisher, dns.rdatatype.A) == ["127.0.0.1"]


def test_lookup_ignores_case(zone: LabZone) -> None:
    for scheme in NamingScheme:
        upper = name(zone.participant_name(3, scheme).to_text().upper())
        node = zone.lookup(upper)
        assert node is not None
        assert node.participant == ParticipantRef(3, scheme)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("b-00000000000000000000000000000000.iso6523-actorid-upis", id="unknown-md5"),
        pytest.param("a" * 52 + ".iso6523-actorid-upis", id="unknown-sha256"),
        pytest.param("9" * 52 + ".iso6523-actorid-upis", id="not-base32"),
        pytest.param("b-zz000000000000000000000000000000.iso6523-actorid-upis", id="not-hex"),
        pytest.param("B-f5e78500450d37de5aabe6648ac3bb70.other-scheme", id="wrong-scheme"),
        pytest.param("B-f5e78500450d37de5aabe6648ac3bb70", id="missing-scheme"),
        pytest.param("x.B-f5e78500450d37de5aabe6648ac3bb70.iso6523-actorid-upis", id="deeper"),
        pytest.param("nothing-here", id="plain"),
    ],
)
def test_names_that_do_not_exist(zone: LabZone, text: str) -> None:
    assert zone.lookup(name(f"{text}.edelivery.test")) is None


@pytest.mark.parametrize("relative", ["iso6523-actorid-upis", "publisher"])
def test_empty_non_terminals_exist_without_records(zone: LabZone, relative: str) -> None:
    node = zone.lookup(name(f"{relative}.edelivery.test"))

    assert node is not None
    assert not node.rrsets


def test_apex_has_soa_and_ns_with_glue(zone: LabZone) -> None:
    apex = zone.lookup(zone.origin_name)

    assert records(apex, dns.rdatatype.SOA) == [
        "ns1.edelivery.test. hostmaster.edelivery.test. 2026112201 3600 600 86400 60"
    ]
    assert records(apex, dns.rdatatype.NS) == ["ns1.edelivery.test.", "ns2.edelivery.test."]
    for ns in zone.nameserver_names:
        assert records(zone.lookup(name(f"{ns}.edelivery.test")), dns.rdatatype.A) == ["127.0.0.1"]


def test_outside_the_zone(zone: LabZone) -> None:
    assert not zone.contains(name("example.org"))
    assert zone.lookup(name("example.org")) is None
    assert zone.contains(name("EDELIVERY.test"))


def bdxl_of(zone: LabZone, participant_id: str) -> dns.name.Name:
    pid = ParticipantId.parse(participant_id)
    return name(participant_name(pid, zone.origin, NamingScheme.NAPTR))


def test_multi_naptr_fixture_has_one_right_pick_among_decoys(zone: LabZone) -> None:
    naptrs = records(zone.lookup(bdxl_of(zone, MULTI_NAPTR_PARTICIPANT)), dns.rdatatype.NAPTR)

    assert sorted(naptrs) == sorted(
        [
            '10 10 "U" "Meta:SMS" "!^.*$!https://sms-decoy.edelivery.test!" .',
            '20 10 "" "Meta:SMP" "" smp1.publisher.edelivery.test.',
            '100 10 "U" "meta:smp" "!.*!https://smp1.edelivery.test!" .',
            '100 20 "U" "Meta:SMP" "!^.*$!https://preference-decoy.edelivery.test!" .',
            '200 1 "U" "Meta:SMP" "!^.*$!https://order-decoy.edelivery.test!" .',
        ]
    )


def test_bad_regexp_fixture(zone: LabZone) -> None:
    naptrs = records(zone.lookup(bdxl_of(zone, BAD_REGEXP_PARTICIPANT)), dns.rdatatype.NAPTR)

    assert naptrs == ['100 10 "U" "Meta:SMP" "!^.*$!https://smp1.edelivery.test" .']


def test_fixtures_are_not_participants(zone: LabZone) -> None:
    ids = set(zone.participant_ids())

    assert MULTI_NAPTR_PARTICIPANT not in ids
    assert BAD_REGEXP_PARTICIPANT not in ids
    assert zone.smp_index(MULTI_NAPTR_PARTICIPANT) is None


def test_large_answer_is_far_above_512_bytes(zone: LabZone) -> None:
    node = zone.lookup(name(f"{LARGE_LABEL}.edelivery.test"))
    assert node is not None
    rrset = node.rrsets[dns.rdatatype.NAPTR]

    response = dns.message.make_response(dns.message.make_query(rrset.name, "NAPTR"))
    response.answer.append(rrset)

    assert len(rrset) == LARGE_NAPTR_COUNT
    # Far above 512, yet within an EDNS payload of 4096 (the server tests rely on both).
    assert 2048 < len(response.to_wire()) < 4000


@pytest.mark.parametrize(
    ("smp_urls", "index", "expected"),
    [
        pytest.param((SMP1,), 0, "https://wrong-smp.edelivery.test", id="single-smp-bogus"),
        pytest.param((SMP1, SMP2), 0, SMP2, id="next-smp"),
        pytest.param((SMP1, SMP2), 1, SMP1, id="wraps-around"),
    ],
)
def test_default_wrong_smp_url(smp_urls: tuple[str, ...], index: int, expected: str) -> None:
    assert LabZone(participants=2, smp_urls=smp_urls).wrong_smp_url(index) == expected


@pytest.mark.parametrize(
    ("smp_url", "naptr", "cname"),
    [
        pytest.param(
            SMP2,
            '100 10 "U" "Meta:SMP" "!^.*$!https://smp2.edelivery.test!" .',
            "smp2.publisher.edelivery.test.",
            id="another-smp-of-the-zone",
        ),
        pytest.param(
            "https://elsewhere.example",
            '100 10 "U" "Meta:SMP" "!^.*$!https://elsewhere.example!" .',
            "wrong-smp.publisher.edelivery.test.",
            id="unknown-smp",
        ),
    ],
)
def test_participant_node_with_another_smp(
    zone: LabZone, smp_url: str, naptr: str, cname: str
) -> None:
    bdxl = zone.participant_node(ParticipantRef(0, NamingScheme.NAPTR), smp_url=smp_url)
    classic = zone.participant_node(ParticipantRef(0, NamingScheme.CNAME), smp_url=smp_url)

    assert records(bdxl, dns.rdatatype.NAPTR) == [naptr]
    assert records(classic, dns.rdatatype.CNAME) == [cname]
    assert records(zone.lookup(name(cname)), dns.rdatatype.A) == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        pytest.param({"participants": -1}, "participants must be >= 0", id="negative-count"),
        pytest.param({"smp_urls": ()}, "at least one SMP URL", id="no-smp"),
        pytest.param({"nameservers": ()}, "at least one name server", id="no-nameserver"),
        pytest.param(
            {"extra_participants": ["other::9915:lab0000001"]}, "distinct values", id="shared-value"
        ),
    ],
)
def test_invalid_zones_are_rejected(kwargs: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        LabZone(**{"participants": 5, **kwargs})


def test_serial_and_origin_are_as_given() -> None:
    zone = LabZone(origin="Lab.Example.", participants=0, serial=7)

    assert zone.origin == "lab.example"
    assert zone.serial == 7
    assert records(zone.lookup(zone.origin_name), dns.rdatatype.SOA)[0].split()[2] == "7"
