"""Tickets over HTTP on SQLite and PostgreSQL: report one as a service desk form would,
find it with filters and cursors, see its detail, move it through its lifecycle (refused
moves say why), comment, hang it under a master and detach it; every write is recorded
under the token's name."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.ticket_sink.api.conftest import NAMES, auth, report, transition
from ticket_sink.api import Role

Client = TestClient[Any, Any]
VIEW = auth(Role.VIEWER)


# Tickets of service `crl` get this workaround.
CRL_KNOWN_ERROR = {
    "matchers": [{"name": "service", "op": "=", "value": "crl"}],
    "workaround": "use the cached CRL",
}


async def add_known_error(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    """The entry the admin's POST /known-errors of `body` created."""
    response = await client.post("/api/v1/known-errors", json=body, headers=auth(Role.ADMIN))
    assert response.status == 201, await response.text()
    entry: dict[str, Any] = await response.json()
    return entry


async def detail(client: Client, ticket_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/tickets/{ticket_id}", headers=VIEW)
    assert response.status == 200, await response.text()
    data: dict[str, Any] = await response.json()
    return data


async def listing(client: Client, query: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/tickets?{query}", headers=VIEW)
    assert response.status == 200, await response.text()
    data: dict[str, Any] = await response.json()
    return data


async def test_a_reported_ticket_shows_in_full(client: Client) -> None:
    created = await report(client, labels={"service": "smp", "target": "smp1"}, severity=1)

    shown = await detail(client, created["id"])

    assert shown["ticket"] == created
    assert created["state"] == "new"
    assert created["id"].startswith("T")
    assert len(created["id"]) == 11
    assert created["created_at"].endswith("Z")
    assert shown["comments"] == [
        {
            "author": NAMES[Role.RESPONDER],
            "at": created["created_at"],
            "text": "every lookup fails since 10:02",
        }
    ]
    assert next((e["action"], e["field"], e["after"]) for e in shown["history"]) == (
        "create",
        "state",
        "new",
    )
    assert {e["actor"] for e in shown["history"]} == {NAMES[Role.RESPONDER]}
    # Severity 1 runs around the clock: one hour to respond, four to resolve.
    assert shown["sla"]["response"]["target_seconds"] == 3600
    assert shown["sla"]["response"]["running"] is True
    assert shown["sla"]["resolution"]["target_seconds"] == 4 * 3600
    assert shown["allowed_actions"] == [
        "acknowledge",
        "close",
        "escalate",
        "deescalate",
        "reassign",
    ]
    assert shown["workaround"] is None


async def test_the_form_requires_its_fields(client: Client) -> None:
    response = await client.post(
        "/api/v1/tickets",
        json={"title": "disk full", "type": "incident", "severity": 2},
        headers=auth(Role.RESPONDER),
    )

    assert response.status == 400
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["field"] == "description"
    assert "description" in problem["detail"]


async def test_a_matching_known_error_attaches_its_workaround(client: Client) -> None:
    entry = await add_known_error(client, CRL_KNOWN_ERROR)

    created = await report(client, labels={"service": "crl"})

    assert created["workaround"] == "use the cached CRL"
    shown = await detail(client, created["id"])
    assert shown["workaround"] == {"known_error_id": entry["id"], "text": "use the cached CRL"}
    listed = await (await client.get("/api/v1/known-errors", headers=VIEW)).json()
    assert [item["id"] for item in listed["items"]] == [entry["id"]]
    assert listed["items"][0]["created_by"] == NAMES[Role.ADMIN]


async def test_a_new_known_error_attaches_to_matching_open_tickets(client: Client) -> None:
    matching = await report(client, labels={"service": "crl"})
    other = await report(client, labels={"service": "smp"})
    entry = await add_known_error(client, CRL_KNOWN_ERROR)

    shown = await detail(client, matching["id"])
    assert shown["workaround"] == {"known_error_id": entry["id"], "text": "use the cached CRL"}
    assert (await detail(client, other["id"]))["workaround"] is None


async def test_a_resolution_becomes_a_known_error(client: Client) -> None:
    ticket = await report(client)
    await transition(client, ticket["id"], "acknowledge")
    await transition(client, ticket["id"], "resolve", resolution="restart the SMP")

    entry = await add_known_error(
        client,
        {
            "matchers": [{"name": "service", "op": "=~", "value": "sm.*"}],
            "from_ticket": ticket["id"],
        },
    )

    assert entry["workaround"] == "restart the SMP"


async def test_the_lifecycle_through_the_api(client: Client) -> None:
    ticket_id = (await report(client))["id"]
    steps: list[tuple[str, dict[str, Any], str]] = [
        ("acknowledge", {}, "open"),
        ("start", {}, "in_progress"),
        ("hold", {}, "on_hold"),
        ("resume", {}, "in_progress"),
        ("escalate", {"level": 3}, "in_progress"),
        ("reassign", {"group": "pki-team"}, "in_progress"),
        ("resolve", {"resolution": "CRL republished"}, "resolved"),
        ("reject_resolution", {}, "open"),
        ("start", {}, "in_progress"),
        ("resolve", {"resolution": "CRL republished, for real"}, "resolved"),
        ("close", {"reason": "resolved"}, "closed"),
    ]
    for action, args, state in steps:
        response = await transition(client, ticket_id, action, **args)
        assert response.status == 200, (action, await response.text())
        assert (await response.json())["state"] == state, action

    final = (await detail(client, ticket_id))["ticket"]
    assert (final["escalation_level"], final["assignee_group"]) == (3, "pki-team")
    assert final["close_reason"] == "resolved"


async def test_a_refused_transition_is_409_with_the_lifecycles_reason(client: Client) -> None:
    ticket_id = (await report(client))["id"]

    response = await transition(client, ticket_id, "resolve", resolution="done")

    assert response.status == 409
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["detail"].startswith(f"ticket {ticket_id} (new): resolve is not allowed")
    assert "acknowledge" in problem["detail"]
    # Closing a new ticket needs a reason allowed from `new`.
    refused = await (await transition(client, ticket_id, "close", reason="resolved")).json()
    assert "close needs a reason among: duplicate, invalid" in refused["detail"]
    assert (await detail(client, ticket_id))["ticket"]["state"] == "new"


async def test_a_missing_transition_argument_is_400_naming_it(client: Client) -> None:
    ticket_id = (await report(client))["id"]

    response = await transition(client, ticket_id, "reassign")

    assert response.status == 400
    assert (await response.json())["field"] == "group"


async def test_unknown_ticket_is_404(client: Client) -> None:
    for response in (
        await client.get("/api/v1/tickets/TNOSUCHTICK", headers=VIEW),
        await transition(client, "TNOSUCHTICK", "acknowledge"),
        await client.post(
            "/api/v1/tickets/TNOSUCHTICK/comments",
            json={"text": "hi"},
            headers=auth(Role.RESPONDER),
        ),
    ):
        assert response.status == 404
        assert (await response.json())["detail"] == "no ticket TNOSUCHTICK"


async def test_comments_are_attributed_to_the_token(client: Client) -> None:
    ticket_id = (await report(client))["id"]

    response = await client.post(
        f"/api/v1/tickets/{ticket_id}/comments",
        json={"text": "called the SMP operator"},
        headers=auth(Role.ADMIN),
    )

    assert response.status == 201
    assert (await response.json())["author"] == NAMES[Role.ADMIN]
    texts = [(c["author"], c["text"]) for c in (await detail(client, ticket_id))["comments"]]
    assert texts[-1] == (NAMES[Role.ADMIN], "called the SMP operator")


async def test_link_under_a_master_then_detach(client: Client) -> None:
    master = (await report(client, title="SML name servers down"))["id"]
    child = (await report(client, title="participant lookups fail"))["id"]
    link = f"/api/v1/tickets/{child}/master"

    linked = await client.put(link, json={"master_id": master}, headers=auth(Role.RESPONDER))

    assert linked.status == 200, await linked.text()
    assert (await linked.json())["master_id"] == master
    shown = await detail(client, master)
    assert [c["id"] for c in shown["children"]] == [child]
    children = await listing(client, f"master={master}")
    assert [t["id"] for t in children["items"]] == [child]
    top = await listing(client, "master=none")
    assert child not in [t["id"] for t in top["items"]]

    detached = await client.delete(link, headers=auth(Role.RESPONDER))

    assert detached.status == 200
    assert (await detached.json())["master_id"] is None
    history = (await detail(client, child))["history"]
    assert [(e["action"], e["before"], e["after"]) for e in history[-2:]] == [
        ("link", None, master),
        ("detach", master, None),
    ]


async def test_linking_refusals(client: Client) -> None:
    one = (await report(client))["id"]
    two = (await report(client))["id"]
    three = (await report(client))["id"]
    headers = auth(Role.RESPONDER)
    assert (
        await client.put(f"/api/v1/tickets/{two}/master", json={"master_id": one}, headers=headers)
    ).status == 200

    cases = {
        "itself": (one, one, "cannot be its own master"),
        "missing master": (one, "TNOSUCHTICK", "no ticket TNOSUCHTICK"),
        "master is a child": (three, two, f"hangs under {one}"),
    }
    for name, (ticket, master, message) in cases.items():
        response = await client.put(
            f"/api/v1/tickets/{ticket}/master", json={"master_id": master}, headers=headers
        )
        assert response.status == 409, name
        assert message in (await response.json())["detail"], name


async def test_resolving_a_master_resolves_its_children(client: Client) -> None:
    master = (await report(client))["id"]
    child = (await report(client))["id"]
    headers = auth(Role.RESPONDER)
    await client.put(f"/api/v1/tickets/{child}/master", json={"master_id": master}, headers=headers)
    await transition(client, master, "acknowledge")

    response = await transition(client, master, "resolve", resolution="name servers back")

    assert response.status == 200
    resolved = (await detail(client, child))["ticket"]
    assert resolved["state"] == "resolved"
    assert resolved["resolution"] == f"resolved with master ticket {master}: name servers back"


async def test_filters(client: Client) -> None:
    smp = (await report(client, labels={"service": "smp", "target": "smp1"}, severity=1))["id"]
    crl = (await report(client, title="CRL stale", labels={"service": "crl"}, type="request"))["id"]
    await transition(client, crl, "acknowledge")
    cases = {
        "state=new": [smp],
        "state=new&state=open": [crl, smp],
        "severity=1": [smp],
        "type=request": [crl],
        "label=service%3Dsmp": [smp],
        "label=service%21%3Dsmp": [crl],
        "label=service%3D~c.l": [crl],
        "label=target%21~smp.*": [crl],
        "text=crl": [crl],
        "text=%25": [],  # a literal %, not a wildcard
        "updated_since=2000-01-01T00:00:00Z": [crl, smp],
        "updated_since=2999-01-01T00:00:00Z": [],
    }
    for query, expected in cases.items():
        found = await listing(client, query)
        assert [t["id"] for t in found["items"]] == expected, query


async def test_cursor_pagination_walks_every_ticket_once(client: Client) -> None:
    created = [(await report(client, labels={"n": str(n)}))["id"] for n in range(5)]
    for query in ("limit=2", "limit=2&label=n%3D~.*"):
        seen: list[str] = []
        cursor = ""
        for _ in range(10):
            page = await listing(client, query + cursor)
            seen += [t["id"] for t in page["items"]]
            if page["next_cursor"] is None:
                break
            cursor = f"&cursor={page['next_cursor']}"
        assert seen == list(reversed(created)), query


async def test_bad_filters_are_400_naming_the_parameter(client: Client) -> None:
    cases = {
        "state=fixed": "state[0]",
        "severity=7": "severity[0]",
        "limit=0": "limit",
        "cursor=garbage": "cursor",
        "label=service%3D~%28": "label[0]",
        "updated_since=yesterday": "updated_since",
        "updated_since=2025-01-01T00:00:00": "updated_since",  # no UTC offset
        "colour=red": "colour",
    }
    for query, field in cases.items():
        response = await client.get(f"/api/v1/tickets?{query}", headers=VIEW)
        assert response.status == 400, query
        assert (await response.json())["field"] == field, query
