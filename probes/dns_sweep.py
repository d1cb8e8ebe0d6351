"""`dns_sweep`: a whole participant list looked up continuously, a batch per run.

Each run sends lookups at the configured rate for most of its interval, from where the
last run stopped, and wraps around at the end of the list. Aggregates per zone are always
exported (lookups by reason, a latency histogram, progress); per-participant series only
for participants failing right now, oldest failures first, at most `cardinality_budget`
of them; the rest are counted, never silently dropped. Memory is the identifiers
themselves (well under 1 KiB each); query names are built per lookup, on the fly.

The hot path avoids dnspython: one connected UDP socket per name server with many queries
in flight (`UdpChannel`), names hashed straight to wire form, answers read by
`dns_wire`. A CNAME/DNAME chain that leads out of an answer is followed with a query of
its own (`probes.dns_chain`). A failing lookup is a reason; it never stops the batch.
"""

from __future__ import annotations

import asyncio
import bisect
import csv
import hashlib
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Literal

from probes._base import (
    Check,
    FailureReason,
    Histogram,
    PhaseTimer,
    ProbeEnv,
    ProbeResult,
    Series,
)
from probes.dns_chain import ChainServers, OtherZone, follow_chain
from probes.dns_client import UdpChannel, tcp_exchange
from probes.dns_lookup import (
    SERVER_FAULTS,
    Lookup,
    evaluate_classic,
    evaluate_naptr,
    parse_answer,
)
from probes.dns_servers import ZoneServers
from probes.dns_wire import TYPE_A, TYPE_NAPTR, Message, bdxl_qname, build_query, encode_name
from probes.naming import NamingScheme, ParticipantId
from vocab.files import open_regular_file

__all__ = ["BUCKETS", "MAX_LIST_BYTES", "ParticipantList", "SweepState", "probe_sweep"]

# Lookup latency buckets (seconds): loopback answers in well under 1 ms, a far SML in tens.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_MAX_IN_FLIGHT = 128
# A million identifiers with an expected SMP each take about 100 MB; a list is read once.
MAX_LIST_BYTES = 128 * 1024 * 1024
# An identifier is at most a few hundred characters, with its SMP's URL in a CSV row.
MAX_LINE_BYTES = 4096
_SEPARATOR = "::"


class ParticipantList:
    """Identifiers of a list file, kept as plain strings; expected SMPs interned."""

    def __init__(self, ids: list[str], expected: array[int], smps: list[str], invalid: int):
        self.ids = ids
        self.expected = expected  # index into smps + 1 per participant; 0: none
        self.smps = smps
        self.invalid = invalid

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def load(cls, path: str | Path, file_format: Literal["lines", "csv"]) -> ParticipantList:
        """The list of a file (OSError, or ValueError saying what is wrong and where)."""
        ids: list[str] = []
        expected = array("I")
        smps: dict[str, int] = {}
        invalid = 0
        with open_regular_file(path, MAX_LIST_BYTES) as handle:
            lines = _text_lines(handle)
            rows = csv.reader(lines) if file_format == "csv" else ([line] for line in lines)
            for row in rows:
                text = row[0].strip() if row else ""
                if not text or text.startswith("#"):
                    continue
                try:
                    participant = ParticipantId.parse(text)
                except ValueError:
                    invalid += 1
                    continue
                ids.append(str(participant))
                smp = row[1].strip() if len(row) > 1 else ""
                expected.append(smps.setdefault(smp, len(smps)) + 1 if smp else 0)
        return cls(ids, expected, list(smps), invalid)


def _text_lines(handle: BinaryIO) -> Iterator[str]:
    """The file's lines as text, each checked: UTF-8, at most MAX_LINE_BYTES."""
    for number, line in enumerate(iter(lambda: handle.readline(MAX_LINE_BYTES + 1), b""), 1):
        if len(line) > MAX_LINE_BYTES:
            raise ValueError(f"line {number}: longer than {MAX_LINE_BYTES:,} bytes")
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"line {number}: not UTF-8 ({exc.reason})") from None


