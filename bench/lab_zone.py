"""How big a zone the lab holds: build time and memory per participant.

    .venv/bin/python bench/lab_zone.py [PARTICIPANTS]      # default 1,000,000

Prints one line: participants, build seconds, resident memory added, bytes per
participant, and whether the last participant answers in both schemes. Nothing leaves
the process: the zone is queried in memory, not over the network.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from probes.naming import NamingScheme
from vigie.lab.zone import LabZone


def resident_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    participants = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    before = resident_bytes()
    started = time.perf_counter()
    zone = LabZone(
        participants=participants, smp_urls=("https://127.0.0.1:1", "https://127.0.0.1:2")
    )
    seconds = time.perf_counter() - started
    added = resident_bytes() - before
    last = participants - 1
    answers = all(
        zone.lookup(zone.participant_name(last, scheme)) is not None
        for scheme in (NamingScheme.CNAME, NamingScheme.NAPTR)
    )
    print(
        f"lab zone: {participants} participants built in {seconds:.2f} s, "
        f"{added / 2**20:.0f} MiB resident ({added / max(participants, 1):.0f} B/participant), "
        f"last participant answers in both schemes: {answers}"
    )


if __name__ == "__main__":
    main()
