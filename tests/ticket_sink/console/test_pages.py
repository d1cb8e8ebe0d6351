"""The console over HTTP: every page valid HTML, actions by form post through the service
layer with the signed-in name in the audit trail, roles and CSRF enforced, hostile input
answered without a 500."""

from __future__ import annotations

import asyncio
import io
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient

from tests.ticket_sink.api.conftest import NAMES, auth, report
from tests.ticket_sink.console.conftest import csrf_of, sign_in, valid_html
from ticket_sink.api import Role
from ticket_sink.console import CONTENT_SECURITY_POLICY
from ticket_sink.console.render import Renderer

Client = TestClient[Any, Any]
PAGES = ["/console/", "/console/silences", "/console/known-errors", "/console/checks"]


async def _detail(client: Client, ticket_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/tickets/{ticket_id}", headers=auth(Role.VIEWER))
    data: dict[str, Any] = await response.json()
    return data


@pytest.mark.parametrize("role", [Role.VIEWER, Role.RESPONDER, Role.ADMIN], ids=str)
async def test_every_page_is_valid_html_with_the_security_headers(
    console: Client, role: Role
) -> None:
    ticket = await report(console, labels={"service": "smp", "target": "smp1"})
    await sign_in(console, role)
    for path in [*PAGES, f"/console/tickets/{ticket['id']}", "/console/?state=closed&page=3"]:
        response = await console.get(path)
        page = await response.text()
        assert response.status == 200, (path, page)
        valid_html(page)
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
        assert "<script>" not in page
        assert " on" + "click=" not in page
        assert response.headers["Cache-Control"] == "no-store"


async def test_head_answers_as_get_without_the_body_except_on_the_stream(
    console: Client,
) -> None:
    ticket = await report(console)
    await sign_in(console, Role.VIEWER)
    for path in [*PAGES, f"/console/tickets/{ticket['id']}", "/console/login"]:
        head = await console.head(path, allow_redirects=False)
        got = await console.get(path, allow_redirects=False)
        assert head.status == got.status, path
        assert head.headers.get("Content-Type") == got.headers.get("Content-Type"), path
        assert head.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert await head.read() == b""
    stream = await console.head("/console/events", timeout=5)
    assert stream.status == 405
    assert stream.headers["Allow"] == "GET"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        pytest.param("DELETE", "/console/tickets/T1", "GET,HEAD", id="DELETE a ticket page"),
        pytest.param("GET", "/console/tickets/T1/transition", "POST", id="GET a form's target"),
        pytest.param("PUT", "/console/silences", "GET,HEAD,POST", id="PUT the silences"),
        pytest.param("OPTIONS", "/console/", "GET,HEAD", id="OPTIONS the incidents"),
        pytest.param("POST", "/console/checks", "GET,HEAD", id="POST the checks"),
    ],
)
async def test_a_method_a_page_does_not_take_is_405_naming_those_it_does(
    console: Client, method: str, path: str, allow: str
) -> None:
    await sign_in(console, Role.VIEWER)
    response = await console.request(method, path, allow_redirects=False)
    assert response.status == 405
    assert response.headers["Allow"] == allow
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    valid_html(await response.text())
    missing = await console.request(method, path + "/nothing-here", allow_redirects=False)
    assert missing.status == 404


async def test_signing_in_sets_a_signed_strict_http_only_cookie(console: Client) -> None:
    response = await console.get("/console/")
    assert response.status == 200
    assert response.url.path == "/console/login"
    response = await console.post("/console/login", data={"token": "wrong"})
    assert response.status == 401
    valid_html(await response.text())
    response = await console.post(
        "/console/login", data={"token": "responder-secret-token"}, allow_redirects=False
    )
    assert response.status == 303
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert "Max-Age=43200" in cookie
    assert "Path=/console" in cookie
    assert "responder-secret-token" not in cookie


async def test_an_ingest_token_cannot_sign_in(console: Client) -> None:
    response = await console.post("/console/login", data={"token": "ingest-secret-token"})
    assert response.status == 401


async def test_a_tampered_cookie_is_no_session(console: Client) -> None:
    await sign_in(console, Role.RESPONDER)
    cookie = console.session.cookie_jar.filter_cookies(console.make_url("/console/"))
    value = cookie["vigie_session"].value
    console.session.cookie_jar.update_cookies(
        {"vigie_session": value[:-2] + ("AA" if value[-2:] != "AA" else "BB")},
        console.make_url("/console/"),
    )
    response = await console.get("/console/", allow_redirects=False)
    assert response.status == 303
    assert "/console/login" in response.headers["Location"]


