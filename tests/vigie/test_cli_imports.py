"""What a command imports: each loads what it needs and no more, which is what keeps
`vigie --help` and a one-shot probe quick to start (bench/cli_startup.py has the times)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.probes.tls_test_servers import closed_port, issue, pem
from tests.vigie.test_cli import checkout_env

# Runs `vigie ARGS...` in this process, then prints which of the named modules it loaded.
_SCRIPT = """
import runpy, sys
watched, sys.argv = sys.argv[1].split(","), ["vigie", *sys.argv[2:]]
try:
    runpy.run_module("vigie", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
print(",".join(name for name in watched if name in sys.modules), file=sys.stderr)
"""

# The modules a command must not load, and why it could: the ticket client and its model
# (other commands), the HTTP client and its connection pool (a check that sends no HTTP,
# or not before its first request), the SMP's XML signatures, the TLS of fresh
# connections, the configuration models, the system resolver's configuration (read by
# dnspython's resolver, which brings its DNS-over-HTTPS stack).
CASES = {
    "top-level help": (["--help"], ["pydantic", "httpx", "cryptography", "structlog"]),
    "a probe's help": (
        ["probe", "http", "--help"],
        ["pydantic", "httpx", "cryptography", "ticket_sink"],
    ),
    "a certificate file": (
        ["probe", "cert", "--file", "{pem}"],
        ["httpx", "httpcore", "lxml", "signxml", "OpenSSL", "ticket_sink"],
    ),
    "an SOA asked of a given server": (
        ["probe", "soa", "--zone", "example.test", "--server", "127.0.0.1:{port}"],
        ["dns.resolver", "httpx", "ticket_sink"],
    ),
    "a fresh GET": (
        ["probe", "http", "--url", "http://127.0.0.1:{port}/"],
        ["httpx", "httpcore", "lxml", "signxml", "ticket_sink"],
    ),
}


@pytest.mark.parametrize(("args", "unwanted"), CASES.values(), ids=CASES.keys())
def test_a_command_loads_only_what_it_needs(
    args: list[str], unwanted: list[str], tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    certificate = issue("example", None, not_before=now, not_after=now + timedelta(days=90))
    path = tmp_path / "cert.pem"
    path.write_bytes(pem(certificate.cert))
    argv = [arg.format(pem=path, port=closed_port()) for arg in args]
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, ",".join(unwanted), *argv],
        env=checkout_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = done.stderr.splitlines()[-1]
    assert loaded == "", f"{' '.join(args)} loaded {loaded}"
