"""PKI: days to expiry of every monitored certificate, CRL freshness, OCSP status."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards._panels import (
    Query,
    build_dashboard,
    label_variable,
    row,
    stat_panel,
    table_panel,
    timeseries_panel,
)

SERVICE = 'service=~"$service"'
DAY = 86400


def build() -> Dashboard:
    service = label_variable(
        "service",
        "Service",
        'probe_success{kind=~"x509|crl|ocsp"}',
        "service",
        "tls (endpoint chains), certificates (files, SMP metadata), pki (CRLs, OCSP)",
    )
    return build_dashboard(
        "vigie-pki",
        "vigie / PKI",
        "Certificates, CRLs and OCSP: what expires first, whether revocation information "
        "is fresh and reachable.",
        [service],
        [
            row("Certificates"),
            table_panel(
                "Days to expiry of every monitored certificate",
                "Days left before notAfter of each monitored certificate (leaf, intermediate, "
                "file, smp_endpoint), soonest first "
                "(probe_x509_cert_not_after_timestamp_seconds). Red under 14 days.",
                "d",
                Query(
                    "min by (cn, serial, role) ("
                    f"(probe_x509_cert_not_after_timestamp_seconds{{{SERVICE}}} - time()) / {DAY})"
                ),
                columns=["cn", "role", "serial"],
                steps=((None, "red"), (14, "orange"), (30, "green")),
                width=14,
                height=10,
            ),
            table_panel(
                "Certificate problems now",
                "Each problem found on a certificate check's last run (probe_x509_problem): "
                "expired, expiring, untrusted chain, hostname mismatch, weak key, ...",
                "none",
                Query(f"probe_x509_problem{{{SERVICE}}} == 1"),
                columns=["target", "reason"],
                sort_by="target",
                width=10,
                height=10,
            ),
            row("Revocation"),
            timeseries_panel(
                "CRL time to nextUpdate",
                "Time left before each CRL distribution point's nextUpdate "
                "(probe_crl_next_update_timestamp_seconds - now). Below zero the CRL is stale.",
                "s",
                Query(
                    f"probe_crl_next_update_timestamp_seconds{{{SERVICE}}} - time()", "{{target}}"
                ),
                steps=((None, "red"), (6 * 3600, "orange"), (DAY, "green")),
            ),
            timeseries_panel(
                "CRL age",
                "Time since each CRL's thisUpdate (probe_crl_this_update_timestamp_seconds).",
                "s",
                Query(
                    f"time() - probe_crl_this_update_timestamp_seconds{{{SERVICE}}}", "{{target}}"
                ),
            ),
            table_panel(
                "CRL and OCSP status now",
                "The reason each CRL and OCSP check gave on its last run "
                "(probe_failure_reason): ok, crl_stale, crl_unreachable, revoked, ocsp_*. "
                "An unreachable CRL is never read as revoked.",
                "none",
                Query(f'probe_failure_reason{{kind=~"crl|ocsp", {SERVICE}}} == 1'),
                columns=["kind", "target", "reason"],
                sort_by="kind",
            ),
            stat_panel(
                "Monitored certificates revoked",
                "Monitored certificates listed in a fetched and verified CRL "
                "(probe_crl_certificate_revoked). Anything above zero is an incident.",
                "none",
                Query(f"sum(probe_crl_certificate_revoked{{{SERVICE}}})", "revoked"),
                steps=((None, "green"), (1, "red")),
                width=12,
            ),
            timeseries_panel(
                "OCSP answer time to nextUpdate",
                "Time left before each OCSP answer's nextUpdate "
                "(probe_ocsp_next_update_timestamp_seconds - now).",
                "s",
                Query(
                    f"probe_ocsp_next_update_timestamp_seconds{{{SERVICE}}} - time()",
                    "{{target}}",
                ),
            ),
            timeseries_panel(
                "CRL download time",
                "How long each CRL download took (probe_crl_fetch_duration_seconds); slow or "
                "busy distribution points caused real outages.",
                "s",
                Query(f"probe_crl_fetch_duration_seconds{{{SERVICE}}}", "{{target}}"),
            ),
        ],
    )