async def test_logout_ends_the_session(console: Client) -> None:
    csrf = await sign_in(console, Role.VIEWER)
    response = await console.post("/console/logout", data={"csrf": csrf})
    assert response.url.path == "/console/login"
    response = await console.get("/console/", allow_redirects=False)
    assert response.status == 303


async def test_form_actions_go_through_the_service_under_the_signed_in_name(
    console: Client,
) -> None:
    ticket = (await report(console))["id"]
    csrf = await sign_in(console, Role.RESPONDER)
    path = f"/console/tickets/{ticket}"
    steps = [
        ("transition", {"action": "acknowledge"}, "open"),
        ("comment", {"text": "looking at smp1"}, "open"),
        ("transition", {"action": "hold"}, "on_hold"),
        ("transition", {"action": "resume"}, "in_progress"),
        ("transition", {"action": "resolve", "resolution": "restarted smp1"}, "resolved"),
    ]
    for endpoint, fields, state in steps:
        response = await console.post(
            f"{path}/{endpoint}", data={"csrf": csrf, "return_to": path, **fields}
        )
        assert response.status == 200
        assert response.url.path == path
        page = await response.text()
        valid_html(page)
        assert 'class="flash error"' not in page, page
        assert (await _detail(console, ticket))["ticket"]["state"] == state
    detail = await _detail(console, ticket)
    actors = {event["actor"] for event in detail["history"] if event["action"] != "create"}
    assert actors == {NAMES[Role.RESPONDER]}
    assert detail["comments"][-1] == {
        "author": NAMES[Role.RESPONDER],
        "at": detail["comments"][-1]["at"],
        "text": "looking at smp1",
    }


async def test_an_escalation_is_handed_back_a_level_from_the_ticket_page(console: Client) -> None:
    ticket = (await report(console))["id"]
    csrf = await sign_in(console, Role.RESPONDER)
    path = f"/console/tickets/{ticket}"
    for action, level in (("escalate", "4"), ("deescalate", "3")):
        response = await console.post(
            f"{path}/transition",
            data={"csrf": csrf, "return_to": path, "action": action, "level": level},
        )
        page = await response.text()
        valid_html(page)
        assert 'class="flash error"' not in page, page
        assert (await _detail(console, ticket))["ticket"]["escalation_level"] == int(level)
    # Handing back offers only the levels below the ticket's, nearest first.
    form = page[page.index('id="level-down"') :]
    form = form[: form.index("</select>")]
    assert form.count("<option>") == 2
    assert form.index("<option>2") < form.index("<option>1")
    history = (await _detail(console, ticket))["history"]
    assert [e["action"] for e in history][-2:] == ["escalate", "deescalate"]


async def test_a_refused_transition_is_a_message_not_an_error(console: Client) -> None:
    ticket = (await report(console))["id"]
    csrf = await sign_in(console, Role.RESPONDER)
    response = await console.post(
        f"/console/tickets/{ticket}/transition", data={"csrf": csrf, "action": "resume"}
    )
    assert response.status == 200
    assert "resume is not allowed" in await response.text()


async def test_bulk_acknowledge(console: Client) -> None:
    tickets = [(await report(console, title=f"fault {n}"))["id"] for n in range(4)]
    csrf = await sign_in(console, Role.RESPONDER)
    response = await console.post(
        "/console/bulk",
        data=[("csrf", csrf), ("action", "acknowledge"), *(("ids", t) for t in tickets[:3])],
    )
    assert "acknowledge: 3 done" in await response.text()
    states = [(await _detail(console, t))["ticket"]["state"] for t in tickets]
    assert states == ["open", "open", "open", "new"]


async def test_a_viewer_sees_no_buttons_and_the_server_refuses_anyway(console: Client) -> None:
    ticket = (await report(console))["id"]
    csrf = await sign_in(console, Role.VIEWER)
    for path in [*PAGES, f"/console/tickets/{ticket}"]:
        page = await (await console.get(path)).text()
        tree = valid_html(page)
        forms = [form.get("action") for form in tree.iter("form") if form.get("method") == "post"]
        assert forms == ["/console/logout"], (path, forms)
        assert not [button for button in tree.iter("button") if button.get("name") == "action"]
    forged = await console.post(
        f"/console/tickets/{ticket}/transition", data={"csrf": csrf, "action": "acknowledge"}
    )
    assert forged.status == 403
    valid_html(await forged.text())
    assert (await _detail(console, ticket))["ticket"]["state"] == "new"


