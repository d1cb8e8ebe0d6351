"""Tickets: the open tickets, MTTA/MTTR, SLA compliance, escalations, notifications."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards._panels import (
    Query,
    build_dashboard,
    increase_ratio,
    label_variable,
    row,
    stat_panel,
    table_panel,
    timeseries_panel,
)

SERVICE = 'service=~"$service"'


def _mean(metric: str) -> str:
    """Mean of a duration over the time range, per severity, from its _sum and _count."""
    return increase_ratio(f"{metric}_sum", f"{metric}_count", "severity")


def build() -> Dashboard:
    service = label_variable(
        "service", "Service", "vigie_tickets_open", "service", "Service the tickets are about"
    )
    return build_dashboard(
        "vigie-tickets",
        "vigie / Tickets",
        "vigie's ticket store: open tickets, time to acknowledge and resolve, SLA compliance, "
        "escalations and notifications.",
        [service],
        [
            row("Open tickets"),
            table_panel(
                "Open master tickets",
                "The most urgent open master tickets, at most 50 (vigie_ticket_info): id, "
                "title, severity, state, service and escalation level. The ticket API has "
                "the rest.",
                "none",
                Query(f"vigie_ticket_info{{{SERVICE}}}"),
                columns=["id", "severity", "state", "service", "escalation_level", "title"],
                sort_by="severity",
                width=24,
                height=10,
            ),
            stat_panel(
                "Open master tickets by severity",
                "Unclosed master tickets per severity (vigie_tickets_open, role master): "
                "1 blocking, 2 major, 3 minor, 4 info.",
                "none",
                Query(
                    f'sum by (severity) (vigie_tickets_open{{role="master", {SERVICE}}})',
                    "severity {{severity}}",
                ),
                steps=((None, "green"), (1, "orange")),
                width=12,
            ),
            stat_panel(
                "Open tickets by state",
                "Unclosed tickets, masters and children, per lifecycle state (vigie_tickets_open).",
                "none",
                Query(f"sum by (state) (vigie_tickets_open{{{SERVICE}}})", "{{state}}"),
                width=12,
            ),
            row("Service levels"),
            stat_panel(
                "MTTA over the time range",
                "Mean time to acknowledge per severity over the dashboard's time range "
                "(vigie_ticket_time_to_acknowledge_seconds sum / count).",
                "s",
                Query(_mean("vigie_ticket_time_to_acknowledge_seconds"), "severity {{severity}}"),
                width=8,
            ),
            stat_panel(
                "MTTR over the time range",
                "Mean time to resolve per severity over the dashboard's time range "
                "(vigie_ticket_time_to_resolve_seconds sum / count).",
                "s",
                Query(_mean("vigie_ticket_time_to_resolve_seconds"), "severity {{severity}}"),
                width=8,
            ),
            stat_panel(
                "SLA compliance over the time range",
                "Share of response and resolution clocks that met their target over the "
                "time range (vigie_ticket_sla_total: met / (met + breached)).",
                "percentunit",
                Query(
                    increase_ratio(
                        'vigie_ticket_sla_total{outcome="met"}', "vigie_ticket_sla_total", "clock"
                    ),
                    "{{clock}}",
                ),
                steps=((None, "red"), (0.9, "orange"), (0.95, "green")),
                width=8,
            ),
            timeseries_panel(
                "SLA clocks breached now",
                "Open tickets whose response or resolution clock is breached, per severity "
                "(vigie_ticket_sla_breached).",
                "none",
                Query(
                    "sum by (severity, clock) (vigie_ticket_sla_breached)",
                    "severity {{severity}} {{clock}}",
                ),
            ),
            timeseries_panel(
                "Escalations",
                "Escalations per level in each rate window (vigie_ticket_escalations_total): "
                "2 service desk, 3 technical teams, 4 vendor.",
                "none",
                Query(
                    "sum by (level) (increase(vigie_ticket_escalations_total[$__rate_interval]))",
                    "level {{level}}",
                ),
            ),
            timeseries_panel(
                "Tickets created and resolved",
                "Tickets created and resolved in each rate window, per severity "
                "(vigie_tickets_created_total, vigie_tickets_resolved_total).",
                "none",
                Query(
                    "sum by (severity) (increase("
                    f"vigie_tickets_created_total{{{SERVICE}}}[$__rate_interval]))",
                    "created, severity {{severity}}",
                ),
                Query(
                    "sum by (severity) (increase("
                    f"vigie_tickets_resolved_total{{{SERVICE}}}[$__rate_interval]))",
                    "resolved, severity {{severity}}",
                ),
            ),
            row("Alerts and notifications"),
            timeseries_panel(
                "Alerts received by source",
                "Alerts per second by source: probe, alertmanager (webhook), api "
                "(vigie_alerts_received_total).",
                "ops",
                Query(
                    "sum by (source) (rate(vigie_alerts_received_total[$__rate_interval]))",
                    "{{source}}",
                ),
                width=12,
            ),
            timeseries_panel(
                "Notifications by outcome",
                "Notifications per second by sink and outcome: delivered, retried, failed "
                "(vigie_notifications_total).",
                "ops",
                Query(
                    "sum by (sink, outcome) (rate(vigie_notifications_total[$__rate_interval]))",
                    "{{sink}} {{outcome}}",
                ),
                width=8,
            ),
            stat_panel(
                "Outbox pending",
                "Notifications waiting in the outbox to be sent (vigie_outbox_pending); a "
                "number that keeps growing means a sink is down.",
                "none",
                Query("vigie_outbox_pending", "pending"),
                steps=((None, "green"), (100, "orange")),
                width=4,
                height=8,
            ),
        ],
    )
