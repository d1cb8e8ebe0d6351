"""E-mail over SMTP (aiosmtplib): a plain-text and an HTML body with the ticket's
essentials and a link to it, to the sink's addresses and the contacts of the ticket's
escalation level.

The Message-ID is derived from the notification id, so a repeat is recognisable as one.
It must never send over an unencrypted connection unless configured to (`security:
none`), and never put the SMTP password in a reason or a log.
"""

from __future__ import annotations

import email.utils
import ssl
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import ClassVar, Literal

import aiosmtplib
import httpx
from pydantic import Field, field_validator

from ticket_sink.outbound._base import Envelope, SinkConfig
from ticket_sink.outbound.retry import Outcome, Verdict, outcome_of_error
from vocab import Secret

__all__ = ["NOTIFICATION_ID_HEADER", "EmailSink", "EmailSinkConfig", "build_message"]

NOTIFICATION_ID_HEADER = "X-Vigie-Notification-Id"
_DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


# Thousands of PEM certificates; OpenSSL would read any size whole.
MAX_CA_FILE_BYTES = 8 * 1024 * 1024


class EmailSinkConfig(SinkConfig):
    kind: ClassVar[str] = "email"

    host: str = Field(description="SMTP server")
    port: int | None = Field(
        None, ge=1, le=65535, description="SMTP port; unset: 587, 465 with tls, 25 with none"
    )
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls",
        description="starttls: upgrade a plain connection (required); tls: TLS from the "
        "first byte; none: no encryption (a relay on the same host)",
    )
    ca_file: str | None = Field(
        None, description="PEM file of the CAs trusted for the server; unset: the system's"
    )
    username: str | None = Field(None, description="SMTP AUTH user; unset: no login")
    password: Secret | None = Field(None, description="SMTP AUTH password")
    from_address: str = Field(description="the From: address")
    to: list[str] = Field(
        default_factory=list,
        description="addresses that get every notification routed here (the escalation "
        "level's contacts are added)",
    )

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, path: str | None) -> str | None:
        if path is not None and not Path(path).is_file():
            # A FIFO would hang the TLS set-up, /dev/zero would never end.
            found = Path(path).exists()
            raise ValueError(f"{'not a regular file' if found else 'no such file'}: {path}")
        if path is not None and Path(path).stat().st_size > MAX_CA_FILE_BYTES:
            raise ValueError(f"{path}: larger than {MAX_CA_FILE_BYTES:,} bytes, not a CA file")
        return path

    @property
    def effective_port(self) -> int:
        return self.port or _DEFAULT_PORTS[self.security]

    def build(self, client: httpx.AsyncClient) -> EmailSink:
        return EmailSink(self)


def build_message(
    config: EmailSinkConfig, envelope: Envelope, subject: str, text: str, html: str
) -> EmailMessage:
    notification = envelope.notification
    message = EmailMessage()
    # A template could yield a line break, which would end the header early.
    message["Subject"] = " ".join(subject.split())
    message["From"] = config.from_address
    message["To"] = ", ".join(recipients(config, envelope))
    message["Date"] = email.utils.format_datetime(notification.at)
    message["Message-ID"] = f"<{notification.id}@vigie>"
    message[NOTIFICATION_ID_HEADER] = notification.id
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def recipients(config: EmailSinkConfig, envelope: Envelope) -> list[str]:
    return list(dict.fromkeys([*config.to, *envelope.contacts]))


def _outcome_of_smtp_error(error: aiosmtplib.SMTPException) -> Outcome:
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in error.recipients]
        reason = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
        verdict = Verdict.RETRY if any(400 <= code < 500 for code in codes) else Verdict.FAILED
        return Outcome(verdict, f"recipients refused: {reason}")
    if isinstance(error, aiosmtplib.SMTPResponseException):
        # SMTP's own split: 4xx is "try again later", 5xx is "this will not work".
        verdict = Verdict.RETRY if 400 <= error.code < 500 else Verdict.FAILED
        return Outcome(verdict, f"SMTP {error.code}: {' '.join(error.message.split())}")
    if isinstance(
        error,
        aiosmtplib.SMTPConnectError
        | aiosmtplib.SMTPTimeoutError
        | aiosmtplib.SMTPServerDisconnected,
    ):
        return outcome_of_error(error)  # the server may be back later
    # What the server cannot do (STARTTLS, AUTH) will not change by trying again.
    return Outcome(Verdict.FAILED, f"SMTP server: {error}")


class EmailSink:
    def __init__(self, config: EmailSinkConfig) -> None:
        self.name = config.name
        self.kind = config.kind
        self._config = config
        self._renderer = config.renderer()
        self._tls: ssl.SSLContext | None = None
        if config.security != "none":
            self._tls = ssl.create_default_context(cafile=config.ca_file)

    async def send(self, envelope: Envelope, now: datetime) -> Outcome:
        config = self._config
        to = recipients(config, envelope)
        if not to:
            return Outcome(Verdict.FAILED, "no recipients: set `to` or escalation contacts")
        context = envelope.context()
        message = build_message(
            config,
            envelope,
            self._renderer.render("subject", context),
            self._renderer.render("text", context),
            self._renderer.render("html", context),
        )
        client = aiosmtplib.SMTP(
            hostname=config.host,
            port=config.effective_port,
            username=config.username,
            password=None if config.password is None else config.password.get_secret_value(),
            use_tls=config.security == "tls",
            start_tls=config.security == "starttls",
            tls_context=self._tls,
            timeout=config.timeout_seconds,
        )
        try:
            await client.connect()
            await client.send_message(message, sender=config.from_address, recipients=to)
        except aiosmtplib.SMTPException as exc:
            return _outcome_of_smtp_error(exc)
        except OSError as exc:
            return outcome_of_error(exc)
        finally:
            # Once DATA is accepted the server has the message: QUIT is a courtesy whose
            # slow answer must never turn a delivered e-mail into a retry, sent twice.
            client.close()
        return Outcome(Verdict.DELIVERED)
