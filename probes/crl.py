"""CRL checks: fetch each CRL at most once per refresh interval, verify it, look for serials.

One check per CRL URL (configured, or a CRL distribution point of a monitored
certificate); each monitored certificate is watched by the checks of its own distribution
points, or by the configured URL when it names none. A CRL that cannot be fetched, parsed
or verified is reported as such and is never read as revoked or as good: `revoked` is only
ever reported from a CRL that was fetched, parsed, whose signature verifies against a
configured issuer, that RFC 5280 allows to be used (`crl_unusable`: an unrecognised
critical extension, a delta CRL, an indirect CRL, a signer without cRLSign) and whose
scope covers the certificate (`crl_not_authoritative`: another issuer's certificate, an
issuing distribution point that excludes it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from pydantic import BeforeValidator, Field, PrivateAttr, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from probes._base import (
    Check,
    CheckDefaults,
    FailureReason,
    PhaseTimer,
    ProbeEnv,
    ProbeResult,
    Series,
)
from probes._config import TargetBase
from probes.cert_checks import UNREADABLE_EXTENSION, cert_name, common_name, serial_hex
from probes.certs import CertificateParseError, CertificatesPath, name_text, read_certificates
from probes.crl_cache import CrlCache, FetchedCrl
from probes.crl_fetch import MEBIBYTE, fetch_crl
from probes.crl_scope import not_covered, scope_of, unusable
from vocab import CheckUrl, Duration, Instant, PositiveDuration

__all__ = ["CrlParams", "CrlTarget", "crl_urls", "expand_crl", "judge", "probe_crl"]

# Share of the check's timeout a fetch may take, so that an unreachable CRL is reported as
# crl_unreachable and not as the runner's generic timeout.
FETCH_SHARE = 0.8


def _one_or_many(value: object) -> object:
    return [value] if isinstance(value, str | Path) else value


PathList = Annotated[list[Path], BeforeValidator(_one_or_many)]


class CrlTarget(TargetBase):
    """CRLs to watch: a URL, the CRL distribution points of certificates, or both."""

    url: CheckUrl | None = Field(None, description="a CRL URL to check (http or https)")
    issuer: PathList = Field(
        default_factory=list,
        description="CA certificate files (PEM or DER) whose key signs the CRLs; the one "
        "named as the CRL's issuer verifies it. Unset: the signature is not checked and "
        "`revoked` is never reported",
    )
    monitored: PathList = Field(
        default_factory=list,
        description="certificate files or directories whose serials must not be listed; "
        "each of their CRL distribution points (http/https) becomes a check too",
    )
    warn_before: Duration = Field(
        6 * 3600.0, description="crl_expiring when nextUpdate is closer than this"
    )
    refresh: PositiveDuration = Field(
        900.0, description="a CRL is fetched at most once per refresh, however many checks use it"
    )
    max_size: int = Field(
        20 * MEBIBYTE, ge=1024, le=2**30, description="largest CRL downloaded, in bytes"
    )
    trust_anchors: CertificatesPath | None = Field(
        None,
        description="root CAs the CRL's signer must chain to (RFC 5280 path validation); "
        "unset: a configured issuer is trusted as it is",
    )
    at: Instant | None = Field(
        None, description="judge as of this instant (ISO 8601, UTC without a zone) instead of now"
    )
    _anchors: tuple[x509.Certificate, ...] = PrivateAttr(())
    _issuers: tuple[x509.Certificate, ...] = PrivateAttr(())
    _monitored: tuple[x509.Certificate, ...] = PrivateAttr(())

    @model_validator(mode="after")
    def _read_certificates(self) -> CrlTarget:
        problems: list[InitErrorDetails] = []

        def read(name: str, paths: list[Path]) -> tuple[x509.Certificate, ...]:
            found: list[x509.Certificate] = []
            for index, path in enumerate(paths):
                try:
                    found.extend(read_certificates(path))
                except CertificateParseError as exc:
                    error = PydanticCustomError(
                        "certificate", "{path}: {error}", {"path": str(path), "error": str(exc)}
                    )
                    problems.append(InitErrorDetails(type=error, loc=(name, index), input=path))
            return tuple(found)

        self._issuers = read("issuer", self.issuer)
        self._monitored = read("monitored", self.monitored)
        if self.trust_anchors is not None:
            self._anchors = tuple(read_certificates(self.trust_anchors))
        if not problems:
            if self._monitored and not self._issuers:
                message = "monitored certificates need an issuer to trust a CRL listing them"
                problems.append(_problem("issuer", message, self.issuer))
            elif self.url is None and not self.distribution_points():
                message = "no url, and no monitored certificate names an http(s) CRL"
                problems.append(_problem("url", message, self.url))
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)
        return self

    def distribution_points(self) -> list[str]:
        """The configured URL, then each distinct http(s) CRL distribution point."""
        urls = [self.url] if self.url else []
        for cert in self._monitored:
            for url in crl_urls(cert):
                if url not in urls:
                    urls.append(url)
        return urls

    def monitored_by(self, url: str) -> tuple[x509.Certificate, ...]:
        """The monitored certificates the check of `url` watches: those naming it as a
        distribution point, and for the configured URL those naming none."""
        return tuple(
            cert
            for cert in self._monitored
            if url in crl_urls(cert) or (url == self.url and not crl_urls(cert))
        )


def _problem(name: str, message: str, value: object) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(name, message), loc=(name,), input=value)


def crl_urls(cert: x509.Certificate) -> list[str]:
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except UNREADABLE_EXTENSION:
        return []
    return [
        name.value
        for point in points
        for name in point.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier)
        and name.value.lower().startswith(("http://", "https://"))
    ]


@dataclass(frozen=True, slots=True)
class CrlParams:
    url: str
    issuers: tuple[x509.Certificate, ...]
    monitored: tuple[x509.Certificate, ...]
    warn_before: float
    refresh: float
    max_size: int
    anchors: tuple[x509.Certificate, ...] = ()
    at: datetime | None = None


def expand_crl(target: CrlTarget, defaults: CheckDefaults) -> Iterator[Check]:
    timing = target.timing(defaults)
    for url in target.distribution_points():
        params = CrlParams(
            url, target._issuers, target.monitored_by(url),
            target.warn_before, target.refresh, target.max_size, target._anchors, target.at,
        )  # fmt: skip
        yield Check("crl", "pki", url, params, timing.interval, timing.timeout, timing.retries)


# -- judging ---------------------------------------------------------------------------


async def probe_crl(check: Check, env: ProbeEnv) -> ProbeResult:
    params: CrlParams = check.params
    timer = PhaseTimer(env.monotonic)
    cache = env.crl_cache
    budget = check.timeout * FETCH_SHARE

    async def fetch() -> FetchedCrl:
        return await fetch_crl(params.url, env, params.max_size, budget)

    fetched = await cache.get(params.url, params.refresh, env.monotonic(), fetch)
    timer.lap("fetch")
    now = params.at.timestamp() if params.at is not None else env.wall_clock()
    result = judge(fetched, params, now, cache)
    if result.reason not in _REFUSED and params.anchors and fetched.crl is not None:
        problem = await _signer_path(fetched.crl, params, now)
        if problem:
            result = dataclasses.replace(
                result, reason=FailureReason.CRL_UNUSABLE, detail=problem, series=()
            )
    timer.lap("verify")
    return dataclasses.replace(result, phases=timer.phases)


_REFUSED = frozenset(
    {
        FailureReason.CRL_UNREACHABLE,
        FailureReason.CRL_HTTP_ERROR,
        FailureReason.CRL_TOO_LARGE,
        FailureReason.CRL_MALFORMED,
        FailureReason.CRL_BAD_SIGNATURE,
        FailureReason.CRL_UNUSABLE,
    }
)


async def _signer_path(crl: x509.CertificateRevocationList, params: CrlParams, now: float) -> str:
    """Why the CRL's signer does not chain to the trust anchors, or "" when it does."""
    from probes.cert_path import PathOptions, judge_path

    signer = next(cert for cert in params.issuers if cert.subject == crl.issuer)
    others = [cert for cert in params.issuers if cert is not signer]
    at = datetime.fromtimestamp(now, UTC)
    verdict = await judge_path(signer, others, params.anchors, at=at, options=PathOptions())
    if verdict.ok:
        return ""
    return f"the CRL's signer {name_text(crl.issuer)}: {verdict.reason}: {verdict.detail}"


