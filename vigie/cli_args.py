"""What every `vigie` command shares on its command line: the parser and the argument types.

A usage problem (unknown flag, missing or unreadable file, a value of the wrong form) is
found while parsing, before anything is imported or started, and ends as exit code 2 with
one line naming the command and the problem; an unknown flag also shows that command's
usage. The types import only what checking their value needs, so that `--help` stays fast.
It must never print a value that may be secret (a token): only the option's name.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandParser",
    "duration",
    "existing_dir",
    "existing_path",
    "host_port",
    "http_url",
    "positive_float",
    "positive_int",
]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

T = TypeVar("T")


class CommandParser(argparse.ArgumentParser):
    """argparse, with every usage error on one line and unknown flags blamed on the
    subcommand they were given to (argparse's default reports them at the top level)."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.print_usage(sys.stderr)
            self._fail(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras

    def add_subparsers(self, **kwargs: Any) -> Any:
        # A command given without its subcommand (`vigie probe`) shows its own help.
        self.set_defaults(usage_of=self)
        return super().add_subparsers(**kwargs)

    def error(self, message: str) -> NoReturn:
        self._fail(message)

    def _fail(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def existing_path(text: str) -> str:
    """A file or directory that exists and can be read."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or directory")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text}: not readable")
    return text


def existing_dir(text: str) -> str:
    """A directory to keep state in: made if missing, refused if it is a file."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: not a directory")
    return text


def _checked(text: str, check: Callable[[str], T]) -> T:
    """`check(text)`, its ValueError told as argparse tells a bad value."""
    try:
        return check(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def http_url(text: str) -> str:
    from vocab import http_url as check

    return _checked(text, check)


def host_port(text: str) -> str:
    from vocab import split_host_port

    _checked(text, split_host_port)
    return text


def duration(text: str) -> float:
    from vocab import parse_duration

    return _checked(text, parse_duration)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 1 or more")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0")
    return value