class SweepState:
    """Cursor, counters and the currently failing participants of one zone's sweep."""

    def __init__(
        self,
        *,
        zone: str,
        scheme: NamingScheme,
        servers: ZoneServers,
        file: str | None = None,
        file_format: Literal["lines", "csv"] = "lines",
        rate: float = 50.0,
        query_timeout: float = 2.0,
        cardinality_budget: int = 100,
        expect_smp: str | None = None,
        participants: ParticipantList | None = None,
        in_flight: int = _MAX_IN_FLIGHT,
        other_zones: tuple[OtherZone, ...] = (),
    ) -> None:
        self.zone = zone
        self.scheme = scheme
        self.servers = servers
        self.file = file
        self.file_format = file_format
        self.rate = rate
        self.query_timeout = query_timeout
        self.budget = cardinality_budget
        self.expect_smp = expect_smp
        self.participants = participants
        self.loading: asyncio.Future[ParticipantList] | None = None  # reading `file`
        self.in_flight = in_flight
        self.other_zones = other_zones
        self.cursor = 0
        self.passes = 0
        # `vigie probe sml --participants`: one pass over the list, then stop, and a
        # callback told (done, total) as lookups finish (a progress bar).
        self.one_pass = False
        self.progress: Callable[[int, int], None] | None = None
        self.checked: Counter[FailureReason] = Counter()
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.latency_sum = 0.0
        # index -> reason, in the order they started failing (dicts keep insertion order)
        self.failing: dict[int, FailureReason] = {}
        self.overflow = 0  # participants that started failing with the budget spent
        self._zone_wire = encode_name(zone)
        self._zone_text = zone.lower().encode("ascii")
        self._scheme_wire: dict[str, bytes] = {}

    # -- names ---------------------------------------------------------------------------

    def question(self, participant_id: str) -> tuple[bytes, bytes]:
        """(query name in wire form, lower-case dotted name) of a participant."""
        scheme, separator, value = participant_id.partition(_SEPARATOR)
        if not separator:
            scheme, value = "", participant_id
        scheme_wire = self._scheme_wire.get(scheme)
        if scheme_wire is None:
            scheme_wire = encode_name(scheme)[:-1] if scheme else b""
            self._scheme_wire[scheme] = scheme_wire
        if self.scheme is NamingScheme.NAPTR:
            wire = bdxl_qname(value, scheme_wire, self._zone_wire)
            label = wire[1:53]
        else:
            digest = hashlib.md5(value.lower().encode(), usedforsecurity=False).hexdigest()
            label = b"b-" + digest.encode()
            wire = b"\x22" + label + scheme_wire + self._zone_wire
        scheme_text = scheme.lower().encode() + b"." if scheme else b""
        return wire, label + b"." + scheme_text + self._zone_text

    # -- one batch -------------------------------------------------------------------------

    async def run_batch(self, env: ProbeEnv, seconds: float, limit: int | None = None) -> int:
        """Look up participants for about `seconds` at the rate (or `limit` of them, as fast
        as the server answers, when rate is 0); returns how many were looked up."""
        participants = self.participants
        if participants is None or not participants.ids:
            return 0
        servers = await self.servers.get(env, self.query_timeout)
        if servers.reason is not FailureReason.OK:
            raise _ZoneUnreachable(servers.reason, servers.detail)
        channels = [await UdpChannel.open(address) for _, address in servers.addresses]
        recursion = not servers.authoritative
        qtype = TYPE_NAPTR if self.scheme is NamingScheme.NAPTR else TYPE_A
        total = limit if limit is not None else max(1, int(self.rate * seconds))
        # Never more than one pass per batch: a short list is not hammered in a loop.
        total = min(total, len(participants.ids))
        interval = 1.0 / self.rate if self.rate > 0 else 0.0
        clock = time.perf_counter
        started = clock()
        deadline = started + seconds
        done = 0
        next_send = started

        async def worker() -> None:
            nonlocal done, next_send
            while done < total:
                # Reserve the slot before pacing: workers asleep must not overshoot total.
                done += 1
                if interval:
                    now = clock()
                    if now >= deadline:
                        done -= 1
                        return
                    due = next_send
                    next_send = max(next_send, now - 0.05) + interval
                    if due > now + 0.002:  # sleep in slices, not per query
                        await asyncio.sleep(due - now)
                index = self.cursor
                self.cursor += 1
                if self.cursor >= len(participants.ids):
                    self.cursor = 0
                    self.passes += 1
                await self._look_up(index, participants, channels, recursion, qtype, env)
                if self.progress is not None:
                    self.progress(sum(self.checked.values()), total)

        try:
            workers = max(1, min(self.in_flight, total))
            await asyncio.gather(*(worker() for _ in range(workers)))
        finally:
            for channel in channels:
                channel.close()
        return done

    async def _look_up(
        self,
        index: int,
        participants: ParticipantList,
        channels: list[UdpChannel],
        recursion: bool,
        qtype: int,
        env: ProbeEnv,
    ) -> None:
        participant_id = participants.ids[index]
        wanted = participants.expected[index]
        expected = participants.smps[wanted - 1] if wanted else self.expect_smp
        try:
            qname_wire, qname = self.question(participant_id)
        except ValueError as exc:
            self._record(index, Lookup(FailureReason.DNS_ERROR, str(exc)), 0.0)
            return
        query = build_query(qname_wire, qtype, recursion=recursion)
        started = time.perf_counter()
        lookup = Lookup(FailureReason.DNS_ERROR, "no server")
        # The first server, then the next one when it does not answer or answers with a
        # server fault: one failover.
        first = index % len(channels)
        for attempt in range(min(2, len(channels))):
            channel = channels[(first + attempt) % len(channels)]
            wire, reason, detail = await channel.ask(query, self.query_timeout)
            if wire is not None and wire[2] & 0x02:
                wire, reason, detail = await tcp_exchange(
                    wire[:2] + query[2:], channel.server, self.query_timeout
                )
                if wire is None:
                    reason = FailureReason.TRUNCATED_NO_TCP
            if wire is None:
                lookup = Lookup(reason, detail)
                continue
            message, lookup = parse_answer(wire, authoritative=not recursion)
            if lookup.reason in SERVER_FAULTS:
                continue  # as a resolver would: the next server may answer for the name
            if message is not None and lookup.reason is FailureReason.OK:
                lookup = self._evaluate(expected)(message, qname, self._zone_text)
            break
        if lookup.follow:
            where = ChainServers(self._zone_text, self.servers, self.other_zones)
            evaluate = self._evaluate(expected)
            lookup = await follow_chain(
                lookup, qname, qtype, where, evaluate, env, 2 * self.query_timeout
            )
        self._record(index, lookup, time.perf_counter() - started)

    def _evaluate(self, expected: str | None) -> Callable[[Message, bytes, bytes], Lookup]:
        if self.scheme is NamingScheme.NAPTR:
            return lambda message, name, _zone: evaluate_naptr(message, name, expected)
        return lambda message, name, zone: evaluate_classic(message, name, zone, expected)

    def _record(self, index: int, lookup: Lookup, seconds: float) -> None:
        reason = lookup.reason
        self.checked[reason] += 1
        self.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.latency_sum += seconds
        if reason is FailureReason.OK:
            self.failing.pop(index, None)
        elif index in self.failing:
            self.failing[index] = reason
        else:
            if len(self.failing) >= self.budget:
                self.overflow += 1
            self.failing[index] = reason

    # -- what a run reports ------------------------------------------------------------------

    def histogram(self) -> Histogram:
        return Histogram("lookup_duration_seconds", BUCKETS, tuple(self.buckets), self.latency_sum)

    def series(self) -> tuple[Series, ...]:
        out = [
            Series("lookups", {"reason": str(reason)}, float(count), counter=True)
            for reason, count in sorted(self.checked.items())
        ]
        out.append(Series("passes", {}, float(self.passes), counter=True))
        out.append(Series("participant_series_overflow", {}, float(self.overflow), counter=True))
        participants = self.participants
        if participants is not None:
            for index, reason in list(self.failing.items())[: self.budget]:
                labels = {"participant": participants.ids[index], "reason": str(reason)}
                out.append(Series("participant_failing", labels, 1.0))
        return tuple(out)

    def values(self) -> dict[str, float]:
        total = len(self.participants) if self.participants is not None else 0
        return {
            "participants": float(total),
            "invalid_lines": float(self.participants.invalid if self.participants else 0),
            "failing_participants": float(len(self.failing)),
            "failing_participants_without_series": float(max(0, len(self.failing) - self.budget)),
            "progress_ratio": self._progress(total),
        }

    def _progress(self, total: int) -> float:
        if not total:
            return 0.0
        if self.cursor == 0 and self.passes:
            return 1.0  # a pass just ended and the cursor is back at 0: complete, not none
        return self.cursor / total


