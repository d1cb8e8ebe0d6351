"""Fetching CRLs for `probes.crl`: the download by `probes.http_fetch`, DER/PEM parsing.

Failures are values (`FetchedCrl.reason`); an unreachable distribution point is
`crl_unreachable`, never a verdict. Nothing here decides whether a certificate is
revoked, and nothing here keeps a CRL (`probes.crl_cache` does).
"""

from __future__ import annotations

import asyncio
import re

from cryptography import x509
from cryptography.x509.oid import CRLEntryExtensionOID

from probes._base import FailureReason, ProbeEnv
from probes.crl_cache import FetchedCrl
from probes.http_fetch import Failed, Problem, fetch, reason_of

__all__ = [
    "entry_problem",
    "fetch_crl",
    "parse_crl",
    "parse_crl_serials",
    "parse_crls",
]

MEBIBYTE = 2**20
# Parsing a CRL this large blocks the event loop for a noticeable time: do it in a thread.
THREAD_PARSE_BYTES = MEBIBYTE
_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----\r?\n.*?-----END X509 CRL-----", re.DOTALL)


def parse_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL from DER, else from the first PEM block; ValueError says why not."""
    try:
        return x509.load_der_x509_crl(data)
    except ValueError as der_error:
        block = _PEM_CRL.search(data)
        if block is None:
            raise ValueError(f"neither DER nor PEM: {der_error}") from None
        return x509.load_pem_x509_crl(block.group(0))


def parse_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    """Every CRL in `data`: one DER CRL, or each PEM block; ValueError says why not."""
    blocks = _PEM_CRL.findall(data)
    if not blocks:
        return [parse_crl(data)]
    try:
        return [x509.load_pem_x509_crl(block) for block in blocks]
    except ValueError as exc:
        raise ValueError(f"malformed PEM CRL: {exc}") from None


# A distribution point that does not answer is unreachable, whatever the way.
_REASONS = {
    **dict.fromkeys(Problem, FailureReason.CRL_UNREACHABLE),
    Problem.STATUS: FailureReason.CRL_HTTP_ERROR,
    Problem.TOO_LARGE: FailureReason.CRL_TOO_LARGE,
    Problem.INTERNAL: FailureReason.INTERNAL_ERROR,
}


async def fetch_crl(url: str, env: ProbeEnv, max_size: int, budget: float) -> FetchedCrl:
    if env.http is None:
        return FetchedCrl(FailureReason.INTERNAL_ERROR, "no HTTP client in the probe environment")
    answer = await fetch(
        env.http, url, max_body=max_size, only_2xx=True, budget=budget, monotonic=env.monotonic
    )
    now = env.monotonic()
    if isinstance(answer, Failed):
        return FetchedCrl(reason_of(answer, _REASONS), answer.detail, fetched_at=now)
    body = answer.body
    try:
        if len(body) > THREAD_PARSE_BYTES:
            async with env.crl_cache.parse_slots:  # see CrlCache: threads are shared
                crl, serials, problem = await asyncio.to_thread(_parse, body)
        else:
            crl, serials, problem = _parse(body)
    except ValueError as exc:
        return FetchedCrl(FailureReason.CRL_MALFORMED, str(exc)[:200], fetched_at=now)
    return FetchedCrl(
        FailureReason.OK, crl=crl, serials=serials, size=len(body),
        duration=answer.duration, fetched_at=now, entry_problem=problem,
    )  # fmt: skip


def _parse(data: bytes) -> tuple[x509.CertificateRevocationList, frozenset[int], str]:
    crl, serials = parse_crl_serials(data)
    return crl, serials, entry_problem(crl)


# Entry extensions a CRL check understands (RFC 5280 5.3). certificateIssuer belongs to
# indirect CRLs, which the CRL check does not use (the whole-path verdict does).
_ENTRY_EXTENSIONS = frozenset(
    {CRLEntryExtensionOID.CRL_REASON, CRLEntryExtensionOID.INVALIDITY_DATE}
)


def entry_problem(crl: x509.CertificateRevocationList) -> str:
    """Why no entry of `crl` may be used: an unrecognised critical entry extension (RFC
    5280 5.3 forbids using such a CRL for any certificate), or "" when none is."""
    for entry in crl:
        try:
            extensions = entry.extensions
        except ValueError as exc:
            return f"an entry's extensions cannot be parsed: {str(exc)[:120]}"
        for extension in extensions:
            if extension.critical and extension.oid not in _ENTRY_EXTENSIONS:
                oid = extension.oid.dotted_string
                return f"entry {entry.serial_number:x} has critical extension {oid}, not understood"
    return ""


def parse_crl_serials(
    data: bytes,
) -> tuple[x509.CertificateRevocationList, frozenset[int]]:
    crl = parse_crl(data)
    # Lookups by serial in the CRL itself are linear; a set makes each one O(1). Reading
    # every entry here also surfaces damage inside the list as crl_malformed.
    serials = frozenset(entry.serial_number for entry in crl)
    if crl.next_update_utc is None:
        raise ValueError("no nextUpdate (RFC 5280 requires it)")
    return crl, serials
