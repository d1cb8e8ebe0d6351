"""One slow receiver delays only itself: a webhook that answers one byte a second is cut
at its sink's deadline, while an e-mail sink beside it delivers each notification at
once, even from an SMTP server whose answer to QUIT never comes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.smtp import SMTP

from ticket_sink import Store
from ticket_sink.outbound import OutboxWorker, build_sinks, ticket_notifications
from ticket_sink.outbound.config import NotificationsConfig

from .outbox_data import add_ticket, enqueue, make_ticket
from .test_email import Mailbox, smtp_server

DEADLINE = 2.0
SLOW_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
PROMPTLY = 1.5


class SlowQuit(SMTP):
    """Accepts mail, then takes its time to answer QUIT."""

    async def smtp_QUIT(self, arg: str) -> None:  # aiosmtpd's name for the command
        await asyncio.sleep(30)
        await super().smtp_QUIT(arg)


def slow_quit(mailbox: Mailbox) -> SMTP:
    return SlowQuit(mailbox, hostname="mail.test")


@contextlib.asynccontextmanager
async def one_byte_a_second() -> AsyncIterator[str]:
    """An HTTP server that reads the request, then answers one byte a second."""
    handlers: set[asyncio.Task[Any]] = set()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await reader.readuntil(b"\r\n\r\n")
            for byte in SLOW_ANSWER:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(1.0)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)


async def within(seconds: float, done: Callable[[], Any]) -> float:
    """Seconds until `await done()` is true; fails after `seconds`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(seconds):
        while not await done():  # noqa: ASYNC110 (the store has no event to wait on)
            await asyncio.sleep(0.02)
    return loop.time() - started


async def test_a_slow_webhook_delays_neither_email_nor_later_notifications(
    tmp_path: Path,
) -> None:
    async with (
        one_byte_a_second() as slow_url,
        smtp_server(slow_quit) as mailbox,
        Store(f"sqlite:///{tmp_path / 'vigie.db'}") as store,
        httpx.AsyncClient() as client,
    ):
        config = NotificationsConfig.model_validate(
            {
                "poll_interval_seconds": 0.05,
                "retry": {"initial_seconds": 60, "jitter_seconds": 0},
                "sinks": {
                    "webhook": [{"name": "slow", "url": slow_url, "timeout_seconds": DEADLINE}],
                    "email": [
                        {
                            "name": "mail",
                            "host": "127.0.0.1",
                            "port": mailbox.port,
                            "security": "none",
                            "from_address": "vigie@example.org",
                            "to": ["desk@example.org"],
                            "timeout_seconds": DEADLINE,
                        }
                    ],
                },
            }
        )
        worker = OutboxWorker(store, config, build_sinks(config, client))
        running = asyncio.create_task(worker.run())
        ticket = await add_ticket(store, make_ticket())

        async def deliveries() -> dict[tuple[str, str], tuple[str, int, str | None]]:
            return {
                (record.id, delivery.sink): (delivery.state, delivery.attempts, delivery.last_error)
                for record in await ticket_notifications(store, ticket.id)
                for delivery in record.deliveries
            }

        def mailed(notification_id: str) -> Callable[[], Any]:
            async def done() -> bool:
                state = (await deliveries()).get((notification_id, "mail"))
                return state is not None and state[0] == "delivered"

            return done

        try:
            (first,) = await enqueue(store, ticket)
            first_mail = await within(5 * PROMPTLY, mailed(first))
            # The slow receiver is still answering the first one.
            (second,) = await enqueue(store, ticket)
            second_mail = await within(5 * PROMPTLY, mailed(second))

            async def webhook_cut() -> bool:
                return (await deliveries())[(first, "slow")][1:] == (
                    1,
                    f"no complete answer within {DEADLINE:g}s",
                )

            await within(DEADLINE + 3, webhook_cut)
            final = await deliveries()
        finally:
            worker.stop()
            await running

    assert first_mail < PROMPTLY
    assert second_mail < PROMPTLY
    # Each e-mail sent once and recorded delivered at its first attempt, QUIT unanswered.
    assert len(mailbox.messages) == 2
    assert final[(first, "mail")] == ("delivered", 1, None)
    assert final[(second, "mail")] == ("delivered", 1, None)