@pytest.mark.parametrize(
    "csrf", [None, "", "not-the-token", "x" * 5000], ids=["absent", "empty", "wrong", "huge"]
)
async def test_a_post_without_its_csrf_token_is_refused(console: Client, csrf: str | None) -> None:
    ticket = (await report(console))["id"]
    await sign_in(console, Role.RESPONDER)
    data = {"action": "acknowledge"} if csrf is None else {"action": "acknowledge", "csrf": csrf}
    response = await console.post(f"/console/tickets/{ticket}/transition", data=data)
    assert response.status == 403
    assert (await _detail(console, ticket))["ticket"]["state"] == "new"


async def test_a_session_expires(tmp_path: Any) -> None:
    from aiohttp.test_utils import TestServer

    from tests.ticket_sink.console.conftest import console_app
    from ticket_sink import Store

    now = [1_800_000_000.0]
    app = console_app(
        Store(f"sqlite:///{tmp_path / 'v.db'}"), session_seconds=60, clock=lambda: now[0]
    )
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        await sign_in(client, Role.VIEWER)
        assert (await client.get("/console/", allow_redirects=False)).status == 200
        now[0] += 61
        assert (await client.get("/console/", allow_redirects=False)).status == 303


async def test_a_trusted_proxy_signs_people_in_and_an_untrusted_peer_does_not(
    tmp_path: Any,
) -> None:
    import ipaddress

    from aiohttp.test_utils import TestServer

    from tests.ticket_sink.console.conftest import console_app
    from ticket_sink import Store
    from ticket_sink.console import ProxyAuth

    for trusted, signed_in in (("127.0.0.1/32", True), ("10.0.0.0/8", False)):
        proxy = ProxyAuth("X-WEBAUTH-USER", [ipaddress.ip_network(trusted)], Role.RESPONDER)
        app = console_app(Store(f"sqlite:///{tmp_path / (trusted[:2] + '.db')}"), proxy=proxy)
        async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
            headers = {"X-WEBAUTH-USER": "alice@example.org"}
            response = await client.get("/console/", headers=headers, allow_redirects=False)
            assert (response.status == 200) is signed_in
            if signed_in:
                page = await response.text()
                assert "alice@example.org" in page
                assert "responder" in page
                ticket = (await report(client))["id"]
                await client.post(
                    f"/console/tickets/{ticket}/transition",
                    data={"csrf": csrf_of(page), "action": "acknowledge"},
                    headers=headers,
                )
                history = (await _detail(client, ticket))["history"]
                assert history[-1]["actor"] == "alice@example.org"


async def test_silences_from_a_ticket_and_expired(console: Client) -> None:
    csrf = await sign_in(console, Role.RESPONDER)
    page = await (await console.get("/console/silences?matcher=service%3Dsmp")).text()
    assert "service=smp</textarea>" in page
    response = await console.post(
        "/console/silences",
        data={"csrf": csrf, "matchers": "service=smp\ntarget=~smp[12]", "hours": "4"},
    )
    page = await response.text()
    assert "holds notifications for 4h" in page
    silence_id = page.split("/console/silences/")[1].split("/expire")[0]
    response = await console.post(f"/console/silences/{silence_id}/expire", data={"csrf": csrf})
    assert "ended" in await response.text()


async def test_an_admin_records_a_resolution_as_a_known_error(console: Client) -> None:
    ticket = (await report(console, labels={"service": "smp"}))["id"]
    csrf = await sign_in(console, Role.ADMIN)
    path = f"/console/tickets/{ticket}"
    for fields in ({"action": "acknowledge"}, {"action": "resolve", "resolution": "restart it"}):
        await console.post(f"{path}/transition", data={"csrf": csrf, **fields})
    response = await console.post(
        f"{path}/known-error", data={"csrf": csrf, "matcher": "service=smp"}
    )
    assert "Recorded as known error" in await response.text()
    page = await (await console.get("/console/known-errors")).text()
    assert "restart it" in page
    assert "service=smp" in page


