"""SML participant names in both schemes, checked against published vectors."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from probes.naming import NamingScheme, ParticipantId, bdxl_label, classic_label, participant_name

ZONE = "acc.edelivery.tech.ec.europa.eu"

# (identifier, classic label, BDXL label); None where no vector is published.
VECTORS = [
    pytest.param(
        "iso6523-actorid-upis::0088:123abc",
        "B-f5e78500450d37de5aabe6648ac3bb70",
        "y7dzfxaf3d4cjz4kcgrxtec6twvcga4ky7zwa5boif6mswd4tdrq",
        id="0088-lower-case",
    ),
    pytest.param(
        "iso6523-actorid-upis::0088:123ABC",
        "B-f5e78500450d37de5aabe6648ac3bb70",
        "y7dzfxaf3d4cjz4kcgrxtec6twvcga4ky7zwa5boif6mswd4tdrq",
        id="0088-upper-case-hashes-like-lower",
    ),
    pytest.param(
        "iso6523-actorid-upis::9915:test",
        "B-85008b8279e07ab0392da75fa55856a2",
        "eh5boavaktmbgzyh2a63dz4qov33fvp5nsdvqklucfraayoodw6a",
        id="9915-test",
    ),
    pytest.param(
        "iso6523-actorid-upis::0088:1234567890123",
        None,
        "sjsyvccmqyjxk3weuapffq4x3umcrf4qryherj4vovhmonh7gccq",
        id="0088-gln",
    ),
]


@pytest.mark.parametrize(("identifier", "classic", "bdxl"), VECTORS)
def test_labels_match_published_vectors(identifier: str, classic: str | None, bdxl: str) -> None:
    participant = ParticipantId.parse(identifier)
    if classic is not None:
        assert classic_label(participant.value) == classic
    assert bdxl_label(participant.value) == bdxl


@pytest.mark.parametrize(
    ("scheme", "expected"),
    [
        pytest.param(
            NamingScheme.CNAME,
            "B-85008b8279e07ab0392da75fa55856a2.iso6523-actorid-upis." + ZONE,
            id="classic",
        ),
        pytest.param(
            NamingScheme.NAPTR,
            "eh5boavaktmbgzyh2a63dz4qov33fvp5nsdvqklucfraayoodw6a.iso6523-actorid-upis." + ZONE,
            id="bdxl",
        ),
    ],
)
@pytest.mark.parametrize("zone", [ZONE, ZONE + "."], ids=["zone", "zone-with-final-dot"])
def test_full_name_has_hash_then_scheme_then_zone(
    scheme: NamingScheme, expected: str, zone: str
) -> None:
    participant = ParticipantId.parse("iso6523-actorid-upis::9915:test")
    assert participant_name(participant, zone, scheme) == expected


@pytest.mark.parametrize(
    ("scheme", "label"),
    [
        pytest.param(NamingScheme.CNAME, classic_label, id="classic"),
        pytest.param(NamingScheme.NAPTR, bdxl_label, id="bdxl"),
    ],
)
def test_identifier_without_scheme_is_hashed_whole_without_scheme_label(
    scheme: NamingScheme, label: Callable[[str], str]
) -> None:
    urn = "urn:oasis:names:tc:ebcore:partyid-type:iso6523:0088:123abc"
    participant = ParticipantId.parse(urn)
    assert participant == ParticipantId(None, urn)
    assert str(participant) == urn
    assert participant_name(participant, ZONE, scheme) == f"{label(urn)}.{ZONE}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "iso6523-actorid-upis::0088:123abc",
            ParticipantId("iso6523-actorid-upis", "0088:123abc"),
            id="scheme-and-value",
        ),
        pytest.param(
            "  iso6523-actorid-upis::0088:123abc\n",
            ParticipantId("iso6523-actorid-upis", "0088:123abc"),
            id="surrounding-blanks-ignored",
        ),
        pytest.param(
            "scheme::value::with::separators",
            ParticipantId("scheme", "value::with::separators"),
            id="first-separator-splits",
        ),
        pytest.param("0088:123abc", ParticipantId(None, "0088:123abc"), id="no-scheme"),
        # Peppol Policy for use of Identifiers: no whitespace around scheme or value, and
        # iso6523-actorid-upis case-insensitive (kept in lower case: one name to hash).
        pytest.param(
            "iso6523-actorid-upis::  0088:123abc",
            ParticipantId("iso6523-actorid-upis", "0088:123abc"),
            id="spaces-after-the-separator-trimmed",
        ),
        pytest.param(
            "ISO6523-ActorID-UPIS :: 0088:123ABC ",
            ParticipantId("iso6523-actorid-upis", "0088:123abc"),
            id="peppol-scheme-and-value-lower-cased",
        ),
        pytest.param(
            "urn:oasis:names:tc:ebcore:partyid-type:iso6523::0088:ABC",
            ParticipantId("urn:oasis:names:tc:ebcore:partyid-type:iso6523", "0088:ABC"),
            id="other-schemes-keep-their-case",
        ),
        # The SMP URL form (Peppol SMP: the identifier percent-encoded as one segment), as
        # copied from a browser: the DNS name is the identifier's, never its URL form's.
        pytest.param(
            "iso6523-actorid-upis::0088:" + "A" * 125,
            ParticipantId("iso6523-actorid-upis", "0088:" + "a" * 125),
            id="130-characters-the-policy-allows",
        ),
        pytest.param(
            "iso6523-actorid-upis%3A%3A9915%3ATest",
            ParticipantId("iso6523-actorid-upis", "9915:test"),
            id="smp-url-form-decoded",
        ),
        pytest.param(
            "iso6523-actorid-upis%3a%3a9915%3atest",
            ParticipantId("iso6523-actorid-upis", "9915:test"),
            id="smp-url-form-lower-case-escapes",
        ),
        pytest.param(
            "urn:oasis:names:tc:ebcore:partyid-type:unregistered:a%20b",
            ParticipantId(None, "urn:oasis:names:tc:ebcore:partyid-type:unregistered:a%20b"),
            id="a-bare-value-keeps-its-percent",
        ),
        pytest.param(
            "scheme::50%25",
            ParticipantId("scheme", "50%25"),
            id="a-decoded-identifier-is-not-decoded-again",
        ),
    ],
)
def test_parse(text: str, expected: ParticipantId) -> None:
    assert ParticipantId.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "participant identifier is empty", id="empty"),
        pytest.param("   ", "participant identifier is empty", id="blank"),
        pytest.param("::0088:123abc", "needs SCHEME::VALUE", id="no-scheme-before-separator"),
        pytest.param("iso6523-actorid-upis::", "needs SCHEME::VALUE", id="no-value"),
        pytest.param("iso6523-actorid-upis::   ", "needs SCHEME::VALUE", id="blank-value"),
        pytest.param(
            "iso6523-actorid-upis::0088: 123abc", "is not ICD:IDENTIFIER", id="inner-space"
        ),
        pytest.param("iso6523-actorid-upis::123abc", "is not ICD:IDENTIFIER", id="no-icd"),
        pytest.param("iso 6523::0088:1", "contains whitespace", id="space-in-scheme"),
        pytest.param("schème::x", "cannot be a DNS label", id="non-ascii-scheme"),
        pytest.param("a.b::x", "cannot be a DNS label", id="dot-in-scheme"),
        pytest.param("s" * 64 + "::x", "cannot be a DNS label", id="scheme-over-63"),
        pytest.param(
            "iso6523-actorid-upis::0088:" + "1" * 126, "longer than the 130", id="131-characters"
        ),
        pytest.param("iso6523-actorid-upis::0088:1\x00", "control character", id="nul"),
        pytest.param(
            "iso6523-actorid-upis%3A%3A0088%3A1%00", "control character", id="encoded-nul"
        ),
        pytest.param(
            "iso6523-actorid-upis%3A%3A0088%3A%201", "is not ICD:IDENTIFIER", id="encoded-space"
        ),
    ],
)
def test_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ParticipantId.parse(text)


def test_the_2026_test_zone_name_of_the_published_participant() -> None:
    # The worked example recorded on the OpenPeppol test SML (participant 9915:test).
    participant = ParticipantId.parse("iso6523-actorid-upis::9915:test")
    name = participant_name(participant, "participant.sml.test.tech.peppol.org", NamingScheme.NAPTR)
    assert name == (
        "eh5boavaktmbgzyh2a63dz4qov33fvp5nsdvqklucfraayoodw6a"
        ".iso6523-actorid-upis.participant.sml.test.tech.peppol.org"
    )


def test_str_round_trips_through_parse() -> None:
    text = "iso6523-actorid-upis::0088:123abc"
    assert str(ParticipantId.parse(text)) == text
    assert str(ParticipantId.parse(text.upper().replace("::", " :: "))) == text
