"""NSD for the integration tests: `vigie.lab.nsd`, skipped (or failed under
VIGIE_REQUIRE_INTEGRATION=1) where NSD is not installed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support import require_program
from vigie.lab.nsd import RunningNsd
from vigie.lab.nsd import nsd_serving as run_nsd

__all__ = ["RunningNsd", "nsd_serving"]


@contextmanager
def nsd_serving(zone: str, zone_text: str, workdir: Path) -> Iterator[RunningNsd]:
    nsd = require_program("nsd")
    zone_file = workdir / f"{zone}.zone"
    zone_file.write_text(zone_text, encoding="ascii")
    with run_nsd(nsd, zone, zone_file, workdir) as server:
        yield server