HOSTILE = [
    ("GET", "/console/tickets/..%2F..%2Fetc", {}),
    ("GET", "/console/tickets/" + "A" * 500, {}),
    ("GET", "/console/?page=-4&severity=9&state=bogus&label=%%%", {}),
    ("GET", "/console/?page=99999999999999999999", {}),
    ("GET", "/console/?label=a%3D~(", {}),
    ("GET", "/console/events?after=-1", {}),
    ("GET", "/console/events?after=abc", {}),
    ("GET", "/console/events?after=" + "9" * 30, {}),
    ("GET", "/console/static/../pages.py", {}),
    ("GET", "/console/login?next=//evil.example/", {}),
    ("POST", "/console/tickets/NOPE/transition", {"action": "acknowledge"}),
    ("POST", "/console/tickets/{t}/transition", {"action": "delete"}),
    ("POST", "/console/tickets/{t}/transition", {"action": "close", "reason": "bogus"}),
    ("POST", "/console/tickets/{t}/transition", {"action": "escalate", "level": "9"}),
    ("POST", "/console/tickets/{t}/transition", {"action": "resolve", "resolution": " "}),
    ("POST", "/console/tickets/{t}/comment", {"text": "x" * 30_000}),
    ("POST", "/console/tickets/{t}/link", {"master_id": "{t}"}),
    ("POST", "/console/tickets/{t}/link", {"master_id": "!!"}),
    ("POST", "/console/tickets/{t}/known-error", {"matcher": "a=~("}),
    ("POST", "/console/bulk", {"action": "resolve", "ids": "{t}"}),
    ("POST", "/console/bulk", {"action": "drop", "ids": "{t}"}),
    ("POST", "/console/silences", {"matchers": "=x", "hours": "4"}),
    ("POST", "/console/silences", {"matchers": "a=~(", "hours": "4"}),
    ("POST", "/console/silences", {"matchers": "a=b", "hours": "-1"}),
    # A backtracking engine would not finish these; RE2 answers at once.
    ("GET", "/console/?label=title=~(.*.*)*%23", {}),
    ("POST", "/console/silences", {"matchers": "title=~(.*.*)*#", "hours": "4"}),
    ("POST", "/console/tickets/{t}/known-error", {"matcher": "title=~(.*.*)*#"}),
    ("POST", "/console/silences/NOPE/expire", {}),
    ("POST", "/console/tickets/{t}/transition", {"return_to": "//evil.example/", "action": "hold"}),
    ("PUT", "/console/", {}),
]


@pytest.mark.parametrize(("method", "path", "fields"), HOSTILE, ids=lambda v: str(v)[:40])
async def test_hostile_input_is_never_a_500(
    console: Client, method: str, path: str, fields: dict[str, str]
) -> None:
    ticket = (await report(console))["id"]
    csrf = await sign_in(console, Role.ADMIN)
    path = path.replace("{t}", ticket)
    data = {key: value.replace("{t}", ticket) for key, value in fields.items()}
    response = await console.request(
        method,
        path,
        data={"csrf": csrf, **data} if method == "POST" else None,
        allow_redirects=False,
    )
    assert response.status < 500, await response.text()
    if response.status in (301, 302, 303):
        assert response.headers["Location"].startswith("/console/")
    elif response.content_type == "text/html":
        valid_html(await response.text())


# What HTML forbids in a document: a C0 and a C1 control, DEL, a noncharacter.
FORBIDDEN = ["\x01", "\x85", "\x7f", "\ufffe"]


@pytest.mark.parametrize("character", FORBIDDEN, ids=repr)
async def test_a_character_html_forbids_never_reaches_a_page(
    console: Client, character: str
) -> None:
    """Pages echo filters, form fields and paths; each echo is valid HTML all the same."""
    ticket = (await report(console))["id"]
    csrf = await sign_in(console, Role.ADMIN)
    encoded = quote(character)
    gets = [
        f"/console/?service=a{encoded}&group=b{encoded}&q=c{encoded}&label=d%3D{encoded}",
        f"/console/silences?matcher=a%3D{encoded}",
    ]
    for path in gets:
        response = await console.get(path)
        valid_html(await response.text())
    posts = [
        (f"/console/tickets/{ticket}/notifications/a{encoded}/retry", {}),
        ("/console/bulk", {"action": "hold", "ids": f"x{character}"}),
        ("/console/silences", {"matchers": f"a={character}", "hours": "4"}),
        (f"/console/tickets/{ticket}/comment", {"text": f"note {character}"}),
    ]
    for path, fields in posts:
        response = await console.post(path, data={"csrf": csrf, **fields})  # and the page after
        page = await response.text()
        valid_html(page)
    assert "note \ufffd" in page  # the comment, shown with its character replaced


