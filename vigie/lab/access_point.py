"""The lab's Access Point: an HTTPS server on 127.0.0.1 with an Oxalis-style status page.

It gives the probes an endpoint to reach at the URL the lab SMP publishes: `GET /status`
(Oxalis style), `GET /`, and `POST /as4`, which takes any body up to a size cap and
answers a small SOAP-shaped receipt. It is NOT an AS4 implementation: it never parses,
verifies, decrypts or delivers a message, and must never be mistaken for one. Faults are
consulted on every request under the Access Point's name (see `vigie.lab.endpoint`).
"""

from __future__ import annotations

import datetime
import uuid
from xml.sax.saxutils import escape

from aiohttp import web

from vigie.lab.endpoint import DEFAULT_MAX_BODY_BYTES, LabHttpsServer

__all__ = ["DEFAULT_MAX_BODY_BYTES", "LabAccessPoint"]

_RECEIPT = """<?xml version="1.0" encoding="UTF-8"?>
<S12:Envelope xmlns:S12="http://www.w3.org/2003/05/soap-envelope"
    xmlns:eb="http://docs.oasis-open.org/ebxml-msg/ebms/v3.0/ns/core/200704/">
  <S12:Header>
    <eb:Messaging>
      <eb:SignalMessage>
        <eb:MessageInfo>
          <eb:Timestamp>{timestamp}</eb:Timestamp>
          <eb:MessageId>{message_id}</eb:MessageId>
        </eb:MessageInfo>
        <eb:Receipt>received {size} bytes by {name} (vigie lab, not AS4)</eb:Receipt>
      </eb:SignalMessage>
    </eb:Messaging>
  </S12:Header>
  <S12:Body/>
</S12:Envelope>
"""


class LabAccessPoint(LabHttpsServer):
    """An Access Point stand-in; bodies larger than `max_body_bytes` get 413 (aiohttp's
    `client_max_size`)."""

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/", self._home)
        router.add_get("/status", self._status)
        router.add_post("/as4", self._receive)

    async def _home(self, request: web.Request) -> web.Response:
        return web.Response(text=f"vigie lab Access Point {self.name}\n")

    async def _status(self, request: web.Request) -> web.Response:
        lines = {
            "version": "vigie-lab",
            "mode": "lab",
            "name": self.name,
            "created": self.created_at.isoformat(timespec="seconds"),
            "status": "ok",
        }
        return web.Response(text="".join(f"{key}: {value}\n" for key, value in lines.items()))

    async def _receive(self, request: web.Request) -> web.Response:
        # read() enforces client_max_size (max_body_bytes) and raises 413 beyond it.
        body = await request.read()
        receipt = _RECEIPT.format(
            timestamp=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            message_id=f"{uuid.uuid4()}@vigie.lab",
            size=len(body),
            name=escape(self.name),
        )
        return web.Response(text=receipt, content_type="application/soap+xml", charset="utf-8")
