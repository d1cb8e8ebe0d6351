"""A sweep of N BDXL participants against NSD on 127.0.0.1: checks/s, CPU and memory.

    .venv/bin/python bench/dns_sweep.py [PARTICIPANTS] [--repeat K]   # default 100,000, K=3

Generates a zone of N participants (each a U-NAPTR `Meta:SMP` record, one of two SMP URLs),
starts NSD (Debian package `nsd`) on a free 127.0.0.1 port pinned to core 0, and runs
vigie's sweep over the whole list K times in this process, pinned to core 1, with no rate
limit: every answer is parsed, its NAPTR turned into a URL and compared with the expected
SMP. Prints checks/s, vigie's CPU-seconds per 1,000 checks (`time.process_time`), the
resident memory the loaded list costs per participant, and, when the performance anchors
ran in this sitting, blackbox_exporter's `dns_naptr` figure and the ratio. Only NSD, a
child of this script, is started and stopped; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from array import array
from pathlib import Path

from probes import ProbeEnv
from probes.dns_servers import ZoneServers
from probes.dns_sweep import ParticipantList, SweepState
from probes.naming import NamingScheme, ParticipantId, participant_name
from vigie.lab.nsd import nsd_serving

ZONE = "sweep.vigie.test"
SCHEME = "iso6523-actorid-upis"
SMPS = ("https://smp1.sweep.vigie.test", "https://smp2.sweep.vigie.test/")
RESULTS = Path.home() / ".cache" / "eDelivery-anchors" / "work" / "results.jsonl"
FRESH_SECONDS = 6 * 3600


def participant(index: int) -> str:
    return f"{SCHEME}::0088:bench{index:08d}"


def write_zone(path: Path, count: int) -> None:
    """Our own small generator: the names come from `probes.naming`, the reference."""
    with path.open("w", encoding="ascii") as out:
        out.write(f"$ORIGIN {ZONE}.\n$TTL 3600\n")
        out.write("@ IN SOA ns1 hostmaster 1 7200 3600 1209600 3600\n@ IN NS ns1\n")
        out.write("ns1 IN A 127.0.0.1\n")
        for index in range(count):
            name = participant_name(
                ParticipantId.parse(participant(index)), ZONE, NamingScheme.NAPTR
            )
            regexp = ("!^.*$!{}!" if index % 2 else "!.*!{}!").format(SMPS[index % 2])
            out.write(f'{name}. IN NAPTR 100 10 "U" "Meta:SMP" "{regexp}" .\n')


def nsd_path() -> str:
    nsd = shutil.which("nsd") or "/usr/sbin/nsd"
    if not os.access(nsd, os.X_OK):
        sys.exit("nsd is not installed: apt-get install -y nsd")
    return nsd


def resident_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def wait_serving(state: SweepState, deadline: float) -> None:
    probe = ParticipantList([participant(0)], array("I", [0]), [], 0)
    saved, state.participants = state.participants, probe
    try:
        while time.monotonic() < deadline:
            state.checked.clear()
            await state.run_batch(ProbeEnv(), 1.0, limit=1)
            if state.checked.get("ok"):  # type: ignore[call-overload]
                return
            await asyncio.sleep(0.2)
        raise RuntimeError("nsd did not answer")
    finally:
        state.participants, state.cursor, state.passes = saved, 0, 0
        state.checked.clear()
        state.failing.clear()


async def sweep(port: int, listing: Path, count: int, repeat: int) -> dict[str, object]:
    before = resident_bytes()
    participants = ParticipantList.load(listing, "csv")
    per_participant = (resident_bytes() - before) / count
    servers = ZoneServers(ZONE, (("nsd", ("127.0.0.1", port)),))
    state = SweepState(
        zone=ZONE,
        scheme=NamingScheme.NAPTR,
        servers=servers,
        rate=0,  # as fast as the server answers: this measures vigie's own cost
        query_timeout=2.0,
        cardinality_budget=100,
        participants=participants,
        in_flight=64,
    )
    await wait_serving(state, time.monotonic() + 30)
    rates, cpus = [], []
    for _ in range(repeat):
        state.checked.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        done = await state.run_batch(ProbeEnv(), 600.0, limit=count)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        rates.append(done / wall)
        cpus.append(cpu / done * 1000)
        ok = state.checked.get("ok", 0)  # type: ignore[call-overload]
        if ok != count:
            print(f"  warning: {ok}/{count} ok, {dict(state.checked)}", file=sys.stderr)
    return {
        "rate": statistics.median(rates),
        "cpu_per_1000": statistics.median(cpus),
        "bytes_per_participant": per_participant,
        "runs": [f"{r:.0f}/s {c:.4f}" for r, c in zip(rates, cpus, strict=True)],
    }


def blackbox_reference() -> dict[str, float] | None:
    if not RESULTS.exists() or time.time() - RESULTS.stat().st_mtime > FRESH_SECONDS:
        return None
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    naptr = [row for row in rows if row.get("label") == "blackbox-dns-naptr"]
    return naptr[-1] if naptr else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("participants", nargs="?", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    count = args.participants
    with tempfile.TemporaryDirectory(prefix="vigie-bench-") as tmp:
        workdir = Path(tmp)
        zone_file = workdir / f"{ZONE}.zone"
        write_zone(zone_file, count)
        listing = workdir / "participants.csv"
        listing.write_text(
            "".join(f"{participant(i)},{SMPS[i % 2]}\n" for i in range(count)), encoding="ascii"
        )
        pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
        with nsd_serving(nsd_path(), ZONE, zone_file, workdir, prefix=pin) as nsd:
            if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
                os.sched_setaffinity(0, {1})
            result = asyncio.run(sweep(nsd.port, listing, count, args.repeat))
    cpu = float(result["cpu_per_1000"])  # type: ignore[arg-type]
    print(
        f"vigie dns sweep: {count} BDXL participants vs NSD (vigie on c1, nsd on c0), "
        f"median of {args.repeat}: {result['rate']:.0f} checks/s, {cpu:.4f} CPU-s/1000 checks, "
        f"{result['bytes_per_participant']:.0f} B/participant resident  (runs: "
        + ", ".join(result["runs"])  # type: ignore[arg-type]
        + ")"
    )
    reference = blackbox_reference()
    if reference is None:
        print(
            "blackbox dns_naptr: no fresh anchor run; run "
            "`QUICK=1 bash ../shared/anchors/run_anchors.sh` first for the side-by-side figure"
        )
        return
    bb_cpu = float(reference["cpu_per_1000"])
    print(
        f"blackbox dns_naptr (anchors): {reference['rate']:.0f} probes/s, {bb_cpu:.4f} CPU-s/1000"
        f"  ->  vigie/blackbox CPU ratio {cpu / bb_cpu:.2f} (target <= 0.5); "
        f"rate target >= 5000 checks/s: {'met' if float(result['rate']) >= 5000 else 'NOT met'}"  # type: ignore[arg-type]
    )


if __name__ == "__main__":
    main()
