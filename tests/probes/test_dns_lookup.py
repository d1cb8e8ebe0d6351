"""What an SML answer means for a participant: one reason per answer, table-driven."""

from __future__ import annotations

from typing import Any

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.IN.NAPTR
import dns.rrset
import pytest

from probes import FailureReason
from probes.dns_lookup import (
    canonical_smp,
    evaluate_classic,
    evaluate_naptr,
    naptr_url,
    parse_answer,
)

ZONE = "sml.vigie.test"
QNAME = f"abc.iso6523-actorid-upis.{ZONE}"
QNAME_ABS = f"{QNAME}."
SMP = "https://smp.example.test"
NAPTR: Any = dns.rdtypes.IN.NAPTR.NAPTR


def naptr(order: int, pref: int, flags: str, service: str, regexp: str) -> dns.rdata.Rdata:
    rdata: dns.rdata.Rdata = NAPTR(
        dns.rdataclass.IN,
        dns.rdatatype.NAPTR,
        order,
        pref,
        flags,
        service,
        regexp,
        dns.name.root,
    )
    return rdata


def answer(*rrsets: dns.rrset.RRset, rcode: int = 0, aa: bool = True) -> bytes:
    response = dns.message.make_response(dns.message.make_query(QNAME_ABS, "NAPTR"))
    if aa:
        response.flags |= dns.flags.AA
    response.set_rcode(dns.rcode.Rcode(rcode))
    response.answer.extend(rrsets)
    return response.to_wire()


def naptrs(*rdatas: dns.rdata.Rdata, owner: str = QNAME) -> dns.rrset.RRset:
    return dns.rrset.from_rdata(f"{owner}.", 60, *rdatas)


def evaluate(wire: bytes, expected: str | None = None) -> tuple[FailureReason, str]:
    message, lookup = parse_answer(wire, authoritative=True)
    if message is None or lookup.reason is not FailureReason.OK:
        return lookup.reason, lookup.smp
    result = evaluate_naptr(message, QNAME.encode(), expected)
    return result.reason, result.smp


@pytest.mark.parametrize(
    ("wire", "expected", "outcome"),
    [
        pytest.param(answer(naptrs(naptr(100, 10, "U", "Meta:SMP", f"!^.*$!{SMP}!"))), None,
                     (FailureReason.OK, SMP), id="anchored-form"),
        pytest.param(answer(naptrs(naptr(100, 10, "u", "meta:smp", f"!.*!{SMP}!"))), None,
                     (FailureReason.OK, SMP), id="short-form-lower-case"),
        pytest.param(answer(naptrs(naptr(100, 10, "U", "META:SMP", f"#.*#{SMP}#i"))), None,
                     (FailureReason.OK, SMP), id="other-delimiter-and-i-flag"),
        # Senders anchor the expression at both ends before matching (peppol-commons), so
        # every spelling of "the whole name" gives the URL.
        pytest.param(answer(naptrs(naptr(100, 10, "U", "Meta:SMP", f"!^.*$!{SMP}!I"))), None,
                     (FailureReason.OK, SMP), id="upper-case-i-flag"),
        pytest.param(answer(naptrs(naptr(100, 10, "U", "Meta:SMP", f"!^.*!{SMP}!"))), None,
                     (FailureReason.OK, SMP), id="start-anchor-only"),
        pytest.param(answer(naptrs(naptr(100, 10, "U", "Meta:SMP", f"!.*$!{SMP}!"))), None,
                     (FailureReason.OK, SMP), id="end-anchor-only"),
        pytest.param(answer(naptrs(naptr(100, 10, "U", "Meta:SMP", f"!^(.*)$!{SMP}!"))), None,
                     (FailureReason.OK, SMP), id="group-without-back-reference"),
        pytest.param(
            answer(naptrs(
                naptr(10, 10, "U", "Meta:SMS", "!.*!https://wrong-service.test!"),
                naptr(20, 10, "", "Meta:SMP", ""),
                naptr(100, 20, "U", "Meta:SMP", "!.*!https://worse-preference.test!"),
                naptr(100, 10, "U", "Meta:SMP", f"!.*!{SMP}!"),
                naptr(200, 1, "U", "Meta:SMP", "!.*!https://worse-order.test!"),
            )),
            None, (FailureReason.OK, SMP), id="order-then-preference",
        ),
        pytest.param(answer(naptrs(naptr(100, 10, "U", "Meta:SMP", f"!^.*$!{SMP}/!"))), SMP.upper(),
                     (FailureReason.OK, f"{SMP}/"), id="expected-compares-canonically"),
        pytest.param(answer(naptrs(naptr(100, 10, "U", "Meta:SMP", f"!.*!{SMP}!"))),
                     "https://other.test", (FailureReason.WRONG_SMP, SMP), id="wrong-smp"),
        pytest.param(answer(naptrs(naptr(100, 10, "U", "Meta:SMS", f"!.*!{SMP}!"))), None,
                     (FailureReason.NO_META_SMP_RECORD, ""), id="no-meta-smp"),
        pytest.param(answer(), None, (FailureReason.NODATA, ""), id="nodata"),
        pytest.param(answer(naptrs(naptr(100, 10, "U", "Meta:SMP", f"!.*!{SMP}!"),
                                   owner=f"other.{ZONE}")),
                     None, (FailureReason.NODATA, ""), id="naptr-of-another-name"),
        pytest.param(answer(rcode=3), None, (FailureReason.NXDOMAIN, ""), id="nxdomain"),
        pytest.param(answer(rcode=2), None, (FailureReason.SERVFAIL, ""), id="servfail"),
        pytest.param(answer(rcode=5), None, (FailureReason.REFUSED, ""), id="refused"),
        pytest.param(answer(rcode=4), None, (FailureReason.DNS_ERROR, ""), id="notimp"),
        pytest.param(answer(aa=False), None, (FailureReason.NOT_AUTHORITATIVE, ""), id="no-aa"),
        pytest.param(b"\x00\x01\x84", None, (FailureReason.MALFORMED_RESPONSE, ""), id="garbage"),
    ],
)  # fmt: skip
def test_naptr_answers(
    wire: bytes, expected: str | None, outcome: tuple[FailureReason, str]
) -> None:
    assert evaluate(wire, expected) == outcome


