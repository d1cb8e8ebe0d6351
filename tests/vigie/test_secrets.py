"""No secret reaches a log line or a response body. One scenario uses every kind the
configuration holds: API tokens (good, presented with a stray carriage return, wrong), a
chat webhook URL, an SMTP password (a login over TLS), a PostgreSQL URL with a password.
The agent runs as `vigie run` does (the same server, the same logging at debug level),
and every line it logged and every body it answered is searched for each secret."""

from __future__ import annotations

import asyncio
import io
import ssl
from pathlib import Path

import httpx
import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from tests.ticket_sink.conftest import PostgresCluster, create_postgres_database
from tests.ticket_sink.outbound.receivers import receiver
from tests.ticket_sink.outbound.test_email import Mailbox, pki, smtp_server
from tests.vigie.test_logs import restored_logging
from ticket_sink.api import hash_token
from vigie.app import create_app
from vigie.config import VigieConfig
from vigie.logs import configure_logging
from vigie.serve import serve

__all__ = ["pki", "restored_logging"]  # fixtures used by name

RESPONDER_TOKEN = "responder-TOKEN-9f3a1c77e2"
INGEST_TOKEN = "ingest-TOKEN-41bd0e5a90"
CHAT_PATH = "hooks/CHATPATH-b81f2e6d"
SMTP_PASSWORD = "smtp-PASSWORD-7c2d9e"
DB_PASSWORD = "db-PASSWORD-5e8a03"
DEADLINE = 15.0


def smtp_login(
    server: object, session: object, envelope: object, mechanism: str, auth_data: object
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == SMTP_PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


def smtp_with_login(mailbox: Mailbox) -> SMTP:
    # Implicit TLS: aiosmtpd offers AUTH without requiring it (see test_email); the login
    # is checked all the same, so the password really crosses the wire.
    return SMTP(
        mailbox,
        hostname="mail.test",
        authenticator=smtp_login,
        auth_require_tls=False,
        auth_exclude_mechanism=["LOGIN"],
    )


async def raw_request(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read()
    finally:
        writer.close()


@pytest.mark.usefixtures("restored_logging")
async def test_no_secret_in_any_log_line_or_response_body(
    tmp_path: Path,
    postgres_cluster: PostgresCluster,
    pki: tuple[ssl.SSLContext, Path],
) -> None:
    context, ca_file = pki
    database_url = (await create_postgres_database(postgres_cluster)).replace(
        "postgresql://vigie@", f"postgresql://vigie:{DB_PASSWORD}@"
    )
    log = io.StringIO()
    bodies: list[str] = []
    async with (
        receiver() as chat,
        smtp_server(smtp_with_login, tls=context) as mailbox,
    ):
        chat_url = f"{chat.url.rstrip('/')}/{CHAT_PATH}"
        config = VigieConfig.model_validate(
            {
                "log": {"level": "debug", "format": "json"},
                "store": {"url": database_url},
                "correlator": {"group_wait": "0s"},
                "api": {
                    "tokens": [
                        {"name": "desk", "role": "responder", "hash": hash_token(RESPONDER_TOKEN)},
                        {"name": "am", "role": "ingest", "hash": hash_token(INGEST_TOKEN)},
                    ]
                },
                "notifications": {
                    "poll_interval_seconds": 0.1,
                    "sinks": {
                        "chat": [{"name": "room", "format": "slack", "url": chat_url}],
                        "email": [
                            {
                                "name": "mail",
                                "host": "127.0.0.1",
                                "port": mailbox.port,
                                "security": "tls",
                                "ca_file": str(ca_file),
                                "username": "vigie",
                                "password": SMTP_PASSWORD,
                                "from_address": "vigie@example.org",
                                "to": ["desk@example.org"],
                            }
                        ],
                    },
                },
            }
        )
        configure_logging(
            config.log.level,
            config.log.format,
            log,
            loggers=config.log.loggers,
            cache_loggers=False,
        )
        started: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        async def on_start(url: str) -> None:
            started.set_result(url)

        stop = asyncio.Event()
        agent = asyncio.create_task(
            serve(create_app(config), "127.0.0.1", started=on_start, stop=stop)
        )
        try:
            url = await asyncio.wait_for(started, DEADLINE)
            port = int(url.rsplit(":", 1)[1])
            responder = {"Authorization": f"Bearer {RESPONDER_TOKEN}"}
            async with httpx.AsyncClient(base_url=url, timeout=5) as client:
                alert = {"alerts": [{"labels": {"alertname": "SmpDown", "target": "smp1"}}]}
                posted = await client.post(
                    "/api/v1/alerts",
                    json=alert,
                    headers={"Authorization": f"Bearer {INGEST_TOKEN}"},
                )
                bodies.append(posted.text)
                assert posted.status_code == 200, posted.text
                try:
                    async with asyncio.timeout(DEADLINE):
                        while not (chat.requests and mailbox.messages):  # noqa: ASYNC110 - receivers record, no event per pair
                            await asyncio.sleep(0.05)
                except TimeoutError:
                    pytest.fail(f"no notification reached both sinks:\n{log.getvalue()[-4000:]}")
                for path in ("/api/v1/tickets", "/readyz", "/metrics", "/api/v1/openapi.json"):
                    bodies.append((await client.get(path, headers=responder)).text)
                tickets = (await client.get("/api/v1/tickets", headers=responder)).json()
                ticket_id = tickets["items"][0]["id"]
                for path in (
                    f"/api/v1/tickets/{ticket_id}",
                    f"/api/v1/tickets/{ticket_id}/notifications",
                ):
                    bodies.append((await client.get(path, headers=responder)).text)
                wrong = {"Authorization": f"Bearer {RESPONDER_TOKEN}x"}
                bodies.append((await client.get("/api/v1/tickets", headers=wrong)).text)
            for bad_header in (
                f"Authorization: Bearer {RESPONDER_TOKEN}\r\r\n",
                f"Authorization: Bearer {RESPONDER_TOKEN}\x00\r\n",
                f"Authorization: Bearer\r\n {RESPONDER_TOKEN}\r\n",
            ):
                request = f"GET /api/v1/tickets HTTP/1.1\r\nHost: agent\r\n{bad_header}\r\n"
                bodies.append((await raw_request(port, request.encode())).decode(errors="replace"))
        finally:
            stop.set()
            await asyncio.wait_for(agent, DEADLINE)

    written = log.getvalue()
    assert "notification_attempt" in written  # the scenario reached the sinks
    assert [message["To"] for _, _, message in mailbox.messages] == ["desk@example.org"]
    assert [body.split("\r\n")[0] for body in bodies[-3:]] == ["HTTP/1.0 400 Bad Request"] * 3
    secrets = {
        "responder token": RESPONDER_TOKEN,
        "ingest token": INGEST_TOKEN,
        "chat webhook URL": chat_url,
        "chat webhook path": CHAT_PATH,
        "SMTP password": SMTP_PASSWORD,
        "database URL": database_url,
        "database password": DB_PASSWORD,
    }
    for what, secret in secrets.items():
        assert secret not in written, f"the {what} is in the log"
        for body in bodies:
            assert secret not in body, f"the {what} is in a response body: {body[:300]}"
