"""`vigie tickets ...` and `vigie token hash`: the ticket API from a terminal.

A thin client of a running agent's HTTP API (URL and token from flags or VIGIE_URL and
VIGIE_TOKEN): human tables by default, the API's own JSON with --json. It must never
print a token, and every failure ends as one line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ticket_sink.model import CloseReason
from vigie import DEFAULT_LISTEN
from vigie.cli_args import http_url, positive_int
from vocab.errors import TargetError

if TYPE_CHECKING:
    import httpx

__all__ = ["add_ticket_commands", "format_table"]

EXIT_OK, EXIT_FAILURE = 0, 1
DEFAULT_URL = f"http://{DEFAULT_LISTEN}"
TIMEOUT_SECONDS = 10.0


class ApiFailure(TargetError):
    """The agent refused or could not be reached; the message is for the user."""


def add_ticket_commands(commands: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        type=http_url,
        default=None,
        help=f"agent URL (default: $VIGIE_URL or {DEFAULT_URL})",
    )
    common.add_argument("--token", default=None, help="bearer token (default: $VIGIE_TOKEN)")
    common.add_argument("--json", action="store_true", help="print the API's JSON")

    tickets = commands.add_parser("tickets", help="list, show and work tickets on an agent")
    actions = tickets.add_subparsers(title="ticket commands", metavar="COMMAND")

    listing = actions.add_parser("list", parents=[common], help="tickets, newest first")
    listing.add_argument("--state", action="append", default=[], help="a state (repeatable)")
    listing.add_argument(
        "--severity", action="append", default=[], help="a severity, 1-4 (repeatable)"
    )
    listing.add_argument(
        "--type", action="append", default=[], help="incident, request or change (repeatable)"
    )
    listing.add_argument(
        "--label", action="append", default=[], help="name=value, =~, !=, !~ (repeatable)"
    )
    listing.add_argument("--master", help="children of this ticket, or none")
    listing.add_argument("--text", help="substring of the title")
    listing.add_argument(
        "--limit", type=positive_int, default=50, help="at most this many (default 50)"
    )
    listing.set_defaults(handler=_command(_list))

    show = actions.add_parser("show", parents=[common], help="one ticket in full")
    show.add_argument("id", help="the ticket's id")
    show.set_defaults(handler=_command(_show))

    ack = actions.add_parser("ack", parents=[common], help="acknowledge a new ticket")
    ack.add_argument("id", help="the ticket's id")
    ack.set_defaults(handler=_command(_transition("acknowledge")))

    resolve = actions.add_parser("resolve", parents=[common], help="resolve with a resolution")
    resolve.add_argument("id", help="the ticket's id")
    resolve.add_argument("resolution", help="what solved it, or the workaround")
    resolve.set_defaults(handler=_command(_transition("resolve", "resolution")))

    close = actions.add_parser("close", parents=[common], help="close with a reason")
    close.add_argument("id", help="the ticket's id")
    close.add_argument(
        "--reason",
        required=True,
        choices=[reason.value for reason in CloseReason],
        help="why it closes",
    )
    close.set_defaults(handler=_command(_transition("close", "reason")))

    comment = actions.add_parser("comment", parents=[common], help="add a comment")
    comment.add_argument("id", help="the ticket's id")
    comment.add_argument("text", help="the comment")
    comment.set_defaults(handler=_command(_comment))

    token = commands.add_parser("token", help="make API tokens")
    token_actions = token.add_subparsers(title="token commands", metavar="COMMAND")
    hashing = token_actions.add_parser(
        "hash", help="print the hash to put in api.tokens[].hash (the token is read from stdin)"
    )
    hashing.add_argument(
        "--generate",
        action="store_true",
        help="make a new random token; print it (keep it secret) and then its hash",
    )
    hashing.set_defaults(handler=_token_hash)


def _token_hash(args: argparse.Namespace) -> int:
    from ticket_sink.api import hash_token

    if args.generate:
        token = secrets.token_urlsafe(32)
        print(token)
    else:
        # stdin, not an argument: arguments end up in shell history and `ps`.
        token = sys.stdin.readline().strip()
        if not token:
            print("vigie token hash: no token on stdin", file=sys.stderr)
            return EXIT_FAILURE
    print(hash_token(token))
    return EXIT_OK


Action = Callable[["httpx.Client", argparse.Namespace], int]


def _command(action: Action) -> Callable[[argparse.Namespace], int]:
    def handle(args: argparse.Namespace) -> int:
        import httpx

        url = (args.url or os.environ.get("VIGIE_URL") or DEFAULT_URL).rstrip("/")
        token = args.token or os.environ.get("VIGIE_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            with httpx.Client(
                base_url=f"{url}/api/v1",
                headers=headers,
                timeout=TIMEOUT_SECONDS,
                trust_env=False,
            ) as client:
                return action(client, args)
        except ApiFailure as exc:
            print(f"vigie tickets: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        except httpx.HTTPError as exc:
            print(f"vigie tickets: cannot reach {url}: {exc}", file=sys.stderr)
            return EXIT_FAILURE

    return handle


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    response = client.request(method, path, **kwargs)
    if response.is_success:
        return response.json()
    try:
        problem = response.json()
        detail = problem.get("detail") or response.reason_phrase
    except ValueError:
        detail = response.text.strip() or response.reason_phrase
    raise ApiFailure(f"{response.status_code} {response.reason_phrase}: {detail}")


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def format_table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=False)]
    lines = [headers, *rows]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _list(client: httpx.Client, args: argparse.Namespace) -> int:
    params: list[tuple[str, str | int]] = [("limit", args.limit)]
    for name in ("state", "severity", "type", "label"):
        params += [(name, value) for value in getattr(args, name)]
    if args.master:
        params.append(("master", args.master))
    if args.text:
        params.append(("text", args.text))
    page = _call(client, "GET", "/tickets", params=params)
    if args.json:
        _print_json(page)
        return EXIT_OK
    rows = [
        (t["id"], str(t["severity"]), t["state"], t["type"], t["created_at"], t["title"])
        for t in page["items"]
    ]
    print(format_table(rows, ("ID", "SEV", "STATE", "TYPE", "CREATED", "TITLE")))
    if page["next_cursor"]:
        print(f"(more: raise --limit, or page with the API's cursor {page['next_cursor']})")
    return EXIT_OK


def _show(client: httpx.Client, args: argparse.Namespace) -> int:
    detail = _call(client, "GET", f"/tickets/{args.id}")
    if args.json:
        _print_json(detail)
        return EXIT_OK
    ticket = detail["ticket"]
    fields = [
        ("id", ticket["id"]),
        ("title", ticket["title"]),
        ("state", ticket["state"]),
        ("severity", ticket["severity"]),
        ("type", ticket["type"]),
        ("escalation", ticket["escalation_level"]),
        ("group", ticket["assignee_group"] or "-"),
        ("master", ticket["master_id"] or "-"),
        ("created", ticket["created_at"]),
        ("labels", ", ".join(f"{k}={v}" for k, v in sorted(ticket["labels"].items())) or "-"),
        ("resolution", ticket["resolution"] or "-"),
        ("workaround", (detail["workaround"] or {}).get("text", "-")),
        ("next", ", ".join(detail["allowed_actions"]) or "-"),
    ]
    for clock in ("response", "resolution"):
        state = detail["sla"][clock]
        if state is not None:
            verdict = "breached" if state["breached"] else "met" if state["met"] else "running"
            fields.append((f"sla {clock}", f"due {state['due'] or '-'} ({verdict})"))
    print("\n".join(f"{name:<12} {value}" for name, value in fields))
    if detail["children"]:
        print("\nchildren")
        rows = [(c["id"], str(c["severity"]), c["state"], c["title"]) for c in detail["children"]]
        print(format_table(rows, ("ID", "SEV", "STATE", "TITLE")))
    if detail["comments"]:
        print("\ncomments")
        for note in detail["comments"]:
            print(f"  {note['at']} {note['author']}: {note['text']}")
    return EXIT_OK


def _transition(action: str, argument: str | None = None) -> Action:
    def run(client: httpx.Client, args: argparse.Namespace) -> int:
        body = {"action": action}
        if argument is not None:
            body[argument] = getattr(args, argument)
        ticket = _call(client, "POST", f"/tickets/{args.id}/transitions", json=body)
        if args.json:
            _print_json(ticket)
        else:
            print(f"{ticket['id']}: {ticket['state']}")
        return EXIT_OK

    return run


def _comment(client: httpx.Client, args: argparse.Namespace) -> int:
    note = _call(client, "POST", f"/tickets/{args.id}/comments", json={"text": args.text})
    if args.json:
        _print_json(note)
    else:
        print(f"{args.id}: comment added by {note['author']}")
    return EXIT_OK