@pytest.mark.parametrize(
    "regexp",
    [
        pytest.param(f"!^.*$!{SMP}", id="missing-closing-delimiter"),
        pytest.param(f"!^(.*)$!{SMP}/\\1!", id="back-reference"),
        pytest.param(f"!^abc$!{SMP}!", id="other-expression"),
        pytest.param(f"!^a.*$!{SMP}!", id="not-every-name"),
        pytest.param(f"!^(.*$!{SMP}!", id="unbalanced-group"),
        pytest.param(f"!^^.*$!{SMP}!", id="doubled-anchor"),
        pytest.param("!.*!ftp://smp.test!", id="not-http"),
        pytest.param("!.*!https://!", id="no-host"),
        pytest.param(f"!.*!{SMP}!x", id="unknown-flag"),
        pytest.param(f"I.*I{SMP}I", id="flag-as-delimiter"),
        pytest.param("", id="empty"),
    ],
)
def test_broken_regexps_are_malformed_records(regexp: str) -> None:
    wire = answer(naptrs(naptr(100, 10, "U", "Meta:SMP", regexp)))
    assert evaluate(wire) == (FailureReason.MALFORMED_RECORD, "")
    assert naptr_url(regexp.encode()) is None


def test_a_naptr_with_rdata_that_does_not_parse_is_a_malformed_record() -> None:
    wire = bytearray(answer(naptrs(naptr(100, 10, "U", "Meta:SMP", f"!.*!{SMP}!"))))
    # The flags string's length byte now claims more than the record holds.
    flags_at = wire.index(b"\x01U")
    wire[flags_at] = 0xF0
    assert evaluate(bytes(wire))[0] in {
        FailureReason.MALFORMED_RECORD,
        FailureReason.MALFORMED_RESPONSE,
    }


PUBLISHER = f"smp1.publisher.{ZONE}"


def classic(*records: tuple[str, str, str], rcode: int = 0, qtype: str = "A") -> bytes:
    response = dns.message.make_response(dns.message.make_query(QNAME_ABS, qtype))
    response.flags |= dns.flags.AA
    response.set_rcode(dns.rcode.Rcode(rcode))
    for owner, rdtype, text in records:
        response.answer.append(dns.rrset.from_text(f"{owner}.", 60, "IN", rdtype, text))
    return response.to_wire()


