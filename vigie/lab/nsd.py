"""NSD, the authoritative name server from Debian, serving one zone file on 127.0.0.1.

A reference server that is not ours, for the integration tests and the DNS benchmark:
what the probes find against it is what they would find against a real SML. It binds
loopback only, runs in the foreground as a child of its caller, and is stopped by that
child's PID; it never touches a system-wide NSD.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode

__all__ = ["RunningNsd", "free_udp_and_tcp_port", "nsd_config", "nsd_serving"]

START_DEADLINE_SECONDS = 15.0


@dataclass(frozen=True)
class RunningNsd:
    host: str
    port: int
    zone: str
    process: subprocess.Popen[bytes]


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


def nsd_config(
    workdir: Path,
    port: int,
    zone: str,
    zone_file: Path,
    extra_zones: Sequence[tuple[str, Path]] = (),
) -> str:
    # Response rate limiting off: a sweep or a test asks the same names over and over.
    return f"""server:
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
""" + "".join(
        f'zone:\n  name: "{name}."\n  zonefile: "{path}"\n'
        for name, path in ((zone, zone_file), *extra_zones)
    )


@contextmanager
def nsd_serving(
    nsd: str,
    zone: str,
    zone_file: Path,
    workdir: Path,
    *,
    prefix: Sequence[str] = (),
    extra_zones: Sequence[tuple[str, Path]] = (),
) -> Iterator[RunningNsd]:
    """Run `nsd` (its path) serving `zone_file` (and `extra_zones`) until the block ends.

    `prefix` goes before the command (e.g. `taskset -c 0` to pin it to a core).
    """
    port = free_udp_and_tcp_port()
    (workdir / "xfr").mkdir(parents=True, exist_ok=True)
    config = workdir / "nsd.conf"
    config.write_text(nsd_config(workdir, port, zone, zone_file, extra_zones), encoding="ascii")
    # An argument list (no shell); the program path is the caller's, found on PATH.
    command = [*prefix, nsd, "-d", "-c", str(config)]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        _wait_until_serving(process, zone, port, workdir)
        yield RunningNsd("127.0.0.1", port, zone, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(
    process: subprocess.Popen[bytes], zone: str, port: int, workdir: Path
) -> None:
    query = dns.message.make_query(f"{zone}.", "SOA")
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = workdir / "nsd.log"
            raise RuntimeError(
                f"nsd exited {process.returncode}: {log.read_text() if log.exists() else ''}"
            )
        try:
            response = dns.query.udp(query, "127.0.0.1", port=port, timeout=0.2)
        except (dns.exception.Timeout, OSError):
            continue
        if response.rcode() == dns.rcode.NOERROR and response.answer:
            return
    raise RuntimeError(f"nsd did not serve {zone} within {START_DEADLINE_SECONDS:g}s")
