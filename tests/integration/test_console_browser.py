"""The on-call console in a real browser (Debian's chromium, headless, through Selenium)
against the lab and an agent watching it: a lab fault's ticket appears without a reload
and is worked from the page, bulk actions, keyboard shortcuts, a viewer's page without
buttons, refused forged and CSRF-less posts, the same actions with JavaScript off, and
no console error or CSP violation in the browser's log."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    ElementNotInteractableException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait

from tests.console_browser import TOKENS, LabAgent, chromium
from ticket_sink.api import Role
from vigie.lab.faults import FaultKind
from vigie.lab.lab import Lab

WAIT_SECONDS = 20.0
ACTOR = "responder-desk"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabAgent]:
    with LabAgent(tmp_path_factory.mktemp("console-lab")) as agent:
        yield agent


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def plain_browser() -> Iterator[webdriver.Chrome]:
    driver = chromium(javascript=False)
    try:
        yield driver
    finally:
        driver.quit()


# -- helpers --


def api(served: LabAgent, method: str, path: str, role: Role = Role.RESPONDER, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {TOKENS[role]}"}
    response = httpx.request(method, served.url + path, headers=headers, timeout=10, **kw)
    assert response.status_code < 300, response.text
    return response.json()


def report(served: LabAgent, title: str, severity: int = 3) -> str:
    body = {"title": title, "description": "reported by a test", "type": "incident"}
    ticket: dict[str, Any] = api(
        served, "POST", "/api/v1/tickets", json={**body, "severity": severity}
    )
    return str(ticket["id"])


def state_of(served: LabAgent, ticket_id: str) -> str:
    return str(api(served, "GET", f"/api/v1/tickets/{ticket_id}", Role.VIEWER)["ticket"]["state"])


def wait(driver: webdriver.Chrome, condition: Callable[[webdriver.Chrome], Any], what: str) -> Any:
    return WebDriverWait(
        driver,
        WAIT_SECONDS,
        poll_frequency=0.1,
        # A live update may replace an element, or hold it still, between finding and using it.
        ignored_exceptions=(StaleElementReferenceException, ElementNotInteractableException),
    ).until(condition, what)


def css(driver: webdriver.Chrome, selector: str) -> Any:
    return driver.find_elements(By.CSS_SELECTOR, selector)


def click(driver: webdriver.Chrome, selector: str) -> None:
    """Click the first match, again if a live update replaced it meanwhile."""

    def clicked(d: webdriver.Chrome) -> bool:
        found = css(d, selector)
        if not found:
            return False
        found[0].click()
        return True

    wait(driver, clicked, f"something to click at {selector}")


def type_into(driver: webdriver.Chrome, selector: str, text: str) -> None:
    def typed(d: webdriver.Chrome) -> bool:
        found = css(d, selector)
        if not found:
            return False
        found[0].clear()
        found[0].send_keys(text)
        return True

    wait(driver, typed, f"a field at {selector}")


def flash(driver: webdriver.Chrome) -> str:
    try:
        found = css(driver, "#flash p")
        return str(found[0].text) if found else ""
    except WebDriverException:
        # Replaced by a live update while read (stale), or the document itself replaced by
        # the next page of a plain form post between finding the node and reading it.
        return ""


def wait_flash(driver: webdriver.Chrome, text: str) -> None:
    wait(driver, lambda d: text in flash(d), f"the message {text!r}")


def sign_in(driver: webdriver.Chrome, served: LabAgent, role: Role) -> None:
    driver.delete_all_cookies()
    driver.get(served.url + "/console/")
    assert driver.current_url.startswith(served.url + "/console/login")
    driver.find_element(By.ID, "token").send_keys(TOKENS[role])
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(driver, lambda d: d.current_url == served.url + "/console/", "the incidents page")


def assert_clean_log(driver: webdriver.Chrome) -> None:
    """No console error, no CSP violation, no failed request in the browser's log."""
    entries = driver.get_log("browser")
    bad = [
        entry
        for entry in entries
        if entry["level"] == "SEVERE" or "Content Security Policy" in entry["message"]
    ]
    assert bad == [], bad


def session_cookies(driver: webdriver.Chrome) -> dict[str, str]:
    return {cookie["name"]: cookie["value"] for cookie in driver.get_cookies()}


