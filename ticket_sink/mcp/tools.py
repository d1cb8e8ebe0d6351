"""The MCP tools: one table, each row a name, a description for a model, an input model,
the role it needs, the API operations it calls and how it shapes their answers.

Every tool reads and writes through the API's operations (`dispatch.LocalApi`), so it sees
and refuses exactly what the API would; answers keep the API's field names and ISO 8601
times, cut to the answer budget with an offset or cursor to continue (`paging`). The docs'
tool list is made from this table (`tool_table_markdown`). A tool must never reach the
store, and never answer more than the budget.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from ticket_sink.api.auth import Role
from ticket_sink.api.fields import IsoTime, Matchers, Text, TicketId
from ticket_sink.api.notice_models import SilenceCreate
from ticket_sink.api.queries import encode_cursor
from ticket_sink.api.ticket_models import PublicAction, TicketListQuery
from ticket_sink.codec import iso, parse_iso
from ticket_sink.mcp.dispatch import Caller, LocalApi, ToolFailure
from ticket_sink.mcp.paging import fit_list, fit_tickets
from ticket_sink.model import CloseReason, EscalationLevel

__all__ = ["TOOLS", "Session", "Tool", "tool_table_markdown"]


@dataclass(frozen=True, slots=True)
class Session:
    """What a tool runs with: the API, who calls, and the answer budget in bytes."""

    api: LocalApi
    caller: Caller
    budget: int

    async def call(self, operation_id: str, **inputs: Any) -> Any:
        return await self.api.call(operation_id, self.caller, **inputs)


Run = Callable[[Session, Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    title: str
    description: str  # for a model: what it returns and when to use it
    arguments: type[BaseModel]
    role: Role  # the weakest role that may call it (the operations' own)
    operations: tuple[str, ...]  # the API operations it calls: offered only where all are
    run: Run

    @property
    def read_only(self) -> bool:
        return self.role is Role.VIEWER


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


Offset = Annotated[int, Field(ge=0, le=100_000, description="where the page starts (0: first)")]


# -- reads ------------------------------------------------------------------------------------


class ListTicketsArgs(TicketListQuery):
    limit: int = Field(20, ge=1, le=50, description="tickets per page")


def _cursor_after(ticket: dict[str, Any]) -> str:
    return encode_cursor(parse_iso(ticket["created_at"]), ticket["id"])


async def _list_tickets(session: Session, args: ListTicketsArgs) -> dict[str, Any]:
    page = await session.call("listTickets", query=args.model_dump(mode="json"))
    return fit_tickets(page, budget=session.budget, cursor_after=_cursor_after)


class GetTicketArgs(_Args):
    id: TicketId = Field(description="the ticket id, such as T01J...")
    history_offset: Offset = 0


async def _get_ticket(session: Session, args: GetTicketArgs) -> dict[str, Any]:
    detail = await session.call("getTicket", params={"id": args.id})
    return fit_list(detail, "history", offset=args.history_offset, budget=session.budget)


class SimilarTicketsArgs(_Args):
    id: TicketId = Field(description="the ticket to compare with")
    limit: int = Field(10, ge=1, le=50)


# Labels that say what failed and where; their shared values make two tickets alike.
_LIKENESS = ("alertname", "kind", "service", "target", "reason")


async def _similar_tickets(session: Session, args: SimilarTicketsArgs) -> dict[str, Any]:
    detail = await session.call("getTicket", params={"id": args.id})
    ticket = detail["ticket"]
    labels: dict[str, str] = ticket["labels"]
    query: dict[str, Any] = {"limit": 200}
    if "alertname" in labels:
        query["label"] = [f"alertname={labels['alertname']}"]
    else:
        query["text"] = ticket["title"][:100]
    page = await session.call("listTickets", query=query)
    found = []
    for other in page["items"]:
        if other["id"] == ticket["id"]:
            continue
        shared = sorted(
            name
            for name in _LIKENESS
            if name in labels and other["labels"].get(name) == labels[name]
        )
        found.append({"shared_labels": shared, "ticket": other})
    # Most alike first; among equals the newest (the API's order) first.
    found.sort(key=lambda entry: -len(entry["shared_labels"]))
    answer = {"of": ticket["id"], "items": found[: args.limit]}
    return fit_list(answer, "items", offset=0, budget=session.budget)


class ListSilencesArgs(_Args):
    include_expired: bool = Field(False, description="also the silences that have ended")
    offset: Offset = 0


async def _list_silences(session: Session, args: ListSilencesArgs) -> dict[str, Any]:
    found = await session.call("listSilences", query={"include_expired": args.include_expired})
    return fit_list(found, "items", offset=args.offset, budget=session.budget)


class ListKnownErrorsArgs(_Args):
    offset: Offset = 0


async def _list_known_errors(session: Session, args: ListKnownErrorsArgs) -> dict[str, Any]:
    found = await session.call("listKnownErrors", query={})
    return fit_list(found, "items", offset=args.offset, budget=session.budget)


class LatestChecksArgs(_Args):
    failing_only: bool = Field(False, description="only the checks whose last run failed")
    kind: Annotated[str, Field(min_length=1, max_length=100)] | None = Field(
        None, description="only checks of this kind (dns, http, tls, crl, ocsp, smp, ...)"
    )
    offset: Offset = 0


def _check_rank(check: dict[str, Any]) -> int:
    return {False: 0, None: 1, True: 2}[check["success"]]


async def _latest_checks(session: Session, args: LatestChecksArgs) -> dict[str, Any]:
    found = await session.call("listProbes")
    items = []
    for check in found["items"]:
        if args.failing_only and check["success"] is not False:
            continue
        if args.kind is not None and check["kind"] != args.kind:
            continue
        finished = check.get("finished_at")
        if isinstance(finished, int | float):
            check = {**check, "finished_at": iso(datetime.fromtimestamp(finished, UTC))}
        items.append(check)
    items.sort(key=_check_rank)  # stable: failing, then not yet run, then passing
    return fit_list({"items": items}, "items", offset=args.offset, budget=session.budget)


class ReportArgs(_Args):
    since: IsoTime = Field(description="start of the period, ISO 8601 with an offset")
    until: IsoTime | None = Field(None, description="end of the period (default: now)")


async def _report(session: Session, args: ReportArgs) -> dict[str, Any]:
    query = args.model_dump(mode="json", exclude_none=True)
    answer: dict[str, Any] = await session.call("getReport", query=query)
    return answer


class DiagnoseArgs(_Args):
    participant: Annotated[str, Field(min_length=4, max_length=300)] = Field(
        description="the participant identifier, SCHEME::VALUE, such as "
        "iso6523-actorid-upis::0088:5798000000001"
    )
    zone: Annotated[str, Field(min_length=1, max_length=130)] = Field(
        description="the SML zone to look it up in (one this agent watches)"
    )
    document_type: Annotated[str, Field(min_length=4, max_length=500)] | None = Field(
        None, description="one document type, SCHEME::VALUE (default: the listed ones)"
    )
    offset: Offset = 0


async def _diagnose_participant(session: Session, args: DiagnoseArgs) -> dict[str, Any]:
    query = args.model_dump(mode="json", include={"zone", "document_type"}, exclude_none=True)
    found = await session.call("diagnoseParticipant", params={"id": args.participant}, query=query)
    return fit_list(found, "steps", offset=args.offset, budget=session.budget)


# -- writes -----------------------------------------------------------------------------------


class TransitionArgs(_Args):
    id: TicketId
    action: PublicAction = Field(
        description="acknowledge (take a new ticket), start, hold (waiting for a third "
        "party; pauses the SLA), resume, resolve (needs resolution), reject_resolution, "
        "close (needs reason), escalate (optional level), reassign (needs group)"
    )
    resolution: Text | None = Field(None, description="resolve: what solved it")
    reason: CloseReason | None = Field(None, description="close: why")
    level: EscalationLevel | None = Field(None, description="escalate: to this level (1-4)")
    group: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="reassign: the new assignee group"
    )


async def _transition_ticket(session: Session, args: TransitionArgs) -> dict[str, Any]:
    body = args.model_dump(mode="json", exclude={"id"}, exclude_none=True)
    ticket: dict[str, Any] = await session.call(
        "transitionTicket", params={"id": args.id}, body=body
    )
    return {"ticket": ticket}


class CommentArgs(_Args):
    id: TicketId
    text: Text = Field(description="the comment, plain text")


async def _comment_ticket(session: Session, args: CommentArgs) -> dict[str, Any]:
    note = await session.call("commentTicket", params={"id": args.id}, body={"text": args.text})
    return {"comment": note}


class CreateSilenceArgs(SilenceCreate):
    pass


async def _create_silence(session: Session, args: CreateSilenceArgs) -> dict[str, Any]:
    body = args.model_dump(mode="json", exclude_none=True)
    return {"silence": await session.call("createSilence", body=body)}


class ExpireSilenceArgs(_Args):
    id: Annotated[str, Field(min_length=1, max_length=64)] = Field(description="the silence id")


async def _expire_silence(session: Session, args: ExpireSilenceArgs) -> dict[str, Any]:
    return {"silence": await session.call("expireSilence", params={"id": args.id})}


class AddKnownErrorArgs(_Args):
    matchers: Matchers
    workaround: Text | None = Field(None, description="what to do when it happens")
    from_ticket: TicketId | None = Field(
        None, description="instead of a workaround: take this resolved ticket's resolution"
    )


async def _add_known_error(session: Session, args: AddKnownErrorArgs) -> dict[str, Any]:
    if (args.workaround is None) == (args.from_ticket is None):
        raise ToolFailure("give either workaround or from_ticket, not both nor neither")
    body = args.model_dump(mode="json", exclude_none=True)
    return {"known_error": await session.call("createKnownError", body=body)}


TOOLS: Sequence[Tool] = (
    Tool(
        "list_tickets",
        "List tickets",
        "Tickets newest first, with the API's filters (state, severity, type, label "
        "matchers, master, title text, updated_since). Use it to find the open incidents "
        "(state new/open/in_progress) or what a label points at. Returns items and "
        "next_cursor: pass it as cursor for the next page (null: no more).",
        ListTicketsArgs,
        Role.VIEWER,
        ("listTickets",),
        _list_tickets,
    ),
    Tool(
        "get_ticket",
        "Read a ticket",
        "One ticket in full: the ticket, its children, its history (audit events, oldest "
        "first, paged with history_offset), comments, SLA clocks, workaround and the "
        "actions allowed now. Use it before acting on a ticket.",
        GetTicketArgs,
        Role.VIEWER,
        ("getTicket",),
        _get_ticket,
    ),
    Tool(
        "similar_tickets",
        "Find similar tickets",
        "Other tickets of the same alert (same alertname, or the same title for reported "
        "tickets), those sharing most of alertname, kind, service, target and reason "
        "first. Use it to see whether a problem happened before and how it was resolved.",
        SimilarTicketsArgs,
        Role.VIEWER,
        ("getTicket", "listTickets"),
        _similar_tickets,
    ),
    Tool(
        "list_silences",
        "List silences",
        "Silences (maintenance windows) holding the notifications of matching tickets; "
        "active ones unless include_expired. Paged with offset.",
        ListSilencesArgs,
        Role.VIEWER,
        ("listSilences",),
        _list_silences,
    ),
    Tool(
        "list_known_errors",
        "List known errors",
        "The known-error base: label matchers and the workaround attached to matching "
        "tickets. Paged with offset.",
        ListKnownErrorsArgs,
        Role.VIEWER,
        ("listKnownErrors",),
        _list_known_errors,
    ),
    Tool(
        "latest_checks",
        "Latest check results",
        "The last result of every check the agent runs, failing first, each with its "
        "findings (reason, detail, measured values, phase timings, finished_at). Use it "
        "to see what is broken now. Paged with offset.",
        LatestChecksArgs,
        Role.VIEWER,
        ("listProbes",),
        _latest_checks,
    ),
    Tool(
        "report",
        "Ticket report",
        "Counts of a period by state, severity and type, MTTA and MTTR in seconds and "
        "SLA compliance (met / (met + breached)).",
        ReportArgs,
        Role.VIEWER,
        ("getReport",),
        _report,
    ),
    Tool(
        "diagnose_participant",
        "Diagnose a participant's delivery path",
        "Follow one participant's whole delivery path now: SML lookup, SMP service group, "
        "signed metadata, endpoints, certificates and revocation. Returns whole, the first "
        "broken step and a one-line headline, then each step with its finding and time. "
        "Use it when a participant cannot be reached; it takes seconds, and the agent runs "
        "only a few at once (try again when told so).",
        DiagnoseArgs,
        Role.VIEWER,
        ("diagnoseParticipant",),
        _diagnose_participant,
    ),
    Tool(
        "transition_ticket",
        "Move a ticket through its lifecycle",
        "Acknowledge, start, hold, resume, resolve (with resolution), reject the "
        "resolution, close (with reason), escalate or reassign a ticket. Refused with the "
        "reason when the lifecycle does not allow it now (get_ticket lists the allowed "
        "actions). Recorded under your token's name. Returns the ticket.",
        TransitionArgs,
        Role.RESPONDER,
        ("transitionTicket",),
        _transition_ticket,
    ),
    Tool(
        "comment_ticket",
        "Comment a ticket",
        "Add a comment to a ticket's record (findings, what was tried). Recorded under "
        "your token's name. Returns the comment.",
        CommentArgs,
        Role.RESPONDER,
        ("commentTicket",),
        _comment_ticket,
    ),
    Tool(
        "create_silence",
        "Create a silence",
        "Hold the notifications of tickets whose labels match every matcher until ends_at "
        "(a maintenance window). Nothing is dropped: what it held is sent when it ends. "
        "Returns the silence.",
        CreateSilenceArgs,
        Role.RESPONDER,
        ("createSilence",),
        _create_silence,
    ),
    Tool(
        "expire_silence",
        "End a silence",
        "End a silence now; the notifications it held are sent. Returns the silence.",
        ExpireSilenceArgs,
        Role.RESPONDER,
        ("expireSilence",),
        _expire_silence,
    ),
    Tool(
        "add_known_error",
        "Record a known error",
        "Add a known-error entry: label matchers and a workaround (or from_ticket, a "
        "resolved ticket whose resolution becomes the workaround). Matching tickets being "
        "worked get the workaround at once. Returns the entry.",
        AddKnownErrorArgs,
        Role.ADMIN,
        ("createKnownError",),
        _add_known_error,
    ),
)


def tool_table_markdown(tools: Sequence[Tool] = TOOLS) -> str:
    """The tool list of docs/mcp.md: name, role, what it does, its arguments."""
    lines = ["| tool | role | what it does | arguments |", "|---|---|---|---|"]
    for tool in tools:
        arguments = ", ".join(
            f"`{name}`" if info.is_required() else f"`{name}`?"
            for name, info in tool.arguments.model_fields.items()
        )
        lines.append(f"| `{tool.name}` | {tool.role} | {tool.description} | {arguments} |")
    return "\n".join(lines) + "\n"
