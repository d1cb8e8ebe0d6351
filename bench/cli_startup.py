"""Start-up time of the `vigie` command: `--help`, a probe's `--help`, and one-shot probes
whose target answers at once (a closed port on 127.0.0.1, a certificate file), so that
what is measured is the command getting ready, not the target.

    .venv/bin/python bench/cli_startup.py [--runs N] [--without trio,rich] [SOURCE ...]

Each SOURCE is a checkout of vigie (default: this one) run as `python -m vigie` with it
first on the path, so that two versions are measured in one sitting, alternately. Prints
the median wall-clock and CPU (user + system) milliseconds of N runs (default 15) per
command and source. `--without` hides packages that only the test extras install and
that libraries import when they find them (httpcore imports trio, structlog rich), to
measure the command as a plain `pip install vigie` has it. Targets: `--help` and
`probe http --help` under 300 ms, a one-shot probe's start-up under 500 ms. Nothing
leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vigie.lab.pki import LabPki

HERE = Path(__file__).resolve().parent.parent


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def commands(certificate: Path) -> dict[str, list[str]]:
    closed = f"127.0.0.1:{closed_port()}"
    return {
        "vigie --help": ["--help"],
        "vigie probe http --help": ["probe", "http", "--help"],
        "vigie probe http (refused)": ["probe", "http", "--url", f"http://{closed}/"],
        "vigie probe cert --file": ["probe", "cert", "--file", str(certificate)],
    }


# `python -m vigie`, with the packages named in argv[1] (comma-separated) not importable.
_HIDING_RUN = """
import runpy, sys
hidden = set(filter(None, sys.argv.pop(1).split(",")))
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in hidden:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Hide())
sys.argv[0] = "vigie"
runpy.run_module("vigie", run_name="__main__", alter_sys=True)
"""


def run_once(source: Path, arguments: list[str], without: str) -> tuple[float, float]:
    """(wall ms, CPU ms) of one `python -m vigie ARGUMENTS` from `source`."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", _HIDING_RUN, without, *arguments],
        cwd=source,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall * 1000, cpu * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="runs per command and source")
    parser.add_argument(
        "--without", default="", metavar="PKG,...", help="packages to hide (e.g. trio,rich)"
    )
    parser.add_argument("sources", nargs="*", type=Path, help="vigie checkouts (default: this)")
    args = parser.parse_args()
    sources = [path.resolve() for path in args.sources] or [HERE]
    with tempfile.TemporaryDirectory() as workdir:
        pki = LabPki.generate("http://127.0.0.1:1", endpoints=("ap1",))
        certificate = Path(workdir) / "ap1.pem"
        certificate.write_bytes(pki.endpoint("ap1").cert_pem())
        table = commands(certificate)
        samples: dict[tuple[str, Path], list[tuple[float, float]]] = {}
        for _ in range(args.runs):  # alternate sources, so that both see the same load
            for name, arguments in table.items():
                for source in sources:
                    samples.setdefault((name, source), []).append(
                        run_once(source, arguments, args.without)
                    )
    hidden = f", without {args.without}" if args.without else ""
    load = os.getloadavg()[0]
    print(f"median of {args.runs} runs, milliseconds (wall / CPU){hidden}; load {load:.1f}")
    for name in table:
        cells = []
        for source in sources:
            walls, cpus = zip(*samples[(name, source)], strict=True)
            cells.append(f"{statistics.median(walls):6.0f} / {statistics.median(cpus):4.0f}")
        print(f"  {name:<28} " + "   ".join(cells) + "   " + " | ".join(map(str, sources)))


if __name__ == "__main__":
    main()
