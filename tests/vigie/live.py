"""The whole agent served on 127.0.0.1 (a free port) from a background thread, for tests
whose client blocks: curl, the `vigie tickets` CLI, schemathesis."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from ticket_sink.api import Role, hash_token
from vigie.app import create_app
from vigie.config import VigieConfig

# One token per role, named after it.
TOKENS = {role: f"{role.value}-token-for-tests" for role in Role}
STARTUP_SECONDS = 30.0


def live_config(
    tmp_path: Path,
    *,
    anonymous_read: bool = False,
    correlator: Mapping[str, Any] | None = None,
    notifications: Mapping[str, Any] | None = None,
) -> VigieConfig:
    """One token per role; `correlator` and `notifications` are the configuration's
    sections of those names."""
    return VigieConfig.model_validate(
        {
            "store": {"url": f"sqlite:///{tmp_path / 'vigie.db'}"},
            "notifications": dict(notifications or {}),
            "correlator": dict(correlator or {}),
            "api": {
                "anonymous_read": anonymous_read,
                "event_poll_interval": "50ms",
                "tokens": [
                    {"name": f"{role.value}-bot", "role": role.value, "hash": hash_token(token)}
                    for role, token in TOKENS.items()
                ],
            },
        }
    )


class LiveAgent:
    """`with LiveAgent(config) as agent:` serves the app at `agent.url` until the block ends."""

    def __init__(self, config: VigieConfig | None) -> None:
        self.config = config  # None: a subclass's `_serve` makes one
        self.url = ""
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="live-agent", daemon=True)

    def __enter__(self) -> LiveAgent:
        self._thread.start()
        if not self._ready.wait(STARTUP_SECONDS):
            raise RuntimeError("the agent did not start in time")
        if self._error is not None:
            raise RuntimeError("the agent failed to start") from self._error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STARTUP_SECONDS)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the test thread
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        assert self.config is not None
        await self._run(create_app(self.config))

    async def _run(self, app: web.Application) -> None:
        """Serve `app` until the `with` block ends."""
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            self.url = f"http://{host}:{port}"
            self._ready.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()
