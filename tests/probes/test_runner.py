"""The runner owns timeouts, retries and timing; the collector shows the result book."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from structlog.testing import capture_logs

from probes import (
    Check,
    FailureReason,
    ProbeCollector,
    ProbeEnv,
    ProbeResult,
    ResultBook,
    Runner,
    Series,
)

OK = ProbeResult(FailureReason.OK)
SERVFAIL = ProbeResult.failure(FailureReason.SERVFAIL, "SERVFAIL for example.org SOA")


def make_check(
    kind: str = "scripted", target: str = "example.org", *, timeout: float = 5.0, retries: int = 0
) -> Check:
    return Check(kind, "sml", target, None, interval=60.0, timeout=timeout, retries=retries)


class ScriptedProber:
    """Answers each attempt with the next result of its script (the last one repeats)."""

    def __init__(self, *results: ProbeResult | BaseException) -> None:
        self._results = list(results)
        self.attempts = 0

    async def __call__(self, check: Check, env: ProbeEnv) -> ProbeResult:
        self.attempts += 1
        result = self._results[min(self.attempts, len(self._results)) - 1]
        if isinstance(result, BaseException):
            raise result
        return result


class StuckProber:
    """Never answers: only the runner's timeout ends it."""

    def __init__(self) -> None:
        self.cancelled = False

    async def __call__(self, check: Check, env: ProbeEnv) -> ProbeResult:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        raise AssertionError("unreachable")


class Ticks:
    """A clock that moves one second each time it is read."""

    def __init__(self, start: float) -> None:
        self._times: Iterator[float] = (start + n for n in range(1_000_000))

    def __call__(self) -> float:
        return next(self._times)


def make_runner(book: ResultBook, **probers: object) -> Runner:
    return Runner(
        probers,  # type: ignore[arg-type]
        ProbeEnv(),
        book,
        monotonic=Ticks(100.0),
        wall_clock=Ticks(1_700_000_000.0),
    )


@pytest.mark.parametrize(
    ("script", "retries", "reason", "attempts"),
    [
        pytest.param([OK], 0, FailureReason.OK, 1, id="ok-first-time"),
        pytest.param([OK], 2, FailureReason.OK, 1, id="ok-needs-no-retry"),
        pytest.param([SERVFAIL], 0, FailureReason.SERVFAIL, 1, id="failure-without-retries"),
        pytest.param([SERVFAIL], 2, FailureReason.SERVFAIL, 3, id="failure-after-all-retries"),
        pytest.param([SERVFAIL, SERVFAIL, OK], 2, FailureReason.OK, 3, id="ok-on-last-retry"),
        pytest.param([SERVFAIL, SERVFAIL, OK], 1, FailureReason.SERVFAIL, 2, id="retries-run-out"),
        pytest.param(
            [RuntimeError("bug"), OK], 1, FailureReason.OK, 2, id="retry-after-prober-bug"
        ),
    ],
)
async def test_retries(
    script: Sequence[ProbeResult | BaseException],
    retries: int,
    reason: FailureReason,
    attempts: int,
) -> None:
    book = ResultBook()
    prober = ScriptedProber(*script)
    check = make_check(retries=retries)

    result = await make_runner(book, scripted=prober).run(check)

    assert result.reason is reason
    assert prober.attempts == attempts
    record = book.get(check.key)
    assert record is not None
    assert record.result == result
    # One run, however many attempts it took.
    assert record.outcomes == {reason: 1}


async def test_timeout_is_a_result_and_cancels_the_prober() -> None:
    book = ResultBook()
    prober = StuckProber()
    check = make_check("stuck", timeout=0.05)

    result = await make_runner(book, stuck=prober).run(check)

    assert result.reason is FailureReason.TIMEOUT
    assert result.detail == "no result within 0.05s"
    assert prober.cancelled


async def test_prober_exception_is_internal_error_and_next_check_still_runs() -> None:
    book = ResultBook()
    runner = make_runner(
        book, broken=ScriptedProber(ValueError("bug")), scripted=ScriptedProber(OK)
    )

    with capture_logs() as logs:
        broken = await runner.run(make_check("broken", "a.example"))
        healthy = await runner.run(make_check("scripted", "b.example"))

    assert (broken.reason, broken.detail) == (FailureReason.INTERNAL_ERROR, "ValueError")
    assert healthy.reason is FailureReason.OK
    failures = [entry for entry in logs if entry["event"] == "prober_failed"]
    assert [(entry["kind"], entry["target"]) for entry in failures] == [("broken", "a.example")]


async def test_unknown_kind_is_internal_error() -> None:
    result = await make_runner(ResultBook()).run(make_check("nope"))
    assert result.reason is FailureReason.INTERNAL_ERROR
    assert "no prober 'nope'" in result.detail


async def test_record_keeps_duration_and_finish_time() -> None:
    book = ResultBook()
    check = make_check()

    await make_runner(book, scripted=ScriptedProber(OK)).run(check)

    record = book.get(check.key)
    assert record is not None
    # The monotonic clock was read at the start and at the end: one tick apart.
    assert record.duration == 1.0
    assert record.finished_at == 1_700_000_000.0


async def test_book_counts_outcomes_across_runs() -> None:
    book = ResultBook()
    check = make_check()
    runner = make_runner(book, scripted=ScriptedProber(OK, SERVFAIL, OK, OK))

    for _ in range(4):
        await runner.run(check)

    record = book.get(check.key)
    assert record is not None
    assert record.outcomes == {FailureReason.OK: 3, FailureReason.SERVFAIL: 1}
    assert record.result == OK