# -- with JavaScript --


def test_a_lab_fault_ticket_appears_live_and_is_worked_from_the_page(
    served: LabAgent, browser: webdriver.Chrome
) -> None:
    sign_in(browser, served, Role.RESPONDER)
    browser.execute_script("window.notReloaded = true;")

    async def fault(lab: Lab) -> str:
        return lab.inject(FaultKind.NS_DOWN, "ns2").id

    fault_id = served.call(fault)

    async def heal(lab: Lab) -> None:
        with contextlib.suppress(KeyError):  # healed already
            lab.faults.heal(fault_id)

    try:
        wait(browser, lambda d: css(d, "#tickets tr.ticket"), "the fault's ticket, live")
        assert browser.execute_script("return window.notReloaded === true;")
        row = css(browser, "#tickets tr.ticket")[0]
        ticket_id = row.get_attribute("data-id")
        click(browser, f"#row-{ticket_id} .title a")
        wait(browser, lambda d: d.current_url.endswith(f"/console/tickets/{ticket_id}"), "ticket")

        click(browser, 'button[data-action="acknowledge"]')
        wait_flash(browser, "acknowledge done")
        type_into(browser, "#comment", "ns2 is down, looking")
        click(browser, 'button[data-action="comment"]')
        wait_flash(browser, "Comment added")
        click(browser, 'button[data-action="hold"]')
        wait_flash(browser, "hold done")
        click(browser, 'button[data-action="resume"]')
        wait_flash(browser, "resume done")
        # A ticket whose alerts still fire cannot be resolved: heal, then resolve once the
        # agent has seen ns2 answer again.
        served.call(heal)
        deadline = time.monotonic() + WAIT_SECONDS
        while "resolve done" not in flash(browser):
            assert time.monotonic() < deadline, flash(browser)
            type_into(browser, "#resolution", "ns2 restarted")
            browser.execute_script("document.getElementById('flash').textContent = '';")
            click(browser, 'button[data-action="resolve"]')
            wait(browser, lambda d: "resolve" in flash(d), "the answer to resolve")
            time.sleep(0.3)  # polling the agent, which is another thread's loop
        detail = api(served, "GET", f"/api/v1/tickets/{ticket_id}", Role.VIEWER)
        assert detail["ticket"]["state"] == "resolved"
        assert detail["comments"][-1]["author"] == ACTOR
        worked = {e["action"]: e["actor"] for e in detail["history"] if e["field"] == "state"}
        assert {worked[a] for a in ("acknowledge", "hold", "resume", "resolve")} == {ACTOR}
    finally:
        served.call(heal)
    assert_clean_log(browser)


def test_bulk_acknowledge_three(served: LabAgent, browser: webdriver.Chrome) -> None:
    sign_in(browser, served, Role.RESPONDER)
    browser.get(served.url + "/console/?q=bulk-three")
    tickets = [report(served, f"bulk-three {n}") for n in range(3)]
    wait(browser, lambda d: len(css(d, "#tickets tr.ticket")) == 3, "three tickets, live")
    for ticket_id in tickets:
        click(browser, f'input[name="ids"][value="{ticket_id}"]')
    click(browser, 'button[data-bulk="acknowledge"]')
    wait_flash(browser, "acknowledge: 3 done")
    assert [state_of(served, t) for t in tickets] == ["open"] * 3
    assert_clean_log(browser)


