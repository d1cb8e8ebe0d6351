"""SML DNS: participant lookups, name servers, SOA serial consistency, sweeps."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards._panels import (
    Query,
    build_dashboard,
    label_variable,
    row,
    stat_panel,
    state_panel,
    table_panel,
    timeseries_panel,
)

ZONE = 'target=~"$zone"'


def build() -> Dashboard:
    zone = label_variable(
        "zone", "Zone", 'probe_success{kind="dns_zone"}', "target", "SML zone (its dns_zone check)"
    )
    return build_dashboard(
        "vigie-sml-dns",
        "vigie / SML DNS",
        "The SML zone: its name servers, SOA serial consistency, canary participants and "
        "sweeps of the participant list.",
        [zone],
        [
            row("Name servers"),
            state_panel(
                "Name servers answering",
                "Whether each of the zone's name servers answered the SOA query "
                "(probe_dns_zone_nameserver_up).",
                Query(f"probe_dns_zone_nameserver_up{{{ZONE}}}", "{{nameserver}}"),
                mappings=((0, "down", "red"), (1, "up", "green")),
                width=12,
            ),
            stat_panel(
                "Distinct SOA serials",
                "How many different SOA serials the zone's name servers serve "
                "(probe_dns_zone_serials): 1 when consistent; more means a secondary "
                "missed a transfer.",
                "none",
                Query(f"probe_dns_zone_serials{{{ZONE}}}", "{{target}}"),
                steps=((None, "green"), (2, "red")),
                width=6,
            ),
            stat_panel(
                "Name servers in the NS set",
                "Size of the zone's NS set as found (probe_dns_zone_nameservers).",
                "none",
                Query(f"probe_dns_zone_nameservers{{{ZONE}}}", "{{target}}"),
                width=6,
            ),
            timeseries_panel(
                "Response time by name server",
                "Time each name server took to answer the SOA query "
                "(probe_dns_zone_nameserver_response_seconds).",
                "s",
                Query(f"probe_dns_zone_nameserver_response_seconds{{{ZONE}}}", "{{nameserver}}"),
            ),
            timeseries_panel(
                "SOA serial by name server",
                "The SOA serial each name server serves (probe_dns_zone_nameserver_soa_serial); "
                "lines that part are a serial mismatch.",
                "none",
                Query(f"probe_dns_zone_nameserver_soa_serial{{{ZONE}}}", "{{nameserver}}"),
            ),
            row("Participant lookups"),
            timeseries_panel(
                "Sweep lookups by reason",
                "Participant lookups per second of the sweep, by outcome "
                "(probe_dns_sweep_lookups_total): ok, nxdomain, wrong_smp, timeout, ...",
                "ops",
                Query(
                    f"sum by (reason) (rate(probe_dns_sweep_lookups_total{{{ZONE}}}"
                    "[$__rate_interval]))",
                    "{{reason}}",
                ),
            ),
            timeseries_panel(
                "Sweep lookup latency (p50, p95)",
                "Lookup latency of the sweep from its histogram "
                "(probe_dns_sweep_lookup_duration_seconds).",
                "s",
                Query(
                    "histogram_quantile(0.5, sum by (target, le) (rate("
                    f"probe_dns_sweep_lookup_duration_seconds_bucket{{{ZONE}}}[$__rate_interval])))",
                    "p50 {{target}}",
                ),
                Query(
                    "histogram_quantile(0.95, sum by (target, le) (rate("
                    f"probe_dns_sweep_lookup_duration_seconds_bucket{{{ZONE}}}[$__rate_interval])))",
                    "p95 {{target}}",
                ),
            ),
            timeseries_panel(
                "Sweep progress",
                "How far the current pass of the sweep has gone through the participant list "
                "(probe_dns_sweep_progress_ratio).",
                "percentunit",
                Query(f"probe_dns_sweep_progress_ratio{{{ZONE}}}", "{{target}}"),
                min_value=0,
                max_value=1,
            ),
            timeseries_panel(
                "Failing participants",
                "Participants failing now (probe_dns_sweep_failing_participants), and those "
                "beyond the cardinality budget that have no series of their own.",
                "none",
                Query(f"probe_dns_sweep_failing_participants{{{ZONE}}}", "failing {{target}}"),
                Query(
                    f"probe_dns_sweep_failing_participants_without_series{{{ZONE}}}",
                    "without a series {{target}}",
                ),
            ),
            table_panel(
                "Failing participants now",
                "Each participant failing now, with its reason "
                "(probe_dns_sweep_participant_failing, at most the cardinality budget).",
                "none",
                Query(f"probe_dns_sweep_participant_failing{{{ZONE}}} == 1"),
                columns=["target", "participant", "reason"],
                sort_by="participant",
                width=12,
            ),
            timeseries_panel(
                "Canary participants",
                "Whether each canary participant resolved to its expected SMP "
                "(probe_success of the dns_participant checks).",
                "none",
                Query('probe_success{kind="dns_participant", target=~".*@$zone"}', "{{target}}"),
                min_value=0,
                max_value=1,
            ),
        ],
    )
