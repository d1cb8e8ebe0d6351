"""What every console page and post shares: answering a refusal or a failure as a page
(never a 500 for what a client sent), rendering a page with its session and flash message,
requiring a signed-in session, and checking a post's CSRF token and role before anything
else reads it.

It must never let a post through without its session's CSRF token and the role it needs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import structlog
from aiohttp import web
from multidict import MultiDictProxy

from ticket_sink.api.problems import allowed_methods
from ticket_sink.console.inputs import (
    CONSOLE_PREFIX,
    Refusal,
    next_of,
    read_form,
    redirect,
    safe_next,
)
from ticket_sink.console.render import Renderer
from ticket_sink.console.session import Session, Sessions
from ticket_sink.console.settings import ConsoleSettings
from ticket_sink.store import StoreError

__all__ = ["Handler", "PageFrame"]

log = structlog.get_logger("ticket_sink.console")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class PageFrame:
    """The console's sessions and renderer, and the steps every handler shares."""

    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self.api = settings.api
        self.sessions = Sessions(settings)
        self.render = Renderer()

    def guarded(self, handler: Handler) -> Handler:
        """`handler` with the console's headers, and its refusals and failures answered
        as pages (a store outage is 503; a bug of ours 500, logged)."""

        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                response = await handler(request)
            except Refusal as exc:
                response = self.error(request, exc.status, exc.message)
            except StoreError as exc:
                log.warning("console_store_error", path=request.path, error=str(exc))
                response = self.error(request, 503, "The ticket store is unavailable.")
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                response = self.error(request, exc.status, exc.reason)
            except Exception:
                log.exception("console_internal_error", path=request.path)
                response = self.error(request, 500, "Internal error (logged by the agent).")
            if not response.prepared:
                self.render.secure(response)
            return response

        return handle

    async def unrouted(self, request: web.Request) -> web.StreamResponse:
        """404 for a path the console does not have; 405 naming the methods for one it
        has that does not take this method."""
        methods = await allowed_methods(request.app, request)
        if not methods:
            return self.error(request, 404, "No such page.")
        response = self.error(
            request, 405, f"This address does not take {request.method}, only {methods}."
        )
        response.headers["Allow"] = methods
        return response

    def error(self, request: web.Request, status: int, message: str) -> web.Response:
        session, _ = self.sessions.current(request)
        response = self.page(request, session, "error.html", status=status, message=message)
        self.render.secure(response)
        return response

    def page(
        self,
        request: web.Request,
        session: Session | None,
        template: str,
        *,
        status: int = 200,
        page: str = "",
        **context: Any,
    ) -> web.Response:
        response = web.Response(status=status, content_type="text/html", charset="utf-8")
        flash = self.sessions.take_flash(request, response)
        response.text = self.render.page(
            template,
            session=session,
            flash=flash,
            page=page,
            here=request.path_qs,
            **context,
        )
        return response

    def require(self, request: web.Request) -> tuple[Session, bool]:
        session, new = self.sessions.current(request)
        if session is None:
            raise web.HTTPSeeOther(
                f"{CONSOLE_PREFIX}/login?" + urlencode({"next": next_of(request)})
            )
        return session, new

    def finish(self, response: web.StreamResponse, session: Session, new: bool) -> None:
        if new:
            self.sessions.set_cookie(response, session)

    async def form(self, request: web.Request, *, admin: bool = False) -> tuple[Session, Any]:
        """The post's session and fields, once its CSRF token and role are checked."""
        session, _ = self.sessions.current(request)
        form = await read_form(request, self.api.body_timeout_seconds)
        if session is None:
            raise Refusal(403, "Sign in first: this session has ended.")
        if not self.sessions.csrf_ok(session, form.get("csrf")):
            raise Refusal(403, "The form's security token is missing or stale: reload the page.")
        if not (session.admin if admin else session.responder):
            needed = "admin" if admin else "responder"
            raise Refusal(403, f"{session.name} is a {session.role}; this needs a {needed}.")
        return session, form

    def back(
        self, form: MultiDictProxy[Any], default: str, message: str, *, error: bool = False
    ) -> web.Response:
        given = form.get("return_to")
        response = redirect(given if safe_next(given) == given else default)
        self.sessions.set_flash(response, message, error=error)
        return response