async def test_the_event_stream_needs_a_session(console: Client) -> None:
    assert (await console.get("/console/events")).status == 401
    await sign_in(console, Role.VIEWER)
    response = await console.get("/console/events")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/event-stream"
    response.close()


def test_the_script_and_style_sheet_stay_within_60_kb() -> None:
    assert Renderer().script_and_style_bytes() <= 60 * 1024


RAW_BODIES = [
    ("multipart/form-data; boundary=zz", b"garbage\r\n--zz\r\nnot headers"),
    ("multipart/form-data", b"--x\r\n"),
    ("application/x-www-form-urlencoded", b"action=%ZZ%ff\xff\xfe"),
    ("application/x-www-form-urlencoded", b"a=" + b"x" * (2 * 1024 * 1024)),
    ("application/json", b"{}"),
    ("application/x-www-form-urlencoded; charset=no-such-codec", b"a=b"),
    (
        "multipart/form-data; boundary=zz",
        b'--zz\r\nContent-Disposition: form-data; name="a"\r\n'
        b"Content-Type: text/plain; charset=no-such-codec\r\n\r\nb\r\n--zz--\r\n",
    ),
]


@pytest.mark.parametrize("path", ["/console/login", "/console/logout", "/console/bulk"])
@pytest.mark.parametrize(("content_type", "body"), RAW_BODIES, ids=lambda v: str(v)[:24])
async def test_a_body_that_is_no_form_is_never_a_500(
    console: Client, path: str, content_type: str, body: bytes
) -> None:
    await sign_in(console, Role.RESPONDER)
    response = await console.post(
        path, data=io.BytesIO(body), headers={"Content-Type": content_type}, allow_redirects=False
    )
    assert 400 <= response.status < 500


@pytest.mark.parametrize("path", ["/console/login", "/console/bulk"])
async def test_a_compressed_form_is_415(console: Client, path: str) -> None:
    await sign_in(console, Role.RESPONDER)
    response = await console.post(
        path,
        data=b"csrf=x&action=hold",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Content-Encoding": "gzip",
        },
        allow_redirects=False,
    )
    assert response.status == 415
    valid_html(await response.text())


async def test_a_form_declared_over_the_limit_is_413_before_it_is_sent(
    console: Client,
) -> None:
    """A client that declares a huge length and sends nothing is answered at once."""
    port = console.port
    assert port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"POST /console/login HTTP/1.1\r\nHost: agent\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 99999999999\r\n\r\n"
    )
    await writer.drain()
    async with asyncio.timeout(5):
        status_line = await reader.readline()
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 413 ")


async def test_a_form_trickled_past_its_deadline_is_408(tmp_path: Any) -> None:
    """A client trickling a form would hold its connection for as long as it likes."""
    from tests.ticket_sink.api.conftest import RecordingIngest, api_settings, post_trickled
    from tests.ticket_sink.console.conftest import console_app
    from ticket_sink import Store

    store = Store(f"sqlite:///{tmp_path / 'v.db'}")
    app = console_app(store, api=api_settings(store, RecordingIngest(), body_timeout_seconds=0.3))

    status, page, took = await post_trickled(
        app, "/console/login", b"token=", {"Content-Type": "application/x-www-form-urlencoded"}
    )

    assert status == 408
    assert "did not arrive in time" in page
    assert took < 1.5


