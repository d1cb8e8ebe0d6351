"""SML target options: what each expands into, and each invalid combination's message."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from probes import CheckDefaults, ProbeEnv
from probes.dns import SmlTarget, expand_sml
from probes.dns_sweep import probe_sweep

ZONE = "participant.sml.test.tech.peppol.org"
PID = "iso6523-actorid-upis::0088:123abc"


def expand(**options: Any) -> list[tuple[str, str, float, float]]:
    target = SmlTarget(zone=ZONE, **options)
    return [
        (check.kind, check.target, check.interval, check.timeout)
        for check in expand_sml(target, CheckDefaults(interval=60.0, timeout=5.0))
    ]


def test_an_old_style_target_gets_zone_health_too() -> None:
    assert expand(nameservers=["192.0.2.1"]) == [
        ("dns_soa", f"{ZONE}@192.0.2.1", 60.0, 5.0),
        ("dns_zone", ZONE, 60.0, 5.0),
    ]


def test_every_option_expands_into_its_check(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(PID + "\n")
    checks = expand(
        zone_health=False,
        participants=[{"id": PID.upper()}, {"id": "urn:ebcore:x", "expect_smp": "https://s"}],
        sweep={"file": str(listing), "every": "30s", "query_timeout": "1s"},
    )
    assert checks == [
        ("dns_soa", f"{ZONE}@resolver", 60.0, 5.0),
        ("dns_participant", f"iso6523-actorid-upis::0088:123abc@{ZONE}", 60.0, 5.0),
        ("dns_participant", f"urn:ebcore:x@{ZONE}", 60.0, 5.0),
        ("dns_sweep", ZONE, 30.0, 30.0),
    ]


def test_checks_of_one_zone_share_the_name_server_lookup(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(PID + "\n")
    target = SmlTarget(zone=ZONE, participants=[{"id": PID}], sweep={"file": str(listing)})
    checks = {c.kind: c for c in expand_sml(target, CheckDefaults())}
    servers = {
        id(checks[kind].params.servers) for kind in ("dns_zone", "dns_participant", "dns_sweep")
    }
    assert len(servers) == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(
            {"participants": [{"id": PID}, {"id": PID.upper()}]},
            "is listed twice",
            id="canary-twice",
        ),
        pytest.param({"participants": [{"id": "x::"}]}, "needs SCHEME::VALUE", id="bad-id"),
        pytest.param(
            {"sweep": {"file": "/nonexistent/list.txt"}},
            "cannot read participant list",
            id="no-file",
        ),
        pytest.param(
            {"sweep": {"every": "2s", "query_timeout": "2s"}},
            "query_timeout (2s) must be shorter than every (2s)",
            id="lookups-outlast-the-batch",
        ),
        pytest.param({"sweep": {"rate": 0}}, "greater than 0", id="zero-rate"),
        pytest.param({"sweep": {"format": "xml"}}, "'lines' or 'csv'", id="unknown-format"),
        pytest.param({"sweep": {"cardinality_budget": -1}}, "greater than or equal", id="budget"),
    ],
)
def test_invalid_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SmlTarget(zone=ZONE, **options)


async def test_a_run_cancelled_while_the_list_loads_leaves_one_reading(tmp_path: Path) -> None:
    """The runner cancels a run at its timeout, but a reading thread cannot be stopped:
    the next run waits for that same reading instead of starting another (a large list
    would otherwise be read again by every run, each in a new thread)."""
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"iso6523-actorid-upis::0088:{n}\n" for n in range(50_000)))
    target = SmlTarget(zone=ZONE, nameservers=["127.0.0.1"], sweep={"file": str(listing)})
    (check,) = [c for c in expand_sml(target, CheckDefaults()) if c.kind == "dns_sweep"]
    state = check.params
    first = asyncio.create_task(probe_sweep(check, ProbeEnv()))
    await asyncio.sleep(0)
    first.cancel()
    reading = state.loading
    assert reading is not None
    second = asyncio.create_task(probe_sweep(check, ProbeEnv()))
    await asyncio.sleep(0)
    assert state.loading is reading
    assert len(await reading) == 50_000
    second.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(first, second)
