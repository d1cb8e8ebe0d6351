"""NSD, the authoritative name server from Debian, serving a zone file on 127.0.0.1.

A reference server that is not ours: what the probes find against it is what they would
find against a real SML. The process is a child of the test run and is stopped with it.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode

from tests.support import require_program

START_DEADLINE_SECONDS = 15.0


@dataclass(frozen=True)
class RunningNsd:
    host: str
    port: int
    zone: str


def free_udp_and_tcp_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (NSD needs one number for both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP")


@contextmanager
def nsd_serving(zone: str, zone_text: str, workdir: Path) -> Iterator[RunningNsd]:
    nsd = require_program("nsd")
    port = free_udp_and_tcp_port()
    (workdir / "xfr").mkdir(parents=True, exist_ok=True)
    zone_file = workdir / f"{zone}.zone"
    zone_file.write_text(zone_text, encoding="ascii")
    config = workdir / "nsd.conf"
    config.write_text(
        f"""server:
  ip-address: 127.0.0.1@{port}
  port: {port}
  do-ip6: no
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "{workdir}"
  database: ""
  zonelistfile: "{workdir}/zone.list"
  xfrdfile: "{workdir}/xfrd.state"
  xfrdir: "{workdir}/xfr"
  pidfile: "{workdir}/nsd.pid"
  logfile: "{workdir}/nsd.log"
  verbosity: 1
  rrl-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: "{zone}."
  zonefile: "{zone_file}"
""",
        encoding="ascii",
    )
    process = subprocess.Popen([nsd, "-d", "-c", str(config)], stderr=subprocess.PIPE, text=True)
    try:
        _wait_until_serving(process, zone, port, workdir)
        yield RunningNsd("127.0.0.1", port, zone)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def _wait_until_serving(
    process: subprocess.Popen[str], zone: str, port: int, workdir: Path
) -> None:
    query = dns.message.make_query(f"{zone}.", "SOA")
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (workdir / "nsd.log").read_text() if (workdir / "nsd.log").exists() else ""
            raise RuntimeError(f"nsd exited {process.returncode}: {log}")
        try:
            response = dns.query.udp(query, "127.0.0.1", port=port, timeout=0.2)
        except (dns.exception.Timeout, OSError):
            continue
        if response.rcode() == dns.rcode.NOERROR and response.answer:
            return
    raise RuntimeError(f"nsd did not serve {zone} within {START_DEADLINE_SECONDS:g}s")
