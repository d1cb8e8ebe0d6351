"""Rendering the console: the Jinja2 templates (autoescaped), the script and the style
sheet it ships, and the headers every console response carries (CSP and friends). Every
expression a template shows passes `_html_text`, so that no page holds a code point HTML
forbids, whatever a client sent.

The assets are read once at start-up and served with a content hash in their URL, so a
browser caches them until they change. This module must never render a template without
autoescaping, and never allow an inline script: the policy says `script-src 'self'`.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from importlib import resources
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup

from ticket_sink.codec import iso

__all__ = ["ASSETS", "CONTENT_SECURITY_POLICY", "Renderer"]

ASSETS = {"console.js": "text/javascript", "console.css": "text/css", "icon.svg": "image/svg+xml"}
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


# Code points an HTML document may not hold (controls, noncharacters, lone surrogates).
# A client may send any of them, in a filter, a form field or a path, and a page that
# echoes one is no longer valid HTML; each becomes U+FFFD where a page shows it.
_NOT_IN_HTML = re.compile(
    "[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
    + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17))
    + "]"
)


def _html_text(value: Any) -> Any:
    """`value` as an expression of a template shows it: text without what HTML forbids
    (markup stays markup)."""
    if not isinstance(value, str) or _NOT_IN_HTML.search(value) is None:
        return value
    cleaned = _NOT_IN_HTML.sub("\ufffd", value)
    if isinstance(value, Markup):
        return Markup(cleaned)  # noqa: S704 - markup already, only code points replaced
    return cleaned


def _local_time(value: datetime | float | None) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float):
        from datetime import UTC

        value = datetime.fromtimestamp(value, UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


class Renderer:
    def __init__(self) -> None:
        package = resources.files("ticket_sink.console")
        self._assets: dict[str, tuple[bytes, str]] = {}
        self.asset_urls: dict[str, str] = {}
        for name in ASSETS:
            body = (package / "static" / name).read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:16]
            self._assets[name] = (body, digest)
            self.asset_urls[name] = f"/console/static/{name}?v={digest}"
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("ticket_sink.console", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=_html_text,
        )
        from ticket_sink.console.present import FILTERS

        self._env.filters.update(FILTERS)
        self._env.filters["when"] = _local_time
        self._env.filters["isotime"] = lambda value: "" if value is None else iso(value)
        self._env.globals["assets"] = self.asset_urls
        self.globals = self._env.globals

    def page(self, template: str, **context: Any) -> str:
        return self._env.get_template(template).render(**context)

    @staticmethod
    def secure(response: web.StreamResponse) -> None:
        response.headers.update(_HEADERS)
        response.headers.setdefault("Cache-Control", "no-store")

    async def asset(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        found = self._assets.get(name)
        if found is None:
            raise web.HTTPNotFound()
        body, digest = found
        etag = f'"{digest}"'
        headers = {"ETag": etag, "Cache-Control": "public, max-age=86400"}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, content_type=ASSETS[name], headers=headers)

    def script_and_style_bytes(self) -> int:
        """What the console ships of JavaScript and CSS, uncompressed (the budget: 60 KB)."""
        return sum(
            len(body)
            for name, (body, _) in self._assets.items()
            if ASSETS[name] in ("text/javascript", "text/css")
        )