def judge(fetched: FetchedCrl, params: CrlParams, now: float, cache: CrlCache) -> ProbeResult:
    """The verdict on one fetched CRL; `revoked` only from a verified one."""
    crl = fetched.crl
    if fetched.reason is not FailureReason.OK or crl is None:
        return ProbeResult.failure(fetched.reason, fetched.detail)
    this_update = crl.last_update_utc.timestamp()
    next_update = crl.next_update_utc.timestamp() if crl.next_update_utc else this_update
    number = _crl_number(crl)
    values = {
        "this_update_timestamp_seconds": this_update,
        "next_update_timestamp_seconds": next_update,
        "entries": float(len(fetched.serials)),
        "size_bytes": float(fetched.size),
        "fetch_duration_seconds": fetched.duration,
    }
    if number is not None:
        values["number"] = float(number)

    if not params.issuers:  # nothing to trust a listing with: freshness only
        return _freshness(params, now, values, (), "signature not verified (no issuer)")
    verified, why = _verify(fetched, crl, params.issuers)
    if not verified:
        return ProbeResult(FailureReason.CRL_BAD_SIGNATURE, why, values=values)
    refusal = unusable(crl, params.issuers, fetched.entry_problem)
    if refusal:
        return ProbeResult(FailureReason.CRL_UNUSABLE, refusal, values=values)
    scope = scope_of(crl)
    mine, outside = [], []
    for cert in params.monitored:
        listed = cert.serial_number in fetched.serials and cert.issuer == crl.issuer
        why = not_covered(crl, scope, cert, listed)
        if why:
            outside.append(f"{cert_name(cert)} ({why})")
        else:
            mine.append((cert, listed))
    series = tuple(
        Series("certificate_revoked", _cert_labels(cert), float(flag)) for cert, flag in mine
    )
    listed_names = [cert_name(cert) for cert, flag in mine if flag]
    if listed_names:
        detail = f"listed: {', '.join(listed_names)}"
        return ProbeResult(FailureReason.CERTIFICATE_REVOKED, detail, values=values, series=series)
    if outside:
        detail = f"cannot speak for {'; '.join(outside)}"
        return ProbeResult(
            FailureReason.CRL_NOT_AUTHORITATIVE, detail, values=values, series=series
        )
    if number is not None:
        previous = fetched.previous_number
        if previous is not None and number < previous:
            detail = f"CRL number {number} after {previous}: an older CRL is served"
            return ProbeResult(
                FailureReason.CRL_NUMBER_DECREASED, detail, values=values, series=series
            )
        cache.note_number(params.url, number)
    return _freshness(params, now, values, series, "")