@pytest.mark.parametrize(
    ("wire", "expected", "outcome"),
    [
        pytest.param(classic((QNAME, "CNAME", f"{PUBLISHER}."), (PUBLISHER, "A", "192.0.2.1")),
                     None, (FailureReason.OK, PUBLISHER, PUBLISHER), id="publisher-with-address"),
        pytest.param(classic((QNAME, "CNAME", f"{PUBLISHER}."),
                             (PUBLISHER, "CNAME", "smp.elsewhere.test.")),
                     "smp1", (FailureReason.OK, PUBLISHER, "smp.elsewhere.test"),
                     id="publisher-cname-to-the-smp-host"),
        pytest.param(classic((QNAME, "CNAME", f"{PUBLISHER}."), (PUBLISHER, "A", "192.0.2.1")),
                     "smp2", (FailureReason.WRONG_SMP, PUBLISHER, PUBLISHER), id="wrong-smp"),
        pytest.param(classic((QNAME, "CNAME", f"{PUBLISHER}."), (PUBLISHER, "A", "192.0.2.1")),
                     f"http://{PUBLISHER.upper()}/", (FailureReason.OK, PUBLISHER, PUBLISHER),
                     id="expected-as-url"),
        pytest.param(classic((QNAME, "CNAME", "smp.elsewhere.test.")), None,
                     (FailureReason.MALFORMED_RECORD, "", ""), id="not-a-publisher-name"),
        pytest.param(classic(), None, (FailureReason.NODATA, "", ""), id="no-cname"),
        pytest.param(classic((QNAME, "CNAME", f"{PUBLISHER}.")), None,
                     (FailureReason.NODATA, PUBLISHER, ""), id="publisher-without-address"),
    ],
)  # fmt: skip
def test_classic_answers(
    wire: bytes, expected: str | None, outcome: tuple[FailureReason, str, str]
) -> None:
    message, _ = parse_answer(wire, authoritative=True)
    assert message is not None
    result = evaluate_classic(message, QNAME.encode(), ZONE.encode(), expected)
    assert (result.reason, result.smp, result.smp_host) == outcome


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("https://SMP.example.test/", "https://smp.example.test"),
        ("HTTP://smp.example.test/path/", "http://smp.example.test/path"),
        ("Smp1.Publisher.Zone.", "smp1.publisher.zone"),
        ("https://smp.example.test:443/smp", "https://smp.example.test/smp"),
        ("http://smp.example.test:80", "HTTP://smp.example.test/"),
    ],
)
def test_smps_compare_canonically(left: str, right: str) -> None:
    assert canonical_smp(left) == canonical_smp(right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("https://smp.example.test:8443", "https://smp.example.test"),
        ("http://smp.example.test:443", "http://smp.example.test"),
        ("https://smp.example.test/SMP", "https://smp.example.test/smp"),
    ],
)
def test_different_smps_stay_different(left: str, right: str) -> None:
    assert canonical_smp(left) != canonical_smp(right)


# -- equal-order alternatives and unusable records (RFC 3403, RFC 4848) ---------------------

OTHER_SMP = "https://other-smp.example.test"
UNUSABLE = naptr(100, 10, "U", "Meta:SMP", "!^(.*)$!https://x.test/\\1!")
URL_AS_SERVICE = naptr(100, 10, "U", SMP, f"!.*!{SMP}!")


@pytest.mark.parametrize("reverse", [False, True], ids=["as-listed", "reversed"])
@pytest.mark.parametrize(
    ("records", "expected", "outcome"),
    [
        pytest.param([UNUSABLE, naptr(100, 10, "U", "Meta:SMP", f"!.*!{SMP}!")], None,
                     (FailureReason.OK, SMP), id="unusable-equal-order-skipped"),
        pytest.param([UNUSABLE, naptr(200, 10, "U", "Meta:SMP", f"!.*!{SMP}!")], None,
                     (FailureReason.OK, SMP), id="unusable-lower-order-skipped"),
        pytest.param([URL_AS_SERVICE, naptr(100, 20, "U", "Meta:SMP", f"!.*!{SMP}!")], None,
                     (FailureReason.OK, SMP), id="url-as-service-skipped"),
        pytest.param([URL_AS_SERVICE], None, (FailureReason.NO_META_SMP_RECORD, ""),
                     id="only-a-url-as-service"),
        pytest.param([naptr(100, 10, "U", "Meta:SMP", f"!.*!{OTHER_SMP}!"),
                      naptr(100, 10, "U", "Meta:SMP", f"!.*!{SMP}!")], None,
                     (FailureReason.OK, OTHER_SMP), id="alternatives-chosen-by-url"),
        pytest.param([naptr(100, 10, "U", "Meta:SMP", f"!.*!{OTHER_SMP}!"),
                      naptr(100, 10, "U", "Meta:SMP", f"!.*!{SMP}!")], SMP,
                     (FailureReason.OK, SMP), id="the-expected-alternative"),
        pytest.param([naptr(100, 10, "U", "Meta:SMP", f"!.*!{OTHER_SMP}!"),
                      naptr(100, 20, "U", "Meta:SMP", f"!.*!{SMP}!")], SMP,
                     (FailureReason.WRONG_SMP, OTHER_SMP), id="worse-preference-no-alternative"),
        pytest.param([UNUSABLE], None, (FailureReason.MALFORMED_RECORD, ""), id="only-unusable"),
    ],
)  # fmt: skip
def test_naptr_selection_never_depends_on_answer_order(
    records: list[dns.rdata.Rdata],
    expected: str | None,
    outcome: tuple[FailureReason, str],
    reverse: bool,
) -> None:
    # dnspython writes an rrset's records in the order given: both orders go on the wire.
    ordered = list(reversed(records)) if reverse else records
    assert evaluate(answer(naptrs(*ordered)), expected) == outcome


