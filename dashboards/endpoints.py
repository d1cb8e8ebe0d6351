"""Endpoints: availability against objective, latency by phase, capacity, error budget."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards._panels import (
    GOOD_WHEN_HIGH,
    Query,
    build_dashboard,
    increase_ratio,
    label_variable,
    row,
    stat_panel,
    state_panel,
    table_panel,
    timeseries_panel,
)

ENDPOINT = 'target=~"$endpoint"'
GOOD = f"probe_http_checks_good_total{{{ENDPOINT}}}"
ALL = f"probe_http_checks_total{{{ENDPOINT}}}"


def _availability(window: str) -> str:
    return increase_ratio(GOOD, ALL, "target", window)


def build() -> Dashboard:
    endpoint = label_variable(
        "endpoint",
        "Endpoint",
        'probe_success{kind="http"}',
        "target",
        "HTTP(S) endpoint (the http check's name)",
    )
    return build_dashboard(
        "vigie-endpoints",
        "vigie / Endpoints",
        "SMP and Access Point endpoints: availability against objective, latency by phase, "
        "capacity classification and error-budget burn.",
        [endpoint],
        [
            row("Availability"),
            stat_panel(
                "Availability over the time range",
                "Successful runs over all runs of each endpoint's check over the dashboard's "
                "time range (probe_http_checks_good_total / probe_http_checks_total).",
                "percentunit",
                Query(_availability("$__range"), "{{target}}"),
                steps=GOOD_WHEN_HIGH,
                width=12,
                decimals=3,
            ),
            stat_panel(
                "Objective",
                "The availability objective configured for each endpoint "
                "(probe_http_objective_availability_ratio).",
                "percentunit",
                Query(f"probe_http_objective_availability_ratio{{{ENDPOINT}}}", "{{target}}"),
                width=12,
                decimals=3,
            ),
            timeseries_panel(
                "Error-budget burn rate (1 h)",
                "How fast each endpoint spends its error budget over the last hour: 1 spends "
                "it exactly over the objective's window, 14.4 spends 2 % of a 30-day budget in "
                "an hour (the fast-burn alert).",
                "none",
                Query(
                    f"(1 - {_availability('1h')}) / on (target) (1 - max by (target) "
                    f"(probe_http_objective_availability_ratio{{{ENDPOINT}}}))",
                    "{{target}}",
                ),
                steps=((None, "green"), (1, "orange"), (14.4, "red")),
            ),
            timeseries_panel(
                "Availability (rate window)",
                "Successful runs over all runs per endpoint in each rate window, with the "
                "endpoint's objective.",
                "percentunit",
                Query(_availability("$__rate_interval"), "{{target}}"),
                Query(
                    f"probe_http_objective_availability_ratio{{{ENDPOINT}}}",
                    "{{target}} objective",
                ),
                max_value=1,
            ),
            row("Latency"),
            timeseries_panel(
                "p95 latency by phase (10 min)",
                "95th percentile over 10 minutes of each phase of the checks "
                "(probe_phase_duration_seconds): connect (name resolution included), tls, "
                "ttfb, transfer.",
                "s",
                Query(
                    "quantile_over_time(0.95, "
                    f'probe_phase_duration_seconds{{kind="http", {ENDPOINT}}}[10m])',
                    "{{target}} {{phase}}",
                ),
            ),
            timeseries_panel(
                "p95 check duration",
                "95th percentile of whole check runs from their histogram "
                "(probe_http_duration_seconds).",
                "s",
                Query(
                    "histogram_quantile(0.95, sum by (target, le) "
                    f"(rate(probe_http_duration_seconds_bucket{{{ENDPOINT}}}[$__rate_interval])))",
                    "{{target}}",
                ),
            ),
            timeseries_panel(
                "HTTP status code",
                "Status code of each endpoint's last answer (probe_http_status_code).",
                "none",
                Query(f"probe_http_status_code{{{ENDPOINT}}}", "{{target}}"),
            ),
            table_panel(
                "Discovered endpoints",
                "SMP and Access Point URLs found through the SML and SMP metadata, and whether "
                "each answered (probe_http_discovery_endpoint_up).",
                "none",
                Query("probe_http_discovery_endpoint_up"),
                columns=["endpoint"],
                sort_by="Value",
                steps=((None, "red"), (1, "green")),
            ),
            row("Capacity"),
            state_panel(
                "Capacity classification",
                "The verdict of each endpoint's last capacity burst (probe_capacity_state): "
                "healthy, degraded (latency or errors over threshold), saturated "
                "(429/503 or a throughput plateau).",
                Query(
                    "max by (target) ("
                    f'(probe_capacity_state{{state="healthy", {ENDPOINT}}} == 1) * 0'
                    f' or (probe_capacity_state{{state="degraded", {ENDPOINT}}} == 1)'
                    f' or (probe_capacity_state{{state="saturated", {ENDPOINT}}} == 1) * 2)',
                    "{{target}}",
                ),
                mappings=(
                    (0, "healthy", "green"),
                    (1, "degraded", "orange"),
                    (2, "saturated", "red"),
                ),
            ),
            timeseries_panel(
                "Capacity: latency under load",
                "p95 latency of the last burst's largest step, and the single-request "
                "baseline it is compared with (probe_capacity_latency_p95_seconds, "
                "probe_capacity_baseline_latency_seconds).",
                "s",
                Query(f"probe_capacity_latency_p95_seconds{{{ENDPOINT}}}", "p95 {{target}}"),
                Query(
                    f"probe_capacity_baseline_latency_seconds{{{ENDPOINT}}}",
                    "baseline {{target}}",
                ),
            ),
            timeseries_panel(
                "Capacity: throughput and overload",
                "Requests per second the last burst's largest step achieved "
                "(probe_capacity_throughput_requests_per_second).",
                "reqps",
                Query(f"probe_capacity_throughput_requests_per_second{{{ENDPOINT}}}", "{{target}}"),
            ),
        ],
    )