async def test_a_failed_delivery_is_retried_from_the_ticket_page(tmp_path: Any) -> None:
    import httpx
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from tests.ticket_sink.console.conftest import console_app
    from tests.ticket_sink.outbound.receivers import receiver
    from ticket_sink import Store
    from ticket_sink.outbound import OutboxWorker, build_sinks
    from ticket_sink.outbound.config import NotificationsConfig

    answers = [400, 200]

    async def by_script(request: web.Request, body: bytes) -> web.StreamResponse:
        return web.json_response({}, status=answers.pop(0))

    store = Store(f"sqlite:///{tmp_path / 'retry.db'}")
    async with (
        TestClient(TestServer(console_app(store), host="127.0.0.1", port=0)) as client,
        receiver(by_script) as hook,
        httpx.AsyncClient() as http,
    ):
        ticket = (await report(client))["id"]
        config = NotificationsConfig.model_validate(
            {"sinks": {"webhook": [{"name": "desk", "url": hook.url}]}}
        )
        worker = OutboxWorker(store, config, build_sinks(config, http))
        await worker.run_once()
        await sign_in(client, Role.VIEWER)
        page = await (await client.get(f"/console/tickets/{ticket}")).text()
        assert "delivery failed" in page
        assert "Retry failed deliveries" not in page
        csrf = await sign_in(client, Role.RESPONDER)
        page = await (await client.get(f"/console/tickets/{ticket}")).text()
        tree = valid_html(page)
        (action,) = [
            form.get("action") for form in tree.iter("form") if "/retry" in form.get("action", "")
        ]
        response = await client.post(action, data={"csrf": csrf})
        assert "Sent again to desk." in await response.text()
        await worker.run_once()
        page = await (await client.get(f"/console/tickets/{ticket}")).text()
        assert "delivery delivered" in page
        assert "Retry failed deliveries" not in page
        history = (await _detail(client, ticket))["history"]
        assert [e["actor"] for e in history if e["action"] == "retry_delivery"] == [
            NAMES[Role.RESPONDER]
        ]


async def test_a_nul_in_the_search_text_is_refused(console: Client) -> None:
    """SQLite's string functions stop at a NUL: searched for, it would match every title."""
    await report(console)
    await sign_in(console, Role.VIEWER)
    response = await console.get("/console/", params={"q": "\x00"})
    assert response.status == 400
    assert "NUL" in await response.text()


async def test_the_participant_page_runs_the_apis_diagnosis_with_the_persons_role(
    tmp_path: Any,
) -> None:
    import dataclasses

    from aiohttp import web
    from aiohttp.test_utils import TestServer
    from pydantic import BaseModel

    from tests.ticket_sink.api.conftest import RecordingIngest, api_app, api_settings
    from ticket_sink import Store
    from ticket_sink.api import Call, Operation, Problem, json_response
    from ticket_sink.console import ConsoleSettings, setup_console

    class Query(BaseModel):
        zone: str
        document_type: str | None = None

    asked: list[tuple[str, str, str | None]] = []

    async def diagnose(call: Call) -> web.Response:
        if call.query.zone == "other.test" and call.principal.role is not Role.ADMIN:
            raise Problem(403, "zone other.test is not one this agent watches")
        asked.append((call.param("id"), call.query.zone, call.principal.name))
        step = {"step": "smp_service_group", "target": "https://smp1", "reason": "http_5xx"}
        step |= {"ok": False, "required": True, "detail": "503", "seconds": 0.2, "findings": {}}
        return json_response(
            {"participant": call.param("id"), "zone": call.query.zone, "whole": False,
             "headline": "smp_service_group: SMP answers 503", "broken": "smp_service_group",
             "steps": [step]}
        )  # fmt: skip

    operation = Operation(
        "GET", "/participants/{id}/diagnosis", "diagnoseParticipant", "", diagnose,
        Role.VIEWER, {200: "application/json"}, query=Query,
    )  # fmt: skip
    store = Store(f"sqlite:///{tmp_path / 'd.db'}")
    settings = dataclasses.replace(
        api_settings(store, RecordingIngest()), extra_operations=(operation,)
    )
    app = api_app(store, settings)
    setup_console(app, ConsoleSettings(api=settings, session_key=b"k" * 32))
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as client:
        await sign_in(client, Role.VIEWER)
        page = await (await client.get("/console/participants")).text()
        valid_html(page)
        assert 'href="/console/participants"' in page
        response = await client.get(
            "/console/participants?id=iso6523-actorid-upis::0208:1&zone=edelivery.test"
        )
        page = await response.text()
        valid_html(page)
        assert response.status == 200
        assert "smp_service_group: SMP answers 503" in page
        assert asked == [("iso6523-actorid-upis::0208:1", "edelivery.test", NAMES[Role.VIEWER])]
        refused = await client.get("/console/participants?id=a::b&zone=other.test")
        assert refused.status == 403
        assert "not one this agent watches" in await refused.text()


async def test_without_a_diagnosis_there_is_no_participant_page(console: Client) -> None:
    await sign_in(console, Role.VIEWER)
    page = await (await console.get("/console/")).text()
    assert "/console/participants" not in page
    assert (await console.get("/console/participants")).status == 404
