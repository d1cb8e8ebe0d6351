"""Every metric a dashboard or a rule uses is one vigie exports (or a rule records).

vigie's names come from the code: the families its registry yields (the framework's
probe_* series, the runner's objective series, the agent's vigie_* series, process_*),
and the names each prober reports, read from its modules' source (`Series("name", ...)`,
`Histogram("name", ...)` and the keys of its `values`), turned into exported names as the
collector does. Ticket metrics are the ticket store's contract, listed below until the
registry exports them.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
from collections.abc import Iterator

import pytest
import yaml
from prometheus_client import Metric

import dashboards
import dashboards.live
from probes import PROBERS, CheckDefaults, FailureReason, ProbeResult, ResultBook
from probes._metrics import metric_name
from probes.http import HttpTarget, expand_http
from vigie.app import REGISTRY, create_app
from vigie.config import VigieConfig
from vigie.metrics import build_registry
from vigie.scheduler import Scheduler

RULES = sorted(dashboards.live.RULES_DIR.glob("*.yml"))

# The ticket store's metrics, as agreed for the Tickets dashboard (sample names).
TICKET_METRICS = {
    "vigie_tickets_open",
    "vigie_ticket_info",
    "vigie_tickets_created_total",
    "vigie_tickets_resolved_total",
    "vigie_ticket_time_to_acknowledge_seconds_sum",
    "vigie_ticket_time_to_acknowledge_seconds_count",
    "vigie_ticket_time_to_resolve_seconds_sum",
    "vigie_ticket_time_to_resolve_seconds_count",
    "vigie_ticket_sla_total",
    "vigie_ticket_sla_breached",
    "vigie_ticket_escalations_total",
    "vigie_alerts_received_total",
    "vigie_outbox_pending",
    "vigie_notifications_total",
}
# Prometheus's own series for each scrape.
SCRAPE_SERIES = {"up"}


def sample_names(family: Metric) -> set[str]:
    name = family.name
    return {
        "counter": {f"{name}_total", f"{name}_created"},
        "histogram": {f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_created"},
        "summary": {name, f"{name}_sum", f"{name}_count", f"{name}_created"},
        "info": {f"{name}_info"},
    }.get(family.type, {name})


async def _no_run(_: object) -> None:
    return None


def registry_names() -> set[str]:
    """Every series name the agent's /metrics can show: the registry `create_app` builds
    (probe, agent, ticket and notification collectors), with a scheduler in place and the
    result of a check with an objective (whose families the runner keeps per kind)."""
    scheduler = Scheduler([], _no_run, limits={})
    book = ResultBook()
    (check,) = expand_http(HttpTarget(url="http://127.0.0.1:9/"), CheckDefaults())
    assert check.objective is not None
    book.record(check, ProbeResult(FailureReason.OK), 0.01, 0.0)
    book.count_attempt(check, True, 0.01)
    registry = build_registry(book, [scheduler], (0, 1))
    app = create_app(VigieConfig())
    names = {name for family in registry.collect() for name in sample_names(family)}
    return names | {name for family in app[REGISTRY].collect() for name in sample_names(family)}


def _series_calls(tree: ast.AST) -> Iterator[tuple[str, bool]]:
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Series"):
            continue
        first = node.args[0] if node.args else None
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            counter = any(
                keyword.arg == "counter" and getattr(keyword.value, "value", False) is True
                for keyword in node.keywords
            ) or (len(node.args) >= 4 and getattr(node.args[3], "value", False) is True)
            yield first.value, counter


def _histogram_calls(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Histogram":
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield first.value


def _is_values(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return name in {"values", "counts"}


def _values_keys(tree: ast.AST) -> Iterator[str]:
    """Literal keys of the dicts that become a result's `values`."""
    dicts: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if _is_values(target) and node.value is not None:
                    dicts.append(node.value)
                if isinstance(target, ast.Subscript) and _is_values(target.value):
                    dicts.append(ast.Dict(keys=[target.slice], values=[node.value]))
        elif isinstance(node, ast.keyword) and node.arg == "values":
            dicts.append(node.value)
        elif isinstance(node, ast.FunctionDef) and node.name == "values":
            dicts += [item.value for item in ast.walk(node) if isinstance(item, ast.Return)]
    for found in dicts:
        if isinstance(found, ast.Dict):
            for key in found.keys:
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    yield key.value


def _prober_sources(module: str) -> Iterator[ast.AST]:
    """The prober's module, and the modules of its own it imports (`probes.x509_judge` for
    `probes.x509`): a prober split where its ideas split reports from all of them."""
    tree = ast.parse(inspect.getsource(sys.modules[module]))
    yield tree
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"{module}_"):
            yield ast.parse(inspect.getsource(importlib.import_module(node.module or "")))


def prober_names() -> set[str]:
    names = set()
    for kind, prober in PROBERS.items():
        for tree in _prober_sources(prober.__module__):
            names |= _names_in(kind, tree)
    return names


def _names_in(kind: str, tree: ast.AST) -> set[str]:
    names = set()
    for name in _values_keys(tree):
        names.add(metric_name(kind, name))
    for name, counter in _series_calls(tree):
        metric = metric_name(kind, name)
        histogram_part = name.endswith(("_bucket", "_sum", "_count"))
        names.add(f"{metric}_total" if counter and not histogram_part else metric)
    for name in _histogram_calls(tree):
        metric = metric_name(kind, name)
        names |= {f"{metric}_bucket", f"{metric}_sum", f"{metric}_count"}
    return names


def recorded_names() -> set[str]:
    return {
        rule["record"]
        for path in RULES
        for group in yaml.safe_load(path.read_text("utf-8"))["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def rule_expressions() -> Iterator[tuple[str, str]]:
    for path in RULES:
        for group in yaml.safe_load(path.read_text("utf-8"))["groups"]:
            for rule in group["rules"]:
                yield rule.get("record") or rule["alert"], rule["expr"]


def test_the_name_sources_see_what_the_demo_exports() -> None:
    # A sample of names seen on a running demo's /metrics, one per way of making them.
    exported = registry_names() | prober_names()
    assert {
        "probe_success",
        "probe_runs_total",
        "vigie_check_start_delay_seconds",
        "probe_dns_sweep_lookups_total",
        "probe_http_duration_seconds_bucket",
        "probe_dns_zone_serials",
        "probe_dns_sweep_progress_ratio",
        "probe_capacity_latency_p95_seconds",
        "probe_ssl_earliest_cert_expiry",
        "probe_x509_cert_not_after_timestamp_seconds",
        "probe_smp_signer_not_after_timestamp_seconds",
        "probe_crl_number",
    } <= exported


@pytest.mark.parametrize("name", list(dashboards.DASHBOARDS))
def test_every_dashboard_metric_is_exported_or_recorded(name: str) -> None:
    known = registry_names() | prober_names() | recorded_names()
    for query in (query for query in dashboards.queries() if query.dashboard == name):
        unknown = dashboards.metric_names(query.expr) - known
        assert not unknown, f"{query.id} uses {sorted(unknown)}"


@pytest.mark.parametrize("expr", [pytest.param(expr, id=rule) for rule, expr in rule_expressions()])
def test_every_rule_uses_exported_or_recorded_metrics(expr: str) -> None:
    known = registry_names() | prober_names() | recorded_names() | SCRAPE_SERIES
    unknown = dashboards.metric_names(expr) - known
    assert not unknown, sorted(unknown)


def test_the_registry_exports_the_ticket_metrics() -> None:
    missing = TICKET_METRICS - registry_names()
    assert not missing, sorted(missing)
