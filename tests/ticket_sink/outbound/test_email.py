"""E-mail against a real SMTP server (aiosmtpd) on 127.0.0.1: plain text and HTML bodies
with the ticket and its link, STARTTLS and TLS with a login, the escalation contacts as
recipients, and SMTP's own answers turned into retry or failure."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ticket_sink.model import NotificationEvent
from ticket_sink.outbound._base import Envelope
from ticket_sink.outbound.email import EmailSinkConfig
from ticket_sink.outbound.retry import Verdict
from ticket_sink.outbound.templates import sample_notification

NOW = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
LINK = "https://vigie.example/api/v1/tickets/T0EXAMPLE00"


@dataclass
class Mailbox:
    port: int = 0
    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    rcpt_answer: str = "250 OK"
    data_answer: str = "250 OK"

    async def handle_RCPT(
        self, server: Any, smtp_state: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.rcpt_answer.startswith("250"):
            envelope.rcpt_tos.append(address)
        return self.rcpt_answer

    async def handle_DATA(self, server: Any, smtp_state: Any, envelope: Any) -> str:
        if self.data_answer.startswith("250"):
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return self.data_answer


def authenticator(
    server: Any, smtp_state: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    def text(value: str | bytes) -> str:
        return value.decode() if isinstance(value, bytes) else value

    ok = isinstance(auth_data, LoginPassword) and (
        text(auth_data.login),
        text(auth_data.password),
    ) == ("vigie", "pw")
    # handled=False: aiosmtpd answers 535 itself.
    return AuthResult(success=ok, handled=False)


@asynccontextmanager
async def smtp_server(
    make: Callable[[Mailbox], SMTP], *, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Mailbox]:
    mailbox = Mailbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: make(mailbox), "127.0.0.1", 0, ssl=tls)
    mailbox.port = server.sockets[0].getsockname()[1]
    try:
        yield mailbox
    finally:
        server.close()
        await server.wait_closed()


def plain(mailbox: Mailbox) -> SMTP:
    return SMTP(mailbox, hostname="mail.test")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    """A server context for 127.0.0.1 with a self-signed certificate, and that
    certificate as the CA file the client trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("smtp")
    ca_file = directory / "cert.pem"
    ca_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file = directory / "key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ca_file, key_file)
    return context, ca_file


def envelope(event: NotificationEvent = NotificationEvent.CREATED) -> Envelope:
    return Envelope(sample_notification(event), LINK, ("desk@example.org",))


def sink(mailbox: Mailbox, **fields: Any) -> EmailSinkConfig:
    settings = {
        "name": "mail",
        "host": "127.0.0.1",
        "port": mailbox.port,
        "security": "none",
        "from_address": "vigie@example.org",
        "to": ["oncall@example.org"],
        **fields,
    }
    return EmailSinkConfig.model_validate(settings)


async def test_plain_text_and_html_with_the_ticket_and_its_link() -> None:
    async with smtp_server(plain) as mailbox:
        outcome = await sink(mailbox).build(None).send(envelope(), NOW)  # type: ignore[arg-type]
    assert outcome.verdict is Verdict.DELIVERED, outcome.reason
    ((sender, recipients, message),) = mailbox.messages
    assert sender == "vigie@example.org"
    assert recipients == ["oncall@example.org", "desk@example.org"]
    assert message["Subject"].strip().startswith("[vigie S2] New incident: sml: name server")
    assert message["Message-ID"] == "<00000000-0000-0000-0000-000000000000@vigie>"
    assert message["X-Vigie-Notification-Id"] == "00000000-0000-0000-0000-000000000000"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for body in (text, html):
        assert "T0EXAMPLE00" in body
        assert LINK in body
        assert "ns1.example.org" in body


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_encrypted_with_a_login(security: str, pki: tuple[ssl.SSLContext, Path]) -> None:
    context, ca_file = pki

    def make(mailbox: Mailbox) -> SMTP:
        return SMTP(
            mailbox,
            hostname="mail.test",
            tls_context=context if security == "starttls" else None,
            require_starttls=security == "starttls",
            authenticator=authenticator,
            # aiosmtpd cannot tell that a connection began with TLS (it only counts
            # STARTTLS), and warns when AUTH is required without it: so with implicit TLS it
            # offers AUTH without requiring it, and the login is still checked.
            auth_required=security == "starttls",
            auth_require_tls=security == "starttls",
            # PLAIN only, so a wrong password gets its 535 at once.
            auth_exclude_mechanism=["LOGIN"],
        )

    async with smtp_server(make, tls=context if security == "tls" else None) as mailbox:
        config = sink(
            mailbox, security=security, ca_file=str(ca_file), username="vigie", password="pw"
        )
        outcome = await config.build(None).send(envelope(), NOW)  # type: ignore[arg-type]
        wrong = sink(
            mailbox, security=security, ca_file=str(ca_file), username="vigie", password="no"
        )
        refused = await wrong.build(None).send(envelope(), NOW)  # type: ignore[arg-type]
    assert outcome.verdict is Verdict.DELIVERED, outcome.reason
    assert len(mailbox.messages) == 1
    assert refused.verdict is Verdict.FAILED
    assert refused.reason.startswith("SMTP 535")
    assert "no" not in refused.reason.split()


async def test_starttls_is_required_unless_security_is_none() -> None:
    async with smtp_server(plain) as mailbox:
        outcome = await sink(mailbox, security="starttls").build(None).send(envelope(), NOW)  # type: ignore[arg-type]
    assert outcome.verdict is Verdict.FAILED
    assert mailbox.messages == []


@pytest.mark.parametrize(
    ("rcpt", "data", "verdict"),
    [
        ("451 4.3.0 try later", "250 OK", Verdict.RETRY),
        ("550 5.1.1 no such user", "250 OK", Verdict.FAILED),
        ("250 OK", "452 4.3.1 out of storage", Verdict.RETRY),
        ("250 OK", "554 5.7.1 rejected as spam", Verdict.FAILED),
    ],
    ids=["rcpt-4xx", "rcpt-5xx", "data-4xx", "data-5xx"],
)
async def test_smtp_answers_are_retried_or_failed(rcpt: str, data: str, verdict: Verdict) -> None:
    async with smtp_server(plain) as mailbox:
        mailbox.rcpt_answer, mailbox.data_answer = rcpt, data
        outcome = await sink(mailbox).build(None).send(envelope(), NOW)  # type: ignore[arg-type]
    assert outcome.verdict is verdict
    assert (rcpt if verdict and not rcpt.startswith("250") else data)[4:] in outcome.reason


async def test_a_server_that_is_down_is_retried() -> None:
    async with smtp_server(plain) as mailbox:
        port = mailbox.port
    config = sink(Mailbox(port=port))
    outcome = await config.build(None).send(envelope(), NOW)  # type: ignore[arg-type]
    assert outcome.verdict is Verdict.RETRY


async def test_no_recipient_is_a_permanent_failure() -> None:
    config = sink(Mailbox(port=25), to=[])
    outcome = await config.build(None).send(  # type: ignore[arg-type]
        Envelope(sample_notification(NotificationEvent.CREATED)), NOW
    )
    assert outcome.verdict is Verdict.FAILED
    assert outcome.reason.startswith("no recipients")
