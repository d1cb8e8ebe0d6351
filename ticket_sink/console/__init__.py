"""The on-call console: server-rendered pages under /console/ where people see, work and
follow incidents live, over the same service layer as the API.

`setup_console(app, ConsoleSettings(...))` serves it from the agent's aiohttp application.
It must never open resources (the application owns the store) and never route outside
/console.
"""

from aiohttp import web

from ticket_sink.console.pages import CONSOLE_EVENTS, CONSOLE_PREFIX, Console
from ticket_sink.console.render import CONTENT_SECURITY_POLICY
from ticket_sink.console.settings import CONSOLE_SETTINGS, CheckRow, ConsoleSettings, ProxyAuth

__all__ = [
    "CONSOLE_PREFIX",
    "CONSOLE_SETTINGS",
    "CONTENT_SECURITY_POLICY",
    "CheckRow",
    "ConsoleSettings",
    "ProxyAuth",
    "setup_console",
]


def setup_console(app: web.Application, settings: ConsoleSettings) -> Console:
    """Serve the console under /console from `app` (call before the app starts)."""
    app[CONSOLE_SETTINGS] = settings
    console = Console(settings)
    for method, path, handler in console.routes():
        app.router.add_route(method, path, console.guarded(handler))
        # HEAD answers as GET would, without the body; not on the event stream, which
        # would never end.
        if method == "GET" and path != CONSOLE_EVENTS:
            app.router.add_route("HEAD", path, console.guarded(handler))
    # Last: whatever else under /console is a page that does not exist.
    app.router.add_route(
        "*", CONSOLE_PREFIX + r"/{path:[\s\S]*}", console.guarded(console.unrouted)
    )
    return console
