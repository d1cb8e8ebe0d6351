"""Debian's chromium driven by Selenium, headless, and the lab with an agent watching it
served from a background thread: what the console's browser tests and its screenshot
script share.

The browser starts with a fresh profile and nothing that reaches a public host (no
component updates, no sync, no background networking); `--no-sandbox` because CI runs as
root. The lab agent listens on 127.0.0.1 on a free port.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.vigie.live import LiveAgent
from ticket_sink.api import Role, hash_token
from vigie.app import create_app
from vigie.config import VigieConfig
from vigie.demo import lab_agent_settings
from vigie.lab.lab import Lab, LabSettings

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# One token per role, named after it ("responder-desk").
TOKENS = {role: f"{role.value}-console-token" for role in Role}
# At test pace: no confirmation delays, so a fault is a ticket within a few runs.
FAST_RULES = [
    {"alert": name, "for": "0s", "keep_firing_for": "0s", "consecutive_failures": 1}
    for name in ("SmlNameServerFailing", "ParticipantLookupFailed", "DnsLookupFailed")
]
T = TypeVar("T")


def chromium(*, javascript: bool = True, width: int = 1280, height: int = 900) -> webdriver.Chrome:
    """A headless chromium whose console messages `get_log("browser")` returns."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        f"--user-data-dir={tempfile.mkdtemp(prefix='vigie-chromium-')}",
    ):
        options.add_argument(argument)
    if not javascript:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def lab_agent_config(lab: Lab, store_url: str) -> VigieConfig:
    """The demo's agent for `lab`, watching only the SML at test pace, one token per role."""
    settings = lab_agent_settings(lab, store_url=store_url, listen="127.0.0.1:8942")
    settings["targets"] = {"sml": settings["targets"]["sml"]}
    settings["targets"]["sml"][0].pop("sweep", None)
    settings["defaults"] = {"interval": "1s", "timeout": "0.8s"}
    settings["scheduler"] = {"initial_spread": "0.2s"}
    settings["correlator"] = {
        "group_wait": "0s",
        # Long enough that a person resolves a recovered ticket before the correlator does.
        "quiet_period": "60s",
        "sweep_interval": "0.5s",
        "rules": FAST_RULES,
    }
    settings["api"] = {
        "event_poll_interval": "100ms",
        "tokens": [
            {"name": f"{role.value}-desk", "role": role.value, "hash": hash_token(token)}
            for role, token in TOKENS.items()
        ],
    }
    return VigieConfig.model_validate(settings)


class LabAgent(LiveAgent):
    """`with LabAgent(workdir) as served:` the lab and an agent watching it, in a thread
    of their own, at `served.url`; `served.call(coroutine_function)` runs in that loop."""

    def __init__(self, workdir: Path, *, participants: int = 20) -> None:
        super().__init__(None)
        self.workdir = workdir
        self.participants = participants
        self.lab: Lab | None = None

    def call(self, function: Callable[[Lab], Coroutine[Any, Any, T]], timeout: float = 30) -> T:
        assert self._loop is not None
        assert self.lab is not None
        return asyncio.run_coroutine_threadsafe(function(self.lab), self._loop).result(timeout)

    async def _serve(self) -> None:
        settings = LabSettings(participants=self.participants, workdir=self.workdir)
        async with Lab(settings) as lab:
            self.lab = lab
            self.config = lab_agent_config(lab, f"sqlite:///{self.workdir / 'vigie.db'}")
            await self._run(create_app(self.config))
