"""Overview: is each managed service available against its objective, and what is open."""

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
    table_panel,
    timeseries_panel,
)

RUNS_OK = 'probe_runs_total{reason="ok", service=~"$service"}'
RUNS = 'probe_runs_total{service=~"$service"}'


def build() -> Dashboard:
    service = label_variable(
        "service",
        "Service",
        "probe_success",
        "service",
        "Managed service: sml, smp, pki, tls, certificates, endpoint",
    )
    return build_dashboard(
        "vigie-overview",
        "vigie / Overview",
        "Availability of each managed service against its objective, open master tickets "
        "and SLA breaches.",
        [service],
        [
            row("Availability"),
            stat_panel(
                "Availability over the time range",
                "Share of check runs that ended ok over the dashboard's time range, per "
                "service (probe_runs_total). Green at or above 99.9 %.",
                "percentunit",
                Query(
                    increase_ratio(RUNS_OK, RUNS, "service"),
                    "{{service}}",
                ),
                steps=GOOD_WHEN_HIGH,
                width=12,
                decimals=3,
            ),
            stat_panel(
                "Checks failing now",
                "Checks whose last run failed, per service (1 - probe_success). Zero is "
                "green; the table below names them.",
                "none",
                Query('sum by (service) (1 - probe_success{service=~"$service"})', "{{service}}"),
                steps=((None, "green"), (1, "red")),
                width=12,
            ),
            timeseries_panel(
                "Availability against objective (1 h window)",
                "Availability per service over the last hour (recording rule "
                "vigie:probe_availability:ratio_rate1h) and the objective each service is "
                "held to (vigie:availability_objective:ratio, set in deploy/rules). A line "
                "under its objective spends error budget.",
                "percentunit",
                Query('vigie:probe_availability:ratio_rate1h{service=~"$service"}', "{{service}}"),
                Query(
                    'vigie:availability_objective:ratio{service=~"$service"}',
                    "{{service}} objective",
                ),
                width=24,
                max_value=1,
            ),
            table_panel(
                "Failing checks",
                "Every check whose last run failed, with the reason it gave "
                "(probe_failure_reason). Empty when all is well.",
                "none",
                Query('probe_failure_reason{reason!="ok", service=~"$service"} == 1'),
                columns=["service", "kind", "target", "reason"],
                sort_by="service",
                width=24,
            ),
            row("Tickets"),
            stat_panel(
                "Open master tickets by severity",
                "Unclosed master tickets per severity (1 blocking, 2 major, 3 minor, 4 info), "
                "from vigie's ticket store (vigie_tickets_open).",
                "none",
                Query(
                    'sum by (severity) (vigie_tickets_open{role="master"})', "severity {{severity}}"
                ),
                steps=((None, "green"), (1, "orange")),
                width=12,
            ),
            stat_panel(
                "SLA clocks breached now",
                "Open tickets whose response or resolution target has passed "
                "(vigie_ticket_sla_breached), per clock.",
                "none",
                Query("sum by (clock) (vigie_ticket_sla_breached)", "{{clock}}"),
                steps=((None, "green"), (1, "red")),
                width=12,
            ),
            timeseries_panel(
                "Alerts received",
                "Alerts vigie received per second, by source: its own probes, "
                "Alertmanager's webhook, the API (vigie_alerts_received_total).",
                "ops",
                Query(
                    "sum by (source) (rate(vigie_alerts_received_total[$__rate_interval]))",
                    "{{source}}",
                ),
            ),
            timeseries_panel(
                "Agent: scheduling lag",
                "How late the last run of each check kind started after its due time "
                "(vigie_check_start_delay_seconds): a growing lag means the agent is saturated.",
                "s",
                Query("max by (kind) (vigie_check_start_delay_seconds)", "{{kind}}"),
            ),
        ],
    )