class _ZoneUnreachable(Exception):
    def __init__(self, reason: FailureReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


async def probe_sweep(check: Check, env: ProbeEnv) -> ProbeResult:
    state: SweepState = check.params
    timer = PhaseTimer(env.monotonic)
    if state.participants is None and state.file is not None:
        if state.loading is None:
            # One reading at a time, whatever happens to this run: a run that times out
            # leaves the thread reading (it cannot be cancelled), and the next run waits
            # for the same reading instead of starting another one.
            state.loading = asyncio.ensure_future(
                asyncio.to_thread(ParticipantList.load, state.file, state.file_format)
            )
        try:
            state.participants = await asyncio.shield(state.loading)
        except (OSError, ValueError, csv.Error) as exc:
            state.loading = None  # the next run reads the file again
            return ProbeResult.failure(
                FailureReason.INTERNAL_ERROR, f"cannot read {state.file}: {exc}"
            )
        timer.lap("load")
    before = state.checked.copy()
    # Leave room for the last lookups' answers inside the check's own timeout.
    seconds = max(0.0, check.timeout * 0.9 - state.query_timeout)
    participants = state.participants
    limit = len(participants) - state.cursor if state.one_pass and participants else None
    try:
        done = await state.run_batch(env, seconds, limit)
    except _ZoneUnreachable as exc:
        return ProbeResult.failure(exc.reason, exc.detail, phases=timer.phases)
    except OSError as exc:
        return ProbeResult.failure(FailureReason.NETWORK_ERROR, exc.strerror or str(exc))
    timer.lap("batch")
    batch = state.checked - before
    values = state.values()
    values["batch_lookups"] = float(done)
    # Every lookup failing the same way is the zone's outage, not its participants'.
    failed = sum(batch.values()) - batch[FailureReason.OK]
    reason, detail = FailureReason.OK, f"{done} lookups, {failed} failed"
    if done and len(batch) == 1 and FailureReason.OK not in batch:
        reason = next(iter(batch))
        detail = f"every lookup of the batch ended {reason}"
    elif state.one_pass and failed:
        # A single pass is one verdict on the list: its most common failure.
        reason = max((r for r in batch if r is not FailureReason.OK), key=lambda r: batch[r])
    return ProbeResult(reason, detail, timer.phases, values, state.series(), (state.histogram(),))
