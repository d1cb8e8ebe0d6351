"""Alert rules: hysteresis (for, keep_firing_for, consecutive), the default table, the alerts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from correlator.fingerprint import fingerprint
from correlator.rules import (
    DEFAULT_RULES,
    Alert,
    AlertPhase,
    AlertState,
    Rule,
    evaluate,
    rule_for,
)
from probes import PROBERS
from probes._base import FailureReason
from ticket_sink.model import Severity

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OK = FailureReason.OK
FAIL = FailureReason.TIMEOUT
LABELS = {"kind": "http", "service": "smp", "target": "https://smp.example.test/"}


def _rule(for_seconds: float = 0, keep: float = 0, consecutive: int = 1) -> Rule:
    return Rule(
        "EndpointUnreachable",
        frozenset({FAIL, FailureReason.CONNECTION_REFUSED}),
        Severity.MAJOR,
        "down",
        for_seconds=for_seconds,
        keep_firing_for_seconds=keep,
        consecutive_failures=consecutive,
    )


def _run(
    rules: tuple[Rule, ...], steps: Sequence[tuple[float, FailureReason]]
) -> list[tuple[AlertState, Alert | None]]:
    state = AlertState()
    out = []
    for offset, reason in steps:
        state, alert = evaluate(state, LABELS, reason, T0 + timedelta(seconds=offset), rules)
        out.append((state, alert))
    return out


def _code(alert: Alert | None) -> str:
    """`-` no alert, `F` firing, `R` resolved."""
    if alert is None:
        return "-"
    return "F" if alert.firing else "R"


INACTIVE, PENDING, FIRING, RESOLVED = AlertPhase

HYSTERESIS = [
    pytest.param(
        _rule(),
        [(0, FAIL), (10, OK), (20, OK), (30, FAIL)],
        [FIRING, RESOLVED, RESOLVED, FIRING],
        "FR-F",
        id="immediate-fires-and-resolves-once",
    ),
    pytest.param(
        _rule(consecutive=3),
        [(0, FAIL), (10, FAIL), (20, FAIL), (30, FAIL)],
        [PENDING, PENDING, FIRING, FIRING],
        "--FF",
        id="consecutive-3",
    ),
    pytest.param(
        _rule(consecutive=3),
        [(0, FAIL), (10, FAIL), (20, OK), (30, FAIL), (40, FAIL), (50, FAIL)],
        [PENDING, PENDING, INACTIVE, PENDING, PENDING, FIRING],
        "-----F",
        id="consecutive-broken-by-success-starts-over",
    ),
    pytest.param(
        _rule(consecutive=2),
        [(0, FAIL), (10, FailureReason.CONNECTION_REFUSED)],
        [PENDING, PENDING],
        "--",
        id="consecutive-reason-change-starts-new-alert-pending",
    ),
    pytest.param(
        _rule(for_seconds=60),
        [(0, FAIL), (30, FAIL), (59, FAIL), (60, FAIL)],
        [PENDING, PENDING, PENDING, FIRING],
        "---F",
        id="for-fires-at-exactly-for",
    ),
    pytest.param(
        _rule(for_seconds=60),
        [(0, FAIL), (30, OK), (40, FAIL), (90, FAIL), (100, FAIL)],
        [PENDING, INACTIVE, PENDING, PENDING, FIRING],
        "----F",
        id="for-restarts-after-success",
    ),
    pytest.param(
        _rule(for_seconds=60, consecutive=5),
        [(0, FAIL), (30, FAIL), (60, FAIL), (90, FAIL), (120, FAIL)],
        [PENDING, PENDING, PENDING, PENDING, FIRING],
        "----F",
        id="for-and-consecutive-both-needed",
    ),
    pytest.param(
        _rule(keep=300),
        [(0, FAIL), (60, OK), (299, OK), (300, OK), (400, OK)],
        [FIRING, FIRING, FIRING, RESOLVED, RESOLVED],
        "FFFR-",
        id="keep-firing-for-resolves-at-exactly-keep",
    ),
    pytest.param(
        _rule(keep=300),
        [(0, FAIL), (60, OK), (120, FAIL), (419, OK), (420, OK)],
        [FIRING, FIRING, FIRING, FIRING, RESOLVED],
        "FFFFR",
        id="keep-firing-for-counts-from-last-failure",
    ),
    pytest.param(
        _rule(for_seconds=30, keep=60),
        [(0, FAIL), (10, OK), (20, FAIL)],
        [PENDING, INACTIVE, PENDING],
        "---",
        id="keep-firing-for-does-not-hold-a-pending-alert",
    ),
]


@pytest.mark.parametrize(("rule", "steps", "phases", "alerts"), HYSTERESIS)
def test_hysteresis(
    rule: Rule,
    steps: list[tuple[float, FailureReason]],
    phases: list[AlertPhase],
    alerts: str,
) -> None:
    results = _run((rule,), steps)
    assert [state.phase for state, _ in results] == phases
    assert "".join(_code(alert) for _, alert in results) == alerts


def test_episode_keeps_its_start_and_resolution_has_an_end() -> None:
    steps = [(0, FAIL), (30, FAIL), (60, FAIL), (90, OK), (200, OK)]
    results = _run((_rule(consecutive=2, keep=100),), steps)
    sent = [alert for _, alert in results if alert is not None]
    assert {alert.starts_at for alert in sent} == {T0}  # the first failure, as Prometheus
    assert {alert.fingerprint for alert in sent} == {sent[0].fingerprint}
    assert sent[-1].ends_at == T0 + timedelta(seconds=200)
    assert all(alert.ends_at is None for alert in sent[:-1])


def test_a_new_episode_after_resolution_starts_later() -> None:
    results = _run((_rule(),), [(0, FAIL), (10, OK), (20, FAIL)])
    first, second = results[0][1], results[2][1]
    assert first is not None
    assert second is not None
    assert first.fingerprint == second.fingerprint
    assert second.starts_at > first.starts_at


def test_reason_change_while_firing_resolves_the_old_alert() -> None:
    rules = (
        _rule(),
        Rule("Other", frozenset({FailureReason.HTTP_STATUS}), Severity.MINOR, "other"),
    )
    results = _run(rules, [(0, FAIL), (10, FailureReason.HTTP_STATUS), (20, OK)])
    (_, first), (state, resolved), (_, last) = results
    assert first is not None
    assert resolved is not None
    assert resolved.fingerprint == first.fingerprint
    assert resolved.ends_at == T0 + timedelta(seconds=10)
    assert state.phase is AlertPhase.PENDING
    assert state.reason is FailureReason.HTTP_STATUS
    assert last is None  # the new one never fired, so nothing to resolve


def test_a_failure_without_rule_counts_as_recovery() -> None:
    results = _run((_rule(),), [(0, FAIL), (10, FailureReason.WEAK_KEY)])
    assert results[1][0].phase is AlertPhase.RESOLVED
    assert _code(results[1][1]) == "R"


def test_alert_labels_and_fingerprint() -> None:
    (_, alert), *_ = _run(DEFAULT_RULES, [(0, FailureReason.CERT_EXPIRED)])
    assert alert is not None
    assert dict(alert.labels) == {
        **LABELS,
        "alertname": "CertificateExpired",
        "reason": "cert_expired",
    }
    assert alert.fingerprint == fingerprint(alert.labels)
    assert alert.severity is Severity.BLOCKING
    assert alert.annotations["summary"]


# -- the default table --

KINDS = [*sorted(PROBERS), "external"]
FAILURES = [reason for reason in FailureReason if reason is not FailureReason.OK]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reason", FAILURES, ids=str)
def test_default_table_covers_every_failure_reason(kind: str, reason: FailureReason) -> None:
    rule = rule_for(kind, reason)
    assert rule is not None
    assert rule.severity in tuple(Severity)


@pytest.mark.parametrize("kind", KINDS)
def test_ok_is_never_an_alert(kind: str) -> None:
    assert rule_for(kind, FailureReason.OK) is None


DOCUMENTED = [
    ("dns_soa", "nxdomain", "SmlNameServerFailing", 2),
    ("dns_soa", "servfail", "SmlNameServerFailing", 2),
    ("dns_soa", "timeout", "SmlNameServerFailing", 2),
    ("dns_zone", "servfail", "SmlNameServerFailing", 2),
    ("dns_zone", "serial_mismatch", "SmlSerialMismatch", 3),
    ("dns_participant", "nxdomain", "ParticipantLookupFailed", 3),
    ("dns_participant", "wrong_smp", "ParticipantMisrouted", 2),
    ("dns_participant", "no_meta_smp_record", "ParticipantRecordInvalid", 3),
    ("x509", "revoked", "CertificateRevoked", 1),
    ("ocsp", "revoked", "CertificateRevoked", 1),
    ("crl", "revoked", "CertificateRevoked", 1),
    ("x509", "cert_expired", "CertificateExpired", 1),
    ("x509", "cert_expiring", "CertificateExpiring", 3),
    ("crl", "crl_expiring", "CrlExpiring", 3),
    ("crl", "crl_unreachable", "CrlUnreachable", 2),
    ("crl", "crl_stale", "CrlInvalid", 2),
    ("ocsp", "ocsp_unreachable", "OcspUnreachable", 2),
    ("smp", "smp_signer_expired", "SmpSignerExpired", 1),
    ("smp", "smp_saturated", "SmpSaturated", 3),
    ("http", "timeout", "EndpointUnreachable", 2),
    ("http", "http_status", "EndpointFailing", 2),
    ("capacity", "capacity_saturated", "CapacityDegraded", 3),
    ("http", "internal_error", "ProbeInternalError", 4),
]


@pytest.mark.parametrize(
    ("kind", "reason", "alertname", "severity"), DOCUMENTED, ids=lambda v: str(v)
)
def test_documented_severities(kind: str, reason: str, alertname: str, severity: int) -> None:
    rule = rule_for(kind, FailureReason(reason))
    assert rule is not None
    assert (rule.name, rule.severity) == (alertname, severity)


def test_crl_unreachable_is_never_revoked() -> None:
    unreachable = rule_for("crl", FailureReason.CRL_UNREACHABLE)
    revoked = rule_for("crl", FailureReason.CERTIFICATE_REVOKED)
    assert unreachable is not None
    assert revoked is not None
    assert unreachable.name != revoked.name
    assert unreachable.severity != revoked.severity
    assert "revok" not in unreachable.name.lower()
    labels = {**LABELS, "kind": "crl"}
    pending, _ = evaluate(AlertState(), labels, FailureReason.CRL_UNREACHABLE, T0)
    _, down = evaluate(pending, labels, FailureReason.CRL_UNREACHABLE, T0 + timedelta(minutes=1))
    _, gone = evaluate(AlertState(), labels, FailureReason.CERTIFICATE_REVOKED, T0)
    assert gone is not None
    assert down is not None
    assert down.labels["alertname"] == "CrlUnreachable"
    assert down.fingerprint != gone.fingerprint


def test_default_alert_names_are_unique_per_rule() -> None:
    names = [rule.name for rule in DEFAULT_RULES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"reasons": frozenset()}, id="no-reasons"),
        pytest.param({"reasons": frozenset({FailureReason.OK})}, id="ok-reason"),
        pytest.param({"severity": 5}, id="severity-5"),
        pytest.param({"severity": 0}, id="severity-0"),
        pytest.param({"for_seconds": -1.0}, id="negative-for"),
        pytest.param({"keep_firing_for_seconds": -1.0}, id="negative-keep"),
        pytest.param({"consecutive_failures": 0}, id="zero-consecutive"),
    ],
)
def test_invalid_rules_are_refused(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "name": "X",
        "reasons": frozenset({FAIL}),
        "severity": Severity.MAJOR,
        "summary": "x",
        **kwargs,
    }
    with pytest.raises(ValueError, match="rule X"):
        Rule(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("labels", "now"),
    [
        pytest.param({"kind": "http", "service": "s"}, T0, id="no-target"),
        pytest.param(LABELS, T0.replace(tzinfo=None), id="naive-now"),
    ],
)
def test_evaluate_refuses_bad_input(labels: dict[str, str], now: datetime) -> None:
    with pytest.raises(ValueError, match=r"target|naive"):
        evaluate(AlertState(), labels, FAIL, now)


# -- properties over any sequence of results --

reasons = st.sampled_from([OK, OK, FAIL, FailureReason.CONNECTION_REFUSED, FailureReason.NXDOMAIN])
steps = st.lists(st.tuples(st.integers(1, 400), reasons), max_size=40)


@given(steps, st.sampled_from(KINDS))
def test_alerts_follow_the_rules(sequence: list[tuple[int, FailureReason]], kind: str) -> None:
    """Firing alerts come only from a firing state; a resolved one only ends a firing one;
    every alert's name and severity are its rule's."""
    labels = {**LABELS, "kind": kind}
    state, now = AlertState(), T0
    for gap, reason in sequence:
        now += timedelta(seconds=gap)
        before = state
        state, alert = evaluate(state, labels, reason, now)
        if alert is None:
            continue
        assert alert.starts_at <= now
        if alert.firing:
            assert state.phase is AlertPhase.FIRING
            assert state.rule is not None
            assert alert.labels["alertname"] == state.rule.name
            assert alert.severity == state.rule.severity
        else:
            assert before.phase is AlertPhase.FIRING
            assert alert.ends_at == now
            assert alert.labels["reason"] == before.reason.value