# -- CNAME and DNAME chains (RFC 1034 section 3.6.2, RFC 6672) ------------------------------

TARGET = "acc.edelivery.test"
LABEL = QNAME.removesuffix(f".{ZONE}")


def chained(*records: tuple[str, str, str]) -> bytes:
    return classic(*records, qtype="NAPTR")


SMP_NAPTR = f'100 10 "U" "Meta:SMP" "!.*!{SMP}!" .'


@pytest.mark.parametrize(
    ("wire", "outcome", "chain", "follow"),
    [
        pytest.param(
            chained((ZONE, "DNAME", f"{TARGET}."), (QNAME, "CNAME", f"{LABEL}.{TARGET}."),
                    (f"{LABEL}.{TARGET}", "NAPTR", SMP_NAPTR)),
            (FailureReason.OK, SMP), [f"{ZONE} DNAME {TARGET}"], "", id="dname-and-target",
        ),
        pytest.param(
            chained((ZONE, "DNAME", f"{TARGET}."), (QNAME, "CNAME", f"{LABEL}.{TARGET}.")),
            (FailureReason.NODATA, ""), [f"{ZONE} DNAME {TARGET}"], f"{LABEL}.{TARGET}",
            id="dname-target-elsewhere",
        ),
        pytest.param(
            chained((QNAME, "CNAME", f"x.{TARGET}."), (f"x.{TARGET}", "NAPTR", SMP_NAPTR)),
            (FailureReason.OK, SMP), [f"{QNAME} CNAME x.{TARGET}"], "", id="cname",
        ),
        pytest.param(
            chained((QNAME, "CNAME", f"x.{TARGET}."), (f"x.{TARGET}", "CNAME", f"{QNAME}.")),
            (FailureReason.MALFORMED_RECORD, ""), [], "", id="cname-loop",
        ),
        pytest.param(
            chained(*((f"n{i}.{TARGET}" if i else QNAME, "CNAME", f"n{i + 1}.{TARGET}.")
                      for i in range(12))),
            (FailureReason.MALFORMED_RECORD, ""), [], "", id="chain-too-long",
        ),
    ],
)  # fmt: skip
def test_chains_in_the_answer_are_followed(
    wire: bytes, outcome: tuple[FailureReason, str], chain: list[str], follow: str
) -> None:
    message, _ = parse_answer(wire, authoritative=True)
    assert message is not None
    result = evaluate_naptr(message, QNAME.encode(), None)
    assert (result.reason, result.smp) == outcome
    assert [str(link) for link in result.chain] == chain
    assert result.follow == follow.encode()


def test_a_classic_name_under_a_renamed_zone_finds_the_publisher_there() -> None:
    publisher = f"smp1.publisher.{TARGET}"
    wire = chained(
        (ZONE, "DNAME", f"{TARGET}."),
        (QNAME, "CNAME", f"{LABEL}.{TARGET}."),
        (f"{LABEL}.{TARGET}", "CNAME", f"{publisher}."),
        (publisher, "A", "192.0.2.1"),
    )
    message, _ = parse_answer(wire, authoritative=True)
    assert message is not None
    result = evaluate_classic(message, QNAME.encode(), ZONE.encode(), "smp1")
    assert (result.reason, result.smp) == (FailureReason.OK, publisher)
    assert [str(link) for link in result.chain] == [f"{ZONE} DNAME {TARGET}"]
