"""The outbox worker against a real store (SQLite, and PostgreSQL when installed) and
local receivers: one delivery per sink, group waits, children dropped, retries and
permanent failures recorded on the ticket, quiet hours and silences that hold and then
release, two agents on one database, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from tests.support import SteppedClock
from ticket_sink import Store
from ticket_sink.agents import heartbeat, mark_stopped, register_agent
from ticket_sink.model import NotificationEvent
from ticket_sink.outbound import (
    OutboxWorker,
    build_sinks,
    create_silence,
    expire_silence,
    list_silences,
    parse_matcher,
    ticket_notifications,
)
from ticket_sink.outbound.config import NotificationsConfig
from ticket_sink.outbound.outbox import claim_due

from .outbox_data import add_ticket, enqueue, make_ticket, webhooks
from .receivers import receiver


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as opened:
        yield opened


def worker(store: Store, config: NotificationsConfig, client: httpx.AsyncClient) -> OutboxWorker:
    return OutboxWorker(store, config, build_sinks(config, client))


async def states(store: Store, ticket_id: str) -> list[tuple[str, str, str, int]]:
    return [
        (record.event, delivery.sink, delivery.state, delivery.attempts)
        for record in await ticket_notifications(store, ticket_id)
        for delivery in record.deliveries
    ]


async def test_one_delivery_per_sink_recorded_on_the_ticket(
    store: Store, client: httpx.AsyncClient
) -> None:
    ticket = await add_ticket(store, make_ticket())
    (notification_id,) = await enqueue(store, ticket)
    async with receiver() as a, receiver() as b:
        drain = worker(store, webhooks(a.url, b.url), client)
        assert await drain.run_once() == 2
        assert await drain.run_once() == 0
    assert [r.json()["id"] for r in a.requests] == [notification_id]
    assert [r.json()["id"] for r in b.requests] == [notification_id]
    assert await states(store, ticket.id) == [
        ("created", "a", "delivered", 1),
        ("created", "b", "delivered", 1),
    ]
    registry = CollectorRegistry()
    registry.register(drain.metrics)
    text = generate_latest(registry).decode()
    assert 'vigie_notifications_total{outcome="delivered",sink="a"} 1.0' in text
    assert 'vigie_outbox_pending{state="pending"} 0.0' in text


async def test_a_new_master_waits_for_its_group_and_counts_it(
    store: Store, clock: SteppedClock, client: httpx.AsyncClient
) -> None:
    master = await add_ticket(store, make_ticket())
    await enqueue(store, master, due_in=30)
    async with receiver() as a:
        drain = worker(store, webhooks(a.url), client)
        await drain.run_once()
        assert a.requests == []
        for _ in range(3):  # the group gathers while the notification waits
            await add_ticket(store, make_ticket(master_id=master.id))
        clock.advance(seconds=30)
        await drain.run_once()
    (request,) = a.requests
    assert request.json()["children"] == 3


async def test_a_master_moved_under_another_while_waiting_notifies_nobody(
    store: Store, clock: SteppedClock, client: httpx.AsyncClient
) -> None:
    first = await add_ticket(store, make_ticket())
    await enqueue(store, first, due_in=30)
    parent = await add_ticket(store, make_ticket())
    async with store.transaction() as tx:
        stored = await tx.get(first.id)
        assert stored is not None
        await tx.link([stored], parent.id, caused_by="ns", actor="test")
    clock.advance(seconds=30)
    async with receiver() as a:
        await worker(store, webhooks(a.url), client).run_once()
    assert a.requests == []
    (record,) = await ticket_notifications(store, first.id)
    assert record.routed_at is not None
    assert record.deliveries == ()


async def test_retries_with_backoff_then_delivers(
    store: Store, clock: SteppedClock, client: httpx.AsyncClient
) -> None:
    answers = [503, 429, 200]

    async def flaky(request: web.Request, body: bytes) -> web.Response:
        status = answers.pop(0)
        headers = {"Retry-After": "5"} if status == 429 else {}
        return web.Response(status=status, text="busy" if status != 200 else "", headers=headers)

    ticket = await add_ticket(store, make_ticket())
    await enqueue(store, ticket)
    async with receiver(flaky) as a:
        drain = worker(store, webhooks(a.url), client)
        await drain.run_once()
        (record,) = await ticket_notifications(store, ticket.id)
        (delivery,) = record.deliveries
        assert (delivery.state, delivery.attempts, delivery.last_error) == (
            "pending",
            1,
            "HTTP 503: busy",
        )
        assert delivery.next_attempt_at == clock.now + timedelta(seconds=1)
        clock.advance(seconds=1)
        await drain.run_once()
        (delivery,) = (await ticket_notifications(store, ticket.id))[0].deliveries
        assert delivery.next_attempt_at == clock.now + timedelta(seconds=5)  # Retry-After
        clock.advance(seconds=4)
        assert await drain.run_once() == 0  # not yet
        clock.advance(seconds=1)
        await drain.run_once()
    assert await states(store, ticket.id) == [("created", "a", "delivered", 3)]
    assert len(a.ids) == 1
    assert sum(a.ids.values()) == 3
    assert drain.metrics.value("a", "retried") == 2


async def test_a_permanent_failure_is_recorded_with_its_reason(
    store: Store, client: httpx.AsyncClient
) -> None:
    async def gone(request: web.Request, body: bytes) -> web.Response:
        return web.Response(status=404, text="no such hook")

    ticket = await add_ticket(store, make_ticket())
    await enqueue(store, ticket)
    async with receiver(gone) as a:
        drain = worker(store, webhooks(a.url), client)
        await drain.run_once()
    (delivery,) = (await ticket_notifications(store, ticket.id))[0].deliveries
    assert (delivery.state, delivery.last_error) == ("failed", "HTTP 404: no such hook")
    assert drain.metrics.value("a", "failed") == 1


async def test_quiet_hours_hold_and_then_release(
    store: Store, clock: SteppedClock, client: httpx.AsyncClient
) -> None:
    ticket = await add_ticket(store, make_ticket())
    async with receiver() as a:
        config = webhooks(
            a.url,
            quiet_hours={
                "lunch": {
                    "time_zone": "Europe/Brussels",
                    "windows": [{"start": "12:30", "end": "14:00"}],
                }
            },
            routes=[{"sinks": ["a"], "quiet_hours": "lunch"}],
        )
        ids = await enqueue(store, ticket, NotificationEvent.REMINDER, count=5)
        drain = worker(store, config, client)
        await drain.run_once()  # 13:00 in Brussels: quiet
        assert a.requests == []
        (record, *_) = await ticket_notifications(store, ticket.id)
        (delivery,) = record.deliveries
        assert (delivery.state, delivery.next_attempt_at) == (
            "held",
            clock.now + timedelta(hours=1),
        )
        clock.advance(minutes=59)
        await drain.run_once()
        assert a.requests == []
        clock.advance(minutes=1)
        await drain.run_once()
    assert sorted(a.ids) == sorted(ids)
    assert {state for *_, state, _ in await states(store, ticket.id)} == {"delivered"}


async def test_silences_hold_until_they_end_or_expire(
    store: Store, clock: SteppedClock, client: httpx.AsyncClient
) -> None:
    sml = await add_ticket(store, make_ticket())
    smp = await add_ticket(store, make_ticket(service="smp"))
    silence = await create_silence(
        store,
        [parse_matcher('service="sml"')],
        ends_at=clock.now + timedelta(hours=2),
        created_by="alice",
        comment="name server maintenance",
    )
    assert [s.id for s in await list_silences(store)] == [silence.id]
    async with receiver() as a:
        drain = worker(store, webhooks(a.url), client)
        held = await enqueue(store, sml)
        sent = await enqueue(store, smp)
        await drain.run_once()
        assert list(a.ids) == sent
        clock.advance(minutes=30)
        expired = await expire_silence(store, silence.id)
        assert expired is not None
        assert expired.ends_at == clock.now
        assert await list_silences(store) == []
        await drain.run_once()
    assert list(a.ids) == sent + held


async def test_a_silence_needs_a_matcher_and_an_end_after_its_start(
    store: Store, clock: SteppedClock
) -> None:
    with pytest.raises(ValueError, match="at least one matcher"):
        await create_silence(store, [], ends_at=clock.now + timedelta(hours=1), created_by="a")
    with pytest.raises(ValueError, match="must end after it starts"):
        await create_silence(store, [parse_matcher("a=b")], ends_at=clock.now, created_by="a")
    assert await expire_silence(store, "no-such-silence") is None


async def test_two_agents_on_one_database_send_each_notification_once(
    url: str, clock: SteppedClock, client: httpx.AsyncClient
) -> None:
    async def slow(request: web.Request, body: bytes) -> web.Response:
        await asyncio.sleep(0.01)
        return web.Response(status=200)

    async with Store(url, clock=clock) as one, Store(url, clock=clock) as two:
        ticket = await add_ticket(one, make_ticket())
        ids = await enqueue(one, ticket, NotificationEvent.REMINDER, count=200)
        async with receiver(slow) as a:
            config = webhooks(a.url, batch_size=20)
            first, second = worker(one, config, client), worker(two, config, client)
            counts = await asyncio.gather(first.run_once(), second.run_once())
            await first.run_once()
    assert sum(counts) == 200
    assert sorted(a.ids) == sorted(ids)
    assert set(a.ids.values()) == {1}


async def test_without_sinks_notifications_are_only_marked_routed(
    store: Store, client: httpx.AsyncClient
) -> None:
    ticket = await add_ticket(store, make_ticket())
    await enqueue(store, ticket)
    await worker(store, NotificationsConfig(), client).run_once()
    (record,) = await ticket_notifications(store, ticket.id)
    assert record.routed_at is not None
    assert record.deliveries == ()


async def test_an_agent_killed_mid_send_leaves_the_delivery_to_be_sent_again(
    store: Store, clock: SteppedClock, client: httpx.AsyncClient
) -> None:
    ticket = await add_ticket(store, make_ticket())
    (notification_id,) = await enqueue(store, ticket)
    config = webhooks("http://127.0.0.1:9/", claim_seconds=60)
    drain = worker(store, config, client)
    await drain.route_once()
    async with store.transaction() as tx:  # claimed, then the agent died before recording
        assert len(await claim_due(tx, config, ["a"], limit=10)) == 1
    async with receiver() as a:
        again = worker(store, webhooks(a.url, claim_seconds=60), client)
        assert await again.run_once() == 0  # still claimed by the dead agent
        clock.advance(seconds=60)
        assert await again.run_once() == 1
    assert list(a.ids) == [notification_id]
    assert await states(store, ticket.id) == [("created", "a", "delivered", 2)]


@pytest.mark.parametrize(
    ("fate", "taken_over"),
    [
        pytest.param("stopped", True, id="stopped-agent-claims-taken-at-once"),
        pytest.param("silent", True, id="silent-agent-claims-taken-before-the-lease-ends"),
        pytest.param("alive", False, id="live-agent-claims-kept"),
    ],
)
async def test_the_claims_of_an_agent_known_dead_are_taken_over_early(
    store: Store, clock: SteppedClock, client: httpx.AsyncClient, fate: str, taken_over: bool
) -> None:
    ticket = await add_ticket(store, make_ticket())
    (notification_id,) = await enqueue(store, ticket)
    config = webhooks("http://127.0.0.1:9/", claim_seconds=300, dead_agent_seconds=60)
    await register_agent(store, "first", "host-a", "0/1", "test")
    await worker(store, config, client).route_once()
    async with store.transaction() as tx:  # claimed, then the agent died before recording
        assert len(await claim_due(tx, config, ["a"], limit=10, agent_id="first")) == 1
    if fate == "stopped":
        await mark_stopped(store, "first")
    else:
        clock.advance(seconds=61)
        if fate == "alive":
            await heartbeat(store, "first")
    async with receiver() as a:
        second = worker(store, webhooks(a.url, claim_seconds=300, dead_agent_seconds=60), client)
        assert await second.run_once() == (1 if taken_over else 0)
    assert list(a.ids) == ([notification_id] if taken_over else [])