def test_keyboard_shortcuts(served: LabAgent, browser: webdriver.Chrome) -> None:
    sign_in(browser, served, Role.RESPONDER)
    ticket_id = report(served, "keyboard-only ticket")
    browser.get(served.url + "/console/?q=keyboard-only")
    body = browser.find_element(By.TAG_NAME, "body")

    def keys(*pressed: str) -> None:
        webdriver.ActionChains(browser).send_keys(*pressed).perform()

    keys("?")
    wait(browser, lambda d: d.find_element(By.ID, "help").get_attribute("open") is not None, "help")
    keys(Keys.ESCAPE)
    wait(browser, lambda d: d.find_element(By.ID, "help").get_attribute("open") is None, "closed")
    keys("/")
    assert browser.switch_to.active_element.get_attribute("id") == "q"
    keys(Keys.ESCAPE)
    body.click()
    keys("j")
    wait(browser, lambda d: css(d, "tr.ticket.selected"), "a selected row")
    keys("x")
    assert css(browser, f'input[name="ids"][value="{ticket_id}"]')[0].is_selected()
    keys("a")
    wait_flash(browser, "acknowledge done")
    assert state_of(served, ticket_id) == "open"
    keys("j", "o")
    wait(browser, lambda d: d.current_url.endswith(f"/console/tickets/{ticket_id}"), "opened")
    keys("c")
    assert browser.switch_to.active_element.get_attribute("id") == "comment"
    keys(Keys.ESCAPE, "g", "s")
    wait(browser, lambda d: d.current_url.endswith("/console/silences"), "the silences page")
    assert_clean_log(browser)


def test_a_viewer_sees_no_buttons_and_forged_or_tokenless_posts_are_refused(
    served: LabAgent, browser: webdriver.Chrome
) -> None:
    ticket_id = report(served, "viewer-visible ticket")
    sign_in(browser, served, Role.VIEWER)
    for path in (
        "/console/?q=viewer-visible",
        f"/console/tickets/{ticket_id}",
        "/console/silences",
    ):
        browser.get(served.url + path)
        posts = [f.get_attribute("action") for f in css(browser, 'form[method="post"]')]
        assert posts == [served.url + "/console/logout"], (path, posts)
        assert css(browser, 'button[name="action"], button[data-action]') == []
    csrf = css(browser, 'input[name="csrf"]')[0].get_attribute("value")
    forged = httpx.post(
        f"{served.url}/console/tickets/{ticket_id}/transition",
        data={"csrf": csrf, "action": "acknowledge"},
        cookies=session_cookies(browser),
    )
    assert forged.status_code == 403
    sign_in(browser, served, Role.RESPONDER)
    no_token = httpx.post(
        f"{served.url}/console/tickets/{ticket_id}/transition",
        data={"action": "acknowledge"},
        cookies=session_cookies(browser),
    )
    assert no_token.status_code == 403
    assert state_of(served, ticket_id) == "new"
    assert_clean_log(browser)


# -- without JavaScript --


def test_the_same_actions_work_with_javascript_off(
    served: LabAgent, plain_browser: webdriver.Chrome
) -> None:
    driver = plain_browser
    sign_in(driver, served, Role.RESPONDER)
    ticket_id = report(served, "no-script ticket", severity=2)
    driver.get(f"{served.url}/console/tickets/{ticket_id}")
    for action, field, text in (
        ("acknowledge", None, None),
        ("comment", "#comment", "plain form post"),
        ("hold", None, None),
        ("resume", None, None),
        ("resolve", "#resolution", "fixed without script"),
    ):
        if field is not None and text is not None:
            type_into(driver, field, text)
        click(driver, f'button[data-action="{action}"]')
        wait_flash(driver, "Comment added" if action == "comment" else f"{action} done")
    assert state_of(served, ticket_id) == "resolved"

    tickets = [report(served, f"plain-bulk {n}") for n in range(3)]
    driver.get(served.url + "/console/?q=plain-bulk")
    for ticket_id in tickets:
        click(driver, f'input[name="ids"][value="{ticket_id}"]')
    click(driver, 'button[data-bulk="acknowledge"]')
    wait_flash(driver, "acknowledge: 3 done")
    assert [state_of(served, t) for t in tickets] == ["open"] * 3
    assert_clean_log(driver)


def test_a_participant_is_diagnosed_from_its_page(
    served: LabAgent, browser: webdriver.Chrome
) -> None:
    assert served.lab is not None
    zone = served.lab.zone
    sign_in(browser, served, Role.VIEWER)
    click(browser, 'nav a[href="/console/participants"]')
    type_into(browser, "#pid", zone.participant(0))
    type_into(browser, "#zone", zone.origin)
    click(browser, 'form[action="/console/participants"] button[type="submit"]')
    wait(browser, lambda d: css(d, "#diag-h"), "the diagnosis")
    links = [cell.text for cell in css(browser, "tbody tr td:first-child")]
    assert links[0].startswith("sml"), links
    assert_clean_log(browser)
