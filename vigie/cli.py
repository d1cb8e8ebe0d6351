"""The `vigie` command line.

Every user error (bad configuration, missing file, port in use) ends as one clear line on
stderr and a non-zero exit, never a traceback. Exit codes: 0 ok, 1 runtime failure,
2 invalid configuration or usage. Building the parser imports nothing heavy: each command
imports what it needs when it runs, so `vigie --help` answers at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from vigie import DEFAULT_LISTEN, __version__
from vigie.cli_args import (
    EXIT_OK,
    EXIT_USAGE,
    CommandParser,
    duration,
    existing_dir,
    host_port,
    positive_int,
)

if TYPE_CHECKING:
    from vigie.config import VigieConfig

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # A peer's certificate may break X.520's upper bounds (real SMP certificates carry
    # common names over 64 characters), and cryptography warns each time such a name is
    # read. vigie reports that certificate by its facts like any other; a peer's data is
    # no reason for a Python warning on stderr.
    warnings.filterwarnings("ignore", message="Attribute's length must be", category=UserWarning)
    parser = build_parser(_command_named(argv))
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        getattr(args, "usage_of", parser).print_help()
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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or with `command` (a command's name) only that one of the
    commands defined in modules of their own: `vigie probe ...` parses the same, without
    importing the ticket client and its model or building the other parsers."""
    parser = CommandParser(
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
    run.add_argument("--listen", type=host_port, metavar="HOST:PORT", help="override server.listen")
    run.set_defaults(handler=_run)

    config = commands.add_parser("config", help="check a configuration file or print its schema")
    config_commands = config.add_subparsers(title="config commands", metavar="COMMAND")
    check = config_commands.add_parser("check", help="validate FILE and list every problem")
    check.add_argument("file", metavar="FILE", help="the YAML configuration to check")
    check.set_defaults(handler=_config_check)
    schema = config_commands.add_parser("schema", help="print the JSON Schema of the file")
    schema.set_defaults(handler=_config_schema)
    docs = config_commands.add_parser("docs", help="print the options table (Markdown)")
    docs.set_defaults(handler=_config_docs)

    demo = commands.add_parser(
        "demo", help="start the lab and an agent watching it, with faults injected over time"
    )
    demo.add_argument(
        "--listen",
        type=host_port,
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"the agent's address: metrics, API (default {DEFAULT_LISTEN})",
    )
    _lab_arguments(demo)
    demo.add_argument(
        "--fault-every",
        type=duration,
        default="3m",
        metavar="DURATION",
        help="time between the starts of two faults of the scenario (default 3m: each "
        "fault lasts a minute, and its story ends before the next one)",
    )
    demo.add_argument(
        "--no-scenario",
        action="store_true",
        help="inject no faults by itself (inject your own through the lab control)",
    )
    demo.set_defaults(handler=_demo)

    lab = commands.add_parser("lab", help="start the lab alone (DNS, PKI, SMP, AP, control)")
    _lab_arguments(lab)
    lab.add_argument(
        "--state-dir",
        type=existing_dir,
        metavar="DIR",
        help="keep the lab's ports, zone and PKI in DIR, so that it comes back the same "
        "on the next start (default: new ones each time, deleted on stop)",
    )
    lab.add_argument(
        "--write-config",
        metavar="FILE",
        help="write a vigie configuration watching the lab (a relative FILE goes into "
        "--state-dir when it is given)",
    )
    lab.set_defaults(handler=_lab)

    added: set[Callable[[Any], None]] = set()
    for name, add in _COMMAND_MODULES.items():
        if command in (None, name) and add not in added:
            added.add(add)
            add(commands)
    return parser


def _add_probe(commands: Any) -> None:
    from vigie.probe_cli import add_probe_commands

    add_probe_commands(commands)


def _add_diagnose(commands: Any) -> None:
    from vigie.diagnose_cli import add_diagnose_command

    add_diagnose_command(commands)


def _add_tickets(commands: Any) -> None:
    from vigie.ticket_cli import add_ticket_commands

    add_ticket_commands(commands)


def _add_mcp(commands: Any) -> None:
    from vigie.mcp_cli import add_mcp_command

    add_mcp_command(commands)


# The commands defined in modules of their own, by the name typed, in `--help`'s order.
_COMMAND_MODULES: dict[str, Callable[[Any], None]] = {
    "probe": _add_probe,
    "diagnose": _add_diagnose,
    "tickets": _add_tickets,
    "token": _add_tickets,
    "mcp": _add_mcp,
}


def _command_named(argv: Sequence[str]) -> str | None:
    """The command of `_COMMAND_MODULES` that `argv` names (the top level's options take
    no value), or None for any other: then the whole parser is built."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in _COMMAND_MODULES else None
    return None


def _lab_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--participants",
        type=positive_int,
        default=1000,
        metavar="N",
        help="participants in the lab's SML zone (default 1000)",
    )
    parser.add_argument(
        "--control",
        type=host_port,
        default="127.0.0.1:8943",
        metavar="HOST:PORT",
        help="the lab control: what the lab serves, and faults to inject and heal "
        "(default 127.0.0.1:8943)",
    )


def _shard(text: str) -> tuple[int, int]:
    from vigie.scheduler import parse_shard

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _load(path: str, *, read_files: bool = False) -> VigieConfig | None:
    from vigie.config import ConfigError, load_config

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
    from collections import Counter

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
    import json

    from vigie.config import VigieConfig

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
    import asyncio

    from vigie.runtime import run_agent

    return asyncio.run(run_agent(config, shard=args.shard))


def _demo(args: argparse.Namespace) -> int:
    import asyncio

    from vigie.demo import run_demo

    return asyncio.run(
        run_demo(
            listen=args.listen,
            participants=args.participants,
            fault_every=args.fault_every,
            scenario=not args.no_scenario,
            control=args.control,
        )
    )


def _lab(args: argparse.Namespace) -> int:
    import asyncio

    from vigie.demo import run_lab

    return asyncio.run(
        run_lab(
            participants=args.participants,
            control=args.control,
            write_config=args.write_config,
            state_dir=args.state_dir,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