def _freshness(
    params: CrlParams,
    now: float,
    values: dict[str, float],
    series: tuple[Series, ...],
    ok_detail: str,
) -> ProbeResult:
    this_update = values["this_update_timestamp_seconds"]
    next_update = values["next_update_timestamp_seconds"]
    reason, detail = FailureReason.OK, ok_detail
    if this_update > now:
        reason, detail = FailureReason.CRL_STALE, "thisUpdate is in the future"
    elif next_update <= now:
        passed = _hours(now - next_update)
        reason, detail = FailureReason.CRL_STALE, f"nextUpdate passed {passed} ago"
    elif next_update - now < params.warn_before:
        left = _hours(next_update - now)
        reason, detail = FailureReason.CRL_EXPIRING, f"nextUpdate in {left}"
    return ProbeResult(reason, detail, values=values, series=series)


def _verify(
    fetched: FetchedCrl, crl: x509.CertificateRevocationList, issuers: tuple[x509.Certificate, ...]
) -> tuple[bool, str]:
    named = [cert for cert in issuers if cert.subject == crl.issuer]
    if not named:
        return False, f"no configured issuer is {name_text(crl.issuer)}"
    for cert in named:
        key = cert.fingerprint(hashes.SHA256())
        if key not in fetched.verdicts:
            try:
                fetched.verdicts[key] = crl.is_signature_valid(cert.public_key())  # type: ignore[arg-type]
            except (TypeError, ValueError, UnsupportedAlgorithm):
                fetched.verdicts[key] = False
        if fetched.verdicts[key]:
            return True, ""
    return False, f"the signature does not verify with {name_text(crl.issuer)}'s key"


def _crl_number(crl: x509.CertificateRevocationList) -> int | None:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except UNREADABLE_EXTENSION:
        return None


def _cert_labels(cert: x509.Certificate) -> dict[str, str]:
    return {"serial": serial_hex(cert), "cn": common_name(cert)}


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f}h"
