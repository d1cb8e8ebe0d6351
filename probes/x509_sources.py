"""Where a certificate check's certificates come from (`probes.x509`), one function each.

A TLS endpoint's chain (fetched by `probes.tls_chain`, verification off, then judged;
the verdict on an unchanged chain kept in a `Memo`), certificate files (a PEM/DER file
or a directory, read by `probes.certs`), or the distinct endpoint certificates in the
latest `smp` results (read each run through `ProbeEnv.findings`, as
`probes.http_discovery` reads them; at most `max` judged, the rest counted). Each hands
what it read to `probes.x509_judge`; none judges a certificate itself, and a target's
problem is a reason, never an exception.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.x509.verification import Store

from probes._base import FailureReason, FindingsView, PhaseTimer, ProbeEnv, ProbeResult
from probes.cert_checks import Assessment, assess_chain, at_time
from probes.cert_path import RevocationMode
from probes.certs import CertificateParseError, read_certificates
from probes.x509_judge import Facts, judge_paths, judge_set, result_of, trust

# The TLS and SMP-metadata sources' modules (httpx and lxml behind them) are imported
# where they are used, so that checking a file (`vigie probe cert --file`) starts
# without them.
if TYPE_CHECKING:
    from probes.smp_document import SmpEndpoint
    from probes.x509 import X509Params

__all__ = ["Memo", "probe_endpoint", "probe_files", "probe_smp_metadata", "published_certificates"]

# An unchanged chain is validated again after this long (anchors may expire meanwhile).
REVALIDATE_AFTER = 3600.0


class Memo:
    """The last chain a server presented and its verdict, reused while the server keeps
    presenting the same bytes: parsing and path validation cost more than the handshake,
    and only the validity windows move with the clock (`cert_checks.at_time`)."""

    __slots__ = ("assessment", "chain", "facts", "store", "until")

    def __init__(
        self,
        chain: tuple[bytes, ...],
        store: Store | None,
        facts: Facts,
        assessment: Assessment,
        until: float,
    ) -> None:
        self.chain, self.store, self.facts = chain, store, facts
        self.assessment, self.until = assessment, until

    def get(self, chain: tuple[bytes, ...], store: Store | None, wall: float) -> Assessment | None:
        if chain == self.chain and store is self.store and wall < self.until:
            return self.assessment
        return None


async def probe_endpoint(
    params: X509Params, address: tuple[str, int], time_limit: float, env: ProbeEnv
) -> ProbeResult:
    from probes.tls_chain import fetch_chain

    fetched = await fetch_chain(
        *address,
        server_name=params.hostname,
        time_limit=time_limit * 0.95,  # ours, naming the phase, before the runner's
        context=params.context,
        monotonic=env.monotonic,
    )
    timer = PhaseTimer(env.monotonic)  # fetch_chain timed connect and tls itself
    timer.phases.update(fetched.phases)
    if fetched.reason is not FailureReason.OK:
        return ProbeResult.failure(fetched.reason, fetched.detail, phases=timer.phases)
    version = fetched.tls_version
    store, problem = trust(params)
    if problem:
        return ProbeResult.failure(FailureReason.CERT_MALFORMED, problem, phases=timer.phases)
    wall = env.wall_clock()
    now = params.at or datetime.fromtimestamp(wall, UTC)
    memo = params.memo
    cached = memo.get(fetched.chain, store, wall) if memo is not None else None
    whole = params.whole_path and store is not None
    if memo is not None and cached is not None and not whole:
        assessment, facts = at_time(cached, now, params.policy), memo.facts
    else:
        try:
            found = [x509.load_der_x509_certificate(der) for der in fetched.chain]
        except ValueError as exc:
            detail = f"the server sent an unparsable certificate: {exc}"
            return ProbeResult.failure(FailureReason.CERT_MALFORMED, detail, phases=timer.phases)
        assessment = assess_chain(
            found,
            trust=None if whole else store,
            hostname=params.hostname,
            now=now,
            policy=params.policy,
            source=params.source,
            intermediates=params.intermediates,
        )
        if whole:  # revocation and CRLs move with time: judged afresh each run
            assessment = await judge_paths(assessment, [found], params, now, time_limit, env)
        facts = Facts(assessment, found)
        if not whole:
            params.memo = Memo(fetched.chain, store, facts, assessment, wall + REVALIDATE_AFTER)
    timer.lap("validate")
    return result_of(
        assessment, facts, version, timer.phases, now, validated=store is not None,
        revocation=params.revocation is not RevocationMode.NONE,
    )  # fmt: skip


async def probe_files(params: X509Params, time_limit: float, env: ProbeEnv) -> ProbeResult:
    timer = PhaseTimer(env.monotonic)
    assert params.file is not None
    skipped: list[str] = []
    try:
        found = read_certificates(params.file, skipped)
    except CertificateParseError as exc:
        timer.lap("read")
        return ProbeResult.failure(FailureReason.CERT_MALFORMED, str(exc), phases=timer.phases)
    timer.lap("read")
    result = await judge_set(found, params, timer, time_limit, env)
    if not skipped:
        return result
    names = ", ".join(skipped[:3]) + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else "")
    note = f"skipped {len(skipped)} files without a certificate ({names})"
    return dataclasses.replace(
        result,
        detail=f"{result.detail}; {note}" if result.detail else note,
        values={**result.values, "skipped_files": float(len(skipped))},
    )


async def probe_smp_metadata(params: X509Params, time_limit: float, env: ProbeEnv) -> ProbeResult:
    view = env.findings
    if view is None:
        return ProbeResult.failure(
            FailureReason.INTERNAL_ERROR,
            "no findings view in the probe environment: smp_metadata needs the agent's "
            "latest smp results (vigie run)",
        )
    timer = PhaseTimer(env.monotonic)
    published = published_certificates(view)
    watched = published[: params.max]
    counts = {
        "published_certificates": float(len(published)),
        "watched_certificates": float(len(watched)),
        "over_budget": float(len(published) - len(watched)),
    }
    over = f"; {len(published) - len(watched)} more beyond max {params.max}, not judged"
    over = over if len(published) > len(watched) else ""
    found = []
    for der, endpoint in watched:
        try:
            found.append(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            timer.lap("read")
            detail = (
                f"an unparsable certificate in the SMP metadata of {endpoint.participant} "
                f"({endpoint.document_type}): {exc}"
            )
            return ProbeResult.failure(
                FailureReason.CERT_MALFORMED, detail, phases=timer.phases, values=counts
            )
    timer.lap("read")
    if not found:
        # Nothing to judge yet (no smp check has run, or none fetched metadata): not an
        # outage of any certificate, so not a failure; the detail says so.
        detail = "no SMP metadata seen yet: no endpoint certificate to judge"
        return ProbeResult(FailureReason.OK, detail, phases=timer.phases, values=counts)
    result = await judge_set(
        found, params, timer, time_limit, env, role="smp_endpoint", labelled=params.max
    )
    return dataclasses.replace(
        result, detail=result.detail + over, values={**result.values, **counts}
    )


def published_certificates(view: FindingsView) -> list[tuple[bytes, SmpEndpoint]]:
    """Every distinct endpoint certificate (DER) in the `smp` checks' findings, sorted by
    its bytes (so the budget is stable), with one endpoint that publishes it."""
    from probes.smp import SmpFindings

    found: dict[bytes, SmpEndpoint] = {}
    for findings in view():
        if not isinstance(findings, SmpFindings):
            continue
        for endpoint in findings.endpoints:
            if endpoint.certificate_der:
                found.setdefault(endpoint.certificate_der, endpoint)
    return sorted(found.items(), key=lambda item: item[0])
