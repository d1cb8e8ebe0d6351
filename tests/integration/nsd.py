"""NSD for the integration tests: `vigie.lab.nsd`, skipped (or failed under
VIGIE_REQUIRE_INTEGRATION=1) where NSD is not installed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.support import require_program
from vigie.lab.nsd import RunningNsd
from vigie.lab.nsd import nsd_serving as run_nsd

__all__ = ["RunningNsd", "nsd_serving"]


@contextmanager
def nsd_serving(
    zone: str, zone_text: str, workdir: Path, extra_zones: Mapping[str, str] | None = None
) -> Iterator[RunningNsd]:
    """NSD serving `zone` (and each zone of `extra_zones`: name -> zone file text)."""
    nsd = require_program("nsd")
    files = []
    for name, text in {zone: zone_text, **(extra_zones or {})}.items():
        path = workdir / f"{name}.zone"
        path.write_text(text, encoding="ascii")
        files.append((name, path))
    with run_nsd(nsd, zone, files[0][1], workdir, extra_zones=files[1:]) as server:
        yield server
