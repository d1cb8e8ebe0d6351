"""Alert rules: probe results become alerts through thresholds with hysteresis.

A rule says which failures of which kinds of check raise which alert, how urgent it is,
and how patient to be: `consecutive_failures` and `for_seconds` before it fires (one lost
packet is not an incident), `keep_firing_for_seconds` after the check recovers (a flapping
endpoint is one incident, not ten). `evaluate` is the whole state machine of one check,
as Prometheus evaluates its alerting rules. Pure: the time is passed in; it must never read
a clock, never keep state of its own, and never read an unreachable CRL as a revocation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from correlator.fingerprint import fingerprint
from probes import FailureReason
from ticket_sink.model import Severity

__all__ = [
    "DEFAULT_RULES",
    "Alert",
    "AlertPhase",
    "AlertState",
    "Rule",
    "evaluate",
    "rule_for",
]

R = FailureReason


@dataclass(frozen=True, slots=True)
class Rule:
    """Failures with one of `reasons`, from a check of one of `kinds` (empty: any kind),
    raise the alert `name` at `severity` once they have lasted `for_seconds` and
    `consecutive_failures` results; it keeps firing `keep_firing_for_seconds` after the
    last failure."""

    name: str
    reasons: frozenset[FailureReason]
    severity: Severity
    summary: str
    kinds: frozenset[str] = frozenset()
    for_seconds: float = 0.0
    keep_firing_for_seconds: float = 0.0
    consecutive_failures: int = 1

    def __post_init__(self) -> None:
        if not self.reasons or FailureReason.OK in self.reasons:
            raise ValueError(f"rule {self.name}: reasons must be failures, and at least one")
        if self.severity not in tuple(Severity):
            raise ValueError(f"rule {self.name}: severity must be 1-4, got {self.severity}")
        if self.for_seconds < 0 or self.keep_firing_for_seconds < 0:
            raise ValueError(f"rule {self.name}: for and keep_firing_for must not be negative")
        if self.consecutive_failures < 1:
            raise ValueError(f"rule {self.name}: consecutive_failures must be at least 1")

    def matches(self, kind: str, reason: FailureReason) -> bool:
        return reason in self.reasons and (not self.kinds or kind in self.kinds)


@dataclass(frozen=True, slots=True)
class _Timing:
    for_seconds: float = 0.0
    keep_firing_for_seconds: float = 0.0
    consecutive_failures: int = 1


# Facts (an expired or revoked certificate) need no confirmation and end when they end.
_IMMEDIATE = _Timing()


def _rule(
    name: str,
    severity: int,
    summary: str,
    reasons: Iterable[FailureReason],
    *,
    kinds: Iterable[str] = (),
    timing: _Timing = _IMMEDIATE,
) -> Rule:
    return Rule(
        name,
        frozenset(reasons),
        Severity(severity),
        summary,
        frozenset(kinds),
        timing.for_seconds,
        timing.keep_firing_for_seconds,
        timing.consecutive_failures,
    )


_DNS_FAILURES = (
    R.TIMEOUT,
    R.CONNECTION_REFUSED,
    R.NETWORK_ERROR,
    R.NXDOMAIN,
    R.SERVFAIL,
    R.REFUSED,
    R.NODATA,
    R.NOT_AUTHORITATIVE,
    R.MALFORMED_RESPONSE,
    R.TRUNCATED_NO_TCP,
    R.DNS_ERROR,
)
# Reachability comes and goes: confirm it twice, and let it settle before resolving.
_FLAKY = _Timing(keep_firing_for_seconds=300.0, consecutive_failures=2)
# Overload passes by itself more often than not: only a lasting one is an incident.
_SLOW = _Timing(for_seconds=300.0, keep_firing_for_seconds=300.0)

# First match wins, so rules for particular kinds come before the catch-all ones. Every
# failure reason has a rule (the tests iterate the enum); configuration may override them.
# Severity: 1 blocking (the network stops trusting or finding a party), 2 major (a service
# or a party cannot be used), 3 minor (degraded, or a deadline ahead), 4 info.
DEFAULT_RULES: tuple[Rule, ...] = (
    # -- SML zone: every participant lookup goes through these name servers --
    _rule(
        "SmlNameServerFailing",
        2,
        "an SML name server does not answer for its zone",
        _DNS_FAILURES,
        kinds=("dns_soa", "dns_zone"),
        timing=_FLAKY,
    ),
    _rule(
        "SmlSerialMismatch",
        3,
        "the SML zone's name servers serve different serials",
        (R.SERIAL_MISMATCH,),
        timing=_Timing(for_seconds=600.0),  # a zone transfer takes a while to reach every server
    ),
    # -- participants --
    _rule(
        "ParticipantLookupFailed",
        3,
        "a participant cannot be found through the SML",
        _DNS_FAILURES,
        kinds=("dns_participant", "dns_sweep"),
        timing=_FLAKY,
    ),
    _rule(
        "ParticipantRecordInvalid",
        3,
        "a participant's SML records do not lead to an SMP",
        (R.NO_META_SMP_RECORD, R.MALFORMED_RECORD),
        timing=_FLAKY,  # a zone being updated can serve a half-written record for a while
    ),
    _rule("ParticipantMisrouted", 2, "a participant points to another SMP", (R.WRONG_SMP,)),
    # -- reachability of any endpoint --
    _rule(
        "EndpointUnreachable",
        2,
        "the endpoint does not answer",
        (R.TIMEOUT, R.CONNECTION_REFUSED, R.NETWORK_ERROR, R.TLS_HANDSHAKE_FAILED),
        timing=_FLAKY,
    ),
    _rule(
        "DnsLookupFailed",
        2,
        "a DNS lookup the check depends on fails",
        _DNS_FAILURES,
        timing=_FLAKY,
    ),
    _rule("ProbeInternalError", 4, "the probe itself failed (a bug in vigie)", (R.INTERNAL_ERROR,)),
    # -- SMP metadata --
    _rule(
        "SmpUnavailable",
        2,
        "the SMP does not serve usable metadata",
        (
            R.SMP_HTTP_ERROR,
            R.SMP_NOT_XML,
            R.SMP_MALFORMED_XML,
            R.SMP_REDIRECT_LOOP,
            R.SMP_UNHEALTHY,
        ),
        timing=_FLAKY,
    ),
    _rule(
        "SmpSaturated", 3, "the SMP is overloaded", (R.SMP_SATURATED, R.SMP_TOO_LARGE), timing=_SLOW
    ),
    _rule(
        "SmpMetadataWrong",
        2,
        "the SMP metadata cannot be used to send to the participant",
        (R.SMP_NOT_FOUND, R.SMP_NO_ENDPOINT, R.SMP_WRONG_METADATA, R.SMP_UNSUPPORTED_FORMAT),
    ),
    _rule(
        "SmpSignatureInvalid",
        2,
        "the SMP metadata signature does not verify",
        (R.SMP_BAD_SIGNATURE, R.SMP_UNTRUSTED_SIGNER),
    ),
    _rule(
        "SmpSignerExpired", 1, "the SMP signs with an expired certificate", (R.SMP_SIGNER_EXPIRED,)
    ),
    # -- certificates --
    _rule("CertificateExpired", 1, "a certificate has expired", (R.CERT_EXPIRED,)),
    _rule("CertificateRevoked", 1, "a certificate is revoked", (R.CERTIFICATE_REVOKED,)),
    _rule(
        "RevocationUndetermined",
        2,
        "a certificate's revocation status cannot be determined (never read as revoked)",
        (R.REVOCATION_UNDETERMINED,),
        timing=_FLAKY,
    ),
    _rule(
        "CertificateInvalid",
        2,
        "a certificate or its chain is not accepted",
        (R.CERT_MALFORMED, R.CERT_NOT_YET_VALID, R.CHAIN_UNTRUSTED, R.HOSTNAME_MISMATCH),
    ),
    _rule("CertificateExpiring", 3, "a certificate expires soon", (R.CERT_EXPIRING,)),
    _rule(
        "CertificateWeak",
        3,
        "a certificate uses a weak key or signature",
        (R.WEAK_KEY, R.WEAK_SIGNATURE),
    ),
    # -- CRLs: unreachable is its own alert, never a revocation --
    _rule(
        "CrlUnreachable",
        2,
        "a CRL distribution point cannot be reached (nothing is known about revocation)",
        (R.CRL_UNREACHABLE, R.CRL_HTTP_ERROR),
        timing=_FLAKY,
    ),
    _rule(
        "CrlInvalid",
        2,
        "a CRL cannot be trusted or is out of date",
        (
            R.CRL_MALFORMED,
            R.CRL_BAD_SIGNATURE,
            R.CRL_STALE,
            R.CRL_UNUSABLE,
            R.CRL_NOT_AUTHORITATIVE,
        ),
    ),
    _rule(
        "CrlAnomaly",
        3,
        "a CRL is unusually large or older than one already seen",
        (R.CRL_TOO_LARGE, R.CRL_NUMBER_DECREASED),
    ),
    _rule("CrlExpiring", 3, "a CRL reaches its nextUpdate soon", (R.CRL_EXPIRING,)),
    # -- OCSP --
    _rule(
        "OcspUnreachable",
        2,
        "an OCSP responder cannot be reached",
        (R.OCSP_UNREACHABLE, R.OCSP_HTTP_ERROR),
        timing=_FLAKY,
    ),
    _rule(
        "OcspInvalid",
        2,
        "an OCSP responder gives answers that cannot be used",
        (
            R.OCSP_MALFORMED,
            R.OCSP_UNAUTHORIZED,
            R.OCSP_ERROR,
            R.OCSP_WRONG_CERTIFICATE,
            R.OCSP_BAD_SIGNATURE,
            R.OCSP_STALE,
        ),
    ),
    _rule("OcspBusy", 3, "an OCSP responder asks to try later", (R.OCSP_TRY_LATER,), timing=_SLOW),
    _rule(
        "OcspUnknownCertificate",
        3,
        "an OCSP responder does not know a certificate",
        (R.OCSP_UNKNOWN,),
    ),
    # -- HTTP endpoints and capacity --
    _rule(
        "EndpointFailing",
        2,
        "the endpoint answers with an unexpected status or loops",
        (R.HTTP_STATUS, R.HTTP_REDIRECT_LOOP),
        timing=_FLAKY,
    ),
    _rule(
        "EndpointContentWrong",
        3,
        "the endpoint answers with unexpected content",
        (R.HTTP_BODY_MISMATCH, R.HTTP_TOO_LARGE),
    ),
    _rule(
        "CapacityDegraded",
        3,
        "the endpoint misses its latency or error targets under load",
        (R.CAPACITY_DEGRADED, R.CAPACITY_SATURATED),
        timing=_SLOW,
    ),
)


def rule_for(
    kind: str, reason: FailureReason, rules: Sequence[Rule] = DEFAULT_RULES
) -> Rule | None:
    """The first rule matching a failure of a check of `kind`; `None` for `ok` or no rule."""
    return next((rule for rule in rules if rule.matches(kind, reason)), None)


class AlertPhase(StrEnum):
    INACTIVE = "inactive"  # never failed, or recovered before firing
    PENDING = "pending"  # failing, not yet for long enough
    FIRING = "firing"
    RESOLVED = "resolved"  # fired, then recovered (and stayed so for keep_firing_for)


@dataclass(frozen=True, slots=True)
class AlertState:
    """What one check's alert remembers between evaluations.

    `active_since` is the first failure of the episode (the alert's `starts_at`);
    `last_failure_at` feeds keep_firing_for; `consecutive` counts failed results in a row,
    whatever their reason (a check that alternates timeouts and refusals is still down).
    """

    phase: AlertPhase = AlertPhase.INACTIVE
    rule: Rule | None = None
    reason: FailureReason = FailureReason.OK
    consecutive: int = 0
    active_since: datetime | None = None
    last_failure_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert as Alertmanager would know it; `ends_at` set means resolved."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    severity: Severity
    starts_at: datetime
    ends_at: datetime | None = None
    fingerprint: str = field(default="")

    def __post_init__(self) -> None:
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", fingerprint(self.labels))

    @property
    def firing(self) -> bool:
        return self.ends_at is None


_REQUIRED_LABELS = ("kind", "service", "target")


def _alert(state: AlertState, check_labels: Mapping[str, str], ends_at: datetime | None) -> Alert:
    assert state.rule is not None
    assert state.active_since is not None
    labels = {
        **check_labels,
        "alertname": state.rule.name,
        "reason": state.reason.value,
    }
    annotations = {"summary": state.rule.summary}
    return Alert(labels, annotations, state.rule.severity, state.active_since, ends_at)


def _recover(state: AlertState, now: datetime) -> AlertState:
    """A success, or a failure no rule covers: the failure streak ends."""
    if state.phase is AlertPhase.FIRING:
        return dataclasses.replace(state, phase=AlertPhase.RESOLVED, consecutive=0, resolved_at=now)
    if state.phase is AlertPhase.PENDING:
        return AlertState(phase=AlertPhase.INACTIVE)
    return dataclasses.replace(state, consecutive=0)


def evaluate(
    state: AlertState,
    check_labels: Mapping[str, str],
    result_reason: FailureReason,
    now: datetime,
    rules: Sequence[Rule] = DEFAULT_RULES,
) -> tuple[AlertState, Alert | None]:
    """One result of a check at `now`: the check's new alert state and the alert to send.

    A firing alert is sent on every evaluation (as Prometheus does; the correlator makes
    repeats harmless), a resolved one once, with `ends_at`. `check_labels` must hold
    `kind`, `service` and `target`. A failure with another reason than the firing one is
    another alert: the firing one resolves now, and the new one starts pending (so it
    fires one evaluation later at the earliest).
    """
    missing = [name for name in _REQUIRED_LABELS if name not in check_labels]
    if missing:
        raise ValueError(f"check labels lack {', '.join(missing)}: {dict(check_labels)}")
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    rule = rule_for(check_labels["kind"], result_reason, rules)

    if rule is None:
        if state.phase is AlertPhase.FIRING:
            assert state.rule is not None
            assert state.last_failure_at is not None
            keep = timedelta(seconds=state.rule.keep_firing_for_seconds)
            if now - state.last_failure_at < keep:
                kept = dataclasses.replace(state, consecutive=0)
                return kept, _alert(kept, check_labels, None)
        new = _recover(state, now)
        if new.phase is AlertPhase.RESOLVED and state.phase is AlertPhase.FIRING:
            return new, _alert(new, check_labels, now)
        return new, None

    consecutive = state.consecutive + 1
    if state.phase in (AlertPhase.PENDING, AlertPhase.FIRING) and (
        state.rule != rule or state.reason is not result_reason
    ):
        # Another alert: resolve the firing one (if any) and start the new one pending.
        pending = AlertState(AlertPhase.PENDING, rule, result_reason, consecutive, now, now)
        if state.phase is AlertPhase.FIRING:
            return pending, _alert(state, check_labels, now)
        return pending, None

    if state.phase is AlertPhase.FIRING:
        firing = dataclasses.replace(state, consecutive=consecutive, last_failure_at=now)
        return firing, _alert(firing, check_labels, None)

    active_since = now if state.phase is not AlertPhase.PENDING else state.active_since
    assert active_since is not None
    ready = consecutive >= rule.consecutive_failures and now - active_since >= timedelta(
        seconds=rule.for_seconds
    )
    phase = AlertPhase.FIRING if ready else AlertPhase.PENDING
    new = AlertState(phase, rule, result_reason, consecutive, active_since, now)
    return new, _alert(new, check_labels, None) if ready else None
