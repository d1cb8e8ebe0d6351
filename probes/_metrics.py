"""Prometheus view of the result book, built fresh on every scrape.

Series of checks that no longer exist vanish by themselves, because nothing is kept
between scrapes. Labels are the check's kind, service and target, plus bounded enums
(phase, reason); error text never becomes a label.

A prober's `Histogram`s and the runner's objective totals of a check are exported as
Prometheus histograms (cumulative buckets with an `le` label, `_sum`, `_count`).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from probes._base import Check, Histogram
from probes._runner import ObjectiveTotals, ResultBook

__all__ = ["ProbeCollector"]

_LABELS = ["kind", "service", "target"]


def metric_name(kind: str, name: str) -> str:
    """`probe_<kind>_<name>`; a name that already starts with `probe_` is used as it is, so
    a prober can export a series under blackbox_exporter's name for the same fact."""
    return name if name.startswith("probe_") else f"probe_{kind}_{name}"


class ProbeCollector(Collector):
    def __init__(self, book: ResultBook) -> None:
        self._book = book

    def collect(
        self,
    ) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        success = GaugeMetricFamily(
            "probe_success", "Whether the last run of the check succeeded", labels=_LABELS
        )
        duration = GaugeMetricFamily(
            "probe_duration_seconds",
            "How long the last run of the check took, retries included",
            labels=_LABELS,
        )
        phases = GaugeMetricFamily(
            "probe_phase_duration_seconds",
            "Duration of each phase of the last run of the check",
            labels=[*_LABELS, "phase"],
        )
        reason = GaugeMetricFamily(
            "probe_failure_reason",
            "Why the last run ended: 1 for its reason (ok included); other reasons absent",
            labels=[*_LABELS, "reason"],
        )
        last_run = GaugeMetricFamily(
            "probe_last_run_timestamp_seconds",
            "When the last run of the check finished (Unix time)",
            labels=_LABELS,
        )
        runs = CounterMetricFamily(
            "probe_runs",
            "Runs of the check since the agent started, by how they ended",
            labels=[*_LABELS, "reason"],
        )
        values: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        extra_names: dict[str, list[str]] = {}  # label names of each prober series family
        histograms = _Histograms()
        objectives = _Objectives()
        for record in self._book:
            result = record.result
            if result is None:
                continue
            check = record.check
            labels = [check.kind, check.service, check.target]
            success.add_metric(labels, 1.0 if result.success else 0.0)
            duration.add_metric(labels, record.duration)
            last_run.add_metric(labels, record.finished_at)
            reason.add_metric([*labels, str(result.reason)], 1.0)
            for phase, seconds in result.phases.items():
                phases.add_metric([*labels, phase], seconds)
            for outcome, count in record.outcomes.items():
                runs.add_metric([*labels, str(outcome)], float(count))
            if record.totals is not None:
                objectives.add(check, labels, record.totals, histograms)
            for name, value in result.values.items():
                metric = metric_name(check.kind, name)
                family = values.get(metric)
                if family is None:
                    family = values[metric] = GaugeMetricFamily(
                        metric, f"{name} reported by the {check.kind} prober", labels=_LABELS
                    )
                family.add_metric(labels, value)
            for histogram in result.histograms:
                histograms.add(
                    metric_name(check.kind, histogram.name),
                    f"{histogram.name} reported by the {check.kind} prober",
                    labels,
                    histogram,
                )
            for series in result.series:
                metric = metric_name(check.kind, series.name)
                family = values.get(metric)
                if family is None:
                    extra_names[metric] = list(series.labels)
                    family_type = CounterMetricFamily if series.counter else GaugeMetricFamily
                    family = values[metric] = family_type(
                        metric,
                        f"{series.name} reported by the {check.kind} prober",
                        labels=[*_LABELS, *extra_names[metric]],
                    )
                extra = [series.labels.get(name, "") for name in extra_names[metric]]
                family.add_metric([*labels, *extra], series.value)
        yield from (success, duration, phases, reason, last_run, runs)
        yield from values.values()
        yield from objectives.families()
        yield from histograms.families()


# The objective gauges (name and help), in the order of `Objective`'s fields.
_OBJECTIVE_GAUGES = (
    ("objective_availability_ratio", "Share of checks that must succeed over the window"),
    ("objective_latency_seconds", "A successful check within this long is fast enough"),
    ("objective_latency_ratio", "Share of checks that must be fast enough"),
    ("objective_window_seconds", "The window of the objectives"),
)


class _Objectives:
    """The families of the checks with an objective, per kind (`probe_<kind>_checks`...)."""

    def __init__(self) -> None:
        self._families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}

    def _family(
        self, kind: str, name: str, text: str, counter: bool = False
    ) -> GaugeMetricFamily | CounterMetricFamily:
        metric = metric_name(kind, name)
        family = self._families.get(metric)
        if family is None:
            family_type = CounterMetricFamily if counter else GaugeMetricFamily
            family = self._families[metric] = family_type(metric, text, labels=_LABELS)
        return family

    def add(
        self, check: Check, labels: list[str], totals: ObjectiveTotals, histograms: _Histograms
    ) -> None:
        objective, kind = check.objective, check.kind
        assert objective is not None
        counts = (
            ("checks", "Checks run since the agent started", totals.runs),
            ("checks_good", "Checks that succeeded", totals.good),
            ("checks_fast", "Checks that succeeded within the latency objective", totals.fast),
        )
        for name, text, count in counts:
            self._family(kind, name, text, counter=True).add_metric(labels, float(count))
        targets = (
            objective.availability,
            objective.latency,
            objective.latency_ratio,
            objective.window,
        )
        for (name, text), value in zip(_OBJECTIVE_GAUGES, targets, strict=True):
            self._family(kind, name, text).add_metric(labels, value)
        histograms.add(
            metric_name(kind, "duration_seconds"),
            "How long each attempt of the check took, timed-out ones included",
            labels,
            totals.histogram(),
        )

    def families(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        yield from self._families.values()


class _Histograms:
    """One histogram family per metric name, over the checks that report it."""

    def __init__(self) -> None:
        self._families: dict[str, HistogramMetricFamily] = {}

    def add(self, metric: str, text: str, labels: list[str], histogram: Histogram) -> None:
        family = self._families.get(metric)
        if family is None:
            family = self._families[metric] = HistogramMetricFamily(metric, text, labels=_LABELS)
        cumulative, buckets = 0, []
        bounds = (*(repr(bound) for bound in histogram.bounds), "+Inf")
        for bound, count in zip(bounds, histogram.counts, strict=True):
            cumulative += count
            buckets.append((bound, float(cumulative)))
        family.add_metric(labels, buckets, histogram.sum)

    def families(self) -> Iterator[HistogramMetricFamily]:
        yield from self._families.values()
