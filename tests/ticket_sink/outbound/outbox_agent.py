"""A stand-in agent for the crash test, run as its own process: optionally fills the
outbox with notifications, then drains it to one webhook until killed.

    python -m tests.ticket_sink.outbound.outbox_agent STORE_URL WEBHOOK_URL [--fill N]
"""

from __future__ import annotations

import argparse
import asyncio

from ticket_sink import Store
from ticket_sink.model import NotificationEvent
from ticket_sink.outbound import OutboxWorker, build_sinks, notification_client

from .outbox_data import add_ticket, enqueue, make_ticket, webhooks

TICKETS = 10


async def main(store_url: str, webhook_url: str, fill: int) -> None:
    settings = webhooks(
        webhook_url,
        batch_size=50,
        poll_interval_seconds=0.05,
        claim_seconds=3,
        retry={"initial_seconds": 0.2, "max_seconds": 1, "jitter_seconds": 0.1},
    )
    async with Store(store_url) as store:
        for _ in range(TICKETS if fill else 0):
            ticket = await add_ticket(store, make_ticket())
            await enqueue(store, ticket, NotificationEvent.REMINDER, count=fill // TICKETS)
        print("ready", flush=True)
        async with notification_client() as client:
            sinks = build_sinks(settings, client)
            await OutboxWorker(store, settings, sinks).run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("store_url")
    parser.add_argument("webhook_url")
    parser.add_argument("--fill", type=int, default=0)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.store_url, arguments.webhook_url, arguments.fill))