def test_book_registers_checks_once_without_results() -> None:
    book = ResultBook()
    check = make_check()
    book.register(check)
    book.register(check)
    assert len(book) == 1
    (record,) = book
    assert (record.check, record.result) == (check, None)
    assert book.get("missing") is None


# --- the Prometheus view ---------------------------------------------------------------


def scrape(book: ResultBook) -> dict[str, list[Sample]]:
    registry = CollectorRegistry()
    registry.register(ProbeCollector(book))
    text = generate_latest(registry).decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def labels(kind: str, target: str, **extra: str) -> dict[str, str]:
    return {"kind": kind, "service": "sml", "target": target, **extra}


SampleMap = dict[frozenset[tuple[str, str]], float]


def series(samples: list[Sample]) -> SampleMap:
    return {frozenset(sample.labels.items()): sample.value for sample in samples}


def at(labels: dict[str, str], **extra: str) -> frozenset[tuple[str, str]]:
    return frozenset({**labels, **extra}.items())


def test_collector_exports_every_check_that_ran_with_its_labels() -> None:
    book = ResultBook()
    soa = Check("dns_soa", "sml", "zone.example@127.0.0.1:53", None, 60.0, 5.0)
    other = make_check("scripted", "other.example")
    book.register(make_check("scripted", "never-ran.example"))
    serial = {"serial": 2025033001.0}
    book.record(soa, ProbeResult(FailureReason.OK, phases={"query": 0.25}, values=serial), 0.5, 10)
    book.record(soa, SERVFAIL, 0.75, 20.0)
    book.record(other, OK, 0.125, 30.0)

    families = scrape(book)

    soa_labels = labels("dns_soa", "zone.example@127.0.0.1:53")
    other_labels = labels("scripted", "other.example")
    assert series(families["probe_success"]) == {at(soa_labels): 0.0, at(other_labels): 1.0}
    assert series(families["probe_duration_seconds"]) == {
        at(soa_labels): 0.75,
        at(other_labels): 0.125,
    }
    assert series(families["probe_last_run_timestamp_seconds"]) == {
        at(soa_labels): 20.0,
        at(other_labels): 30.0,
    }
    # Only the reason of the last run is present.
    assert series(families["probe_failure_reason"]) == {
        at(soa_labels, reason="servfail"): 1.0,
        at(other_labels, reason="ok"): 1.0,
    }
    assert series(families["probe_runs"]) == {
        at(soa_labels, reason="ok"): 1.0,
        at(soa_labels, reason="servfail"): 1.0,
        at(other_labels, reason="ok"): 1.0,
    }
    assert {sample.name for sample in families["probe_runs"]} == {"probe_runs_total"}
    # The last run had no phases and no values: their series are gone with it.
    assert families["probe_phase_duration_seconds"] == []
    assert "probe_dns_soa_serial" not in families


def test_collector_exports_phases_and_prober_values() -> None:
    book = ResultBook()
    soa = Check("dns_soa", "sml", "zone.example@resolver", None, 60.0, 5.0)
    result = ProbeResult(FailureReason.OK, phases={"query": 0.25}, values={"serial": 2025033001.0})
    book.record(soa, result, 0.5, 10.0)

    families = scrape(book)

    target = labels("dns_soa", "zone.example@resolver")
    (phase,) = families["probe_phase_duration_seconds"]
    assert (phase.labels, phase.value) == ({**target, "phase": "query"}, 0.25)
    (serial,) = families["probe_dns_soa_serial"]
    assert (serial.labels, serial.value) == (target, 2025033001.0)


def test_empty_book_exports_no_series() -> None:
    families = scrape(ResultBook())
    assert all(samples == [] for samples in families.values())


def test_labelled_series_become_families_with_their_own_labels() -> None:
    book = ResultBook()
    check = Check(
        kind="dns_zone", service="sml", target="z.test", params=None, interval=1, timeout=1
    )
    series = (
        Series("serial", {"nameserver": "ns1"}, 7.0),
        Series("serial", {"nameserver": "ns2"}, 8.0),
    )
    book.record(check, ProbeResult(FailureReason.OK, series=series), 0.1, 1.0)
    registry = CollectorRegistry()
    registry.register(ProbeCollector(book))
    samples = {
        sample.labels["nameserver"]: sample.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for sample in family.samples
        if sample.name == "probe_dns_zone_serial"
    }
    assert samples == {"ns1": 7.0, "ns2": 8.0}


async def test_a_check_logs_at_info_only_when_its_outcome_changes() -> None:
    book = ResultBook()
    failed = ProbeResult.failure(FailureReason.TIMEOUT, "slow")
    runner = make_runner(book, scripted=ScriptedProber(OK, OK, failed, failed))
    check = make_check(target="a.example")

    with capture_logs() as logs:
        for _ in range(4):
            await runner.run(check)

    events = [(e["log_level"], e["previous"], e["reason"]) for e in logs if e["event"] == "check"]
    assert events == [
        ("info", None, "ok"),
        ("debug", "ok", "ok"),
        ("info", "ok", "timeout"),
        ("debug", "timeout", "timeout"),
    ]
    assert {(e["kind"], e["service"], e["target"]) for e in logs} == {
        ("scripted", "sml", "a.example")
    }
