"""The `vigie` command line.

Every user error (bad configuration, missing file, port in use) ends as one clear line on
stderr and a non-zero exit, never a traceback. Exit codes: 0 ok, 1 runtime failure,
2 invalid configuration or usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence

from probes._config import split_host_port
from vigie import __version__
from vigie.config import ConfigError, VigieConfig, load_config
from vigie.diagnose_cli import add_diagnose_command
from vigie.mcp_cli import add_mcp_command
from vigie.probe_cli import add_probe_commands
from vigie.scheduler import parse_shard
from vigie.ticket_cli import add_ticket_commands

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return EXIT_USAGE
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        # The reader went away (`vigie config schema | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigie",
        description="Availability monitoring and incident correlation for eDelivery "
        "infrastructure (SML, SMP, PKI, Access Points).",
    )
    parser.add_argument("--version", action="version", version=f"vigie {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    run = commands.add_parser("run", help="run the agent on a configuration file")
    run.add_argument("--config", "-c", required=True, metavar="FILE", help="YAML configuration")
    run.add_argument(
        "--shard",
        type=_shard,
        default=(0, 1),
        metavar="I/N",
        help="run only the targets of shard I of N (stable hash; default 0/1, everything)",
    )
    run.add_argument("--listen", type=_listen, metavar="HOST:PORT", help="override server.listen")
    run.set_defaults(handler=_run)

    config = commands.add_parser("config", help="check a configuration file or print its schema")
    config_commands = config.add_subparsers(title="config commands", metavar="COMMAND")
    check = config_commands.add_parser("check", help="validate FILE and list every problem")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(handler=_config_check)
    schema = config_commands.add_parser("schema", help="print the JSON Schema of the file")
    schema.set_defaults(handler=_config_schema)
    docs = config_commands.add_parser("docs", help="print the options table (Markdown)")
    docs.set_defaults(handler=_config_docs)

    demo = commands.add_parser(
        "demo", help="start the lab and an agent watching it, with faults injected over time"
    )
    demo.add_argument("--listen", default="127.0.0.1:8942", metavar="HOST:PORT")
    demo.add_argument("--participants", type=int, default=1000, metavar="N")
    demo.add_argument(
        "--fault-every",
        default="2m",
        metavar="DURATION",
        help="time between two faults of the scenario (default 2m)",
    )
    demo.add_argument("--no-scenario", action="store_true", help="inject no faults by itself")
    demo.add_argument(
        "--control", default="127.0.0.1:8943", metavar="HOST:PORT", help="lab control address"
    )
    demo.set_defaults(handler=_demo)

    lab = commands.add_parser("lab", help="start the lab alone (DNS, PKI, SMP, AP, control)")
    lab.add_argument("--participants", type=int, default=1000, metavar="N")
    lab.add_argument(
        "--control", default="127.0.0.1:8943", metavar="HOST:PORT", help="lab control address"
    )
    lab.add_argument(
        "--write-config", metavar="FILE", help="write a vigie configuration watching the lab"
    )
    lab.set_defaults(handler=_lab)

    add_probe_commands(commands)
    add_diagnose_command(commands)
    add_ticket_commands(commands)
    add_mcp_command(commands)
    return parser


def _shard(text: str) -> tuple[int, int]:
    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _listen(text: str) -> str:
    try:
        split_host_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _load(path: str, *, read_files: bool = False) -> VigieConfig | None:
    try:
        return load_config(path, read_files=read_files)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem.render(exc.source), file=sys.stderr)
        return None


def _config_check(args: argparse.Namespace) -> int:
    config = _load(args.file, read_files=True)
    if config is None:
        return EXIT_USAGE
    kinds = Counter(check.kind for check in config.checks())
    summary = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items())) or "none"
    print(f"{args.file}: ok, {sum(kinds.values())} checks ({summary})")
    if not kinds:
        # Valid (an agent may only take alerts), but more often a wrong or empty file.
        print(
            f"{args.file}: warning: no targets, so the agent will probe nothing "
            "(only alerts posted to its API make tickets)",
            file=sys.stderr,
        )
    return EXIT_OK


def _config_schema(args: argparse.Namespace) -> int:
    schema = VigieConfig.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "vigie configuration"
    print(json.dumps(schema, indent=2, sort_keys=True))
    return EXIT_OK


def _config_docs(args: argparse.Namespace) -> int:
    from vigie.config_docs import options_table

    print(options_table())
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return EXIT_USAGE
    if args.listen:
        config = config.model_copy(
            update={"server": config.server.model_copy(update={"listen": args.listen})}
        )
    from vigie.runtime import run_agent

    return asyncio.run(run_agent(config, shard=args.shard))


def _demo(args: argparse.Namespace) -> int:
    from probes._config import parse_duration
    from vigie.demo import run_demo

    try:
        fault_every = parse_duration(args.fault_every)
    except ValueError as exc:
        print(f"vigie demo: --fault-every: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return asyncio.run(
        run_demo(
            listen=args.listen,
            participants=args.participants,
            fault_every=fault_every,
            scenario=not args.no_scenario,
            control=args.control,
        )
    )


def _lab(args: argparse.Namespace) -> int:
    from vigie.demo import run_lab

    return asyncio.run(
        run_lab(
            participants=args.participants, control=args.control, write_config=args.write_config
        )
    )


if __name__ == "__main__":
    sys.exit(main())
