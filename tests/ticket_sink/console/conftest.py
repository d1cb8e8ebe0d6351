"""A console beside the API on a real SQLite store, one token per role, and helpers to
sign in, read a page's CSRF token and check that a page is valid HTML."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import html5lib
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.ticket_sink.api.conftest import TOKENS, RecordingIngest, api_app, api_settings
from ticket_sink import Store
from ticket_sink.api import Role
from ticket_sink.console import CheckRow, ConsoleSettings, ProxyAuth, setup_console

__all__ = ["TOKENS", "csrf_of", "sign_in", "valid_html"]

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')

CHECKS = [
    CheckRow("dns_soa", "sml", "ns1 127.0.0.1:5353", False, "timeout", "no answer in 5 s", 1.7e9),
    CheckRow(
        "http", "smp", "https://smp1/monitor/is-alive", True, "ok", "200", 1.7e9, {"status": 200}
    ),
    CheckRow("crl", "pki", "intermediate", None, "", "", None),
]


def console_app(store: Store, **overrides: Any) -> web.Application:
    settings = api_settings(store, RecordingIngest())
    app = api_app(store, settings)
    options: dict[str, Any] = {
        "api": settings,
        "session_key": b"k" * 32,
        "checks": lambda: CHECKS,
        "proxy": ProxyAuth("X-WEBAUTH-USER", []),
        **overrides,
    }
    setup_console(app, ConsoleSettings(**options))
    return app


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    store = Store(f"sqlite:///{tmp_path / 'vigie.db'}")
    async with TestClient(TestServer(console_app(store), host="127.0.0.1", port=0)) as client:
        yield client


async def sign_in(client: TestClient[Any, Any], role: Role) -> str:
    """Sign `client` in with `role`'s token; the CSRF token of its session."""
    response = await client.post("/console/login", data={"token": TOKENS[role]})
    assert response.status == 200, await response.text()
    return csrf_of(await response.text())


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def valid_html(page: str) -> Any:
    """The parsed page; fails on any HTML5 parse error (html5lib's strict mode)."""
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    return parser.parse(page)
