"""Screenshots of every console page, light and dark, at desktop width and at 360 px, taken
with the browser the tests use (Debian's chromium) against the lab and an agent watching
it, with a few incidents made for the occasion. Writes docs/console/*.png.

Run it with `scripts/console_screenshots` (or the virtualenv's python from the checkout's
root). It starts everything on 127.0.0.1 and stops it all before it exits.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the browser and lab helpers live beside the tests

import httpx  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from tests.console_browser import TOKENS, LabAgent, chromium  # noqa: E402
from ticket_sink.api import Role  # noqa: E402
from vigie.lab.faults import FaultKind  # noqa: E402
from vigie.lab.lab import Lab  # noqa: E402

OUT = ROOT / "docs" / "console"
SIZES = {"desktop": (1280, 860), "360px": (360, 740)}
SCHEMES = ("light", "dark")


def api(served: LabAgent, method: str, path: str, role: Role = Role.RESPONDER, **kw: Any) -> Any:
    headers = {"Authorization": f"Bearer {TOKENS[role]}"}
    response = httpx.request(method, served.url + path, headers=headers, timeout=10, **kw)
    response.raise_for_status()
    return response.json()


def stage(served: LabAgent) -> str:
    """Both name servers down (a zone master with children), and reported tickets in
    several states; the master's id."""

    async def faults(lab: Lab) -> None:
        for name in lab.nameserver_addresses():
            lab.inject(FaultKind.NS_DOWN, name)

    served.call(faults)
    reported = [
        ("SMP smp1 answers 503 to every ServiceGroup lookup", 1, "smp"),
        ("CRL of the issuing CA is past nextUpdate", 2, "pki"),
        ("Access Point ap1 certificate expires in 20 days", 3, "pki"),
        ("Participant lab0000007 points to the wrong SMP", 4, "sml"),
    ]
    ids = []
    for title, severity, service in reported:
        body = {"title": title, "description": "seen from the desk", "type": "incident"}
        body |= {"severity": severity, "labels": {"service": service}}
        ids.append(api(served, "POST", "/api/v1/tickets", json=body)["id"])
    api(served, "POST", f"/api/v1/tickets/{ids[2]}/transitions", json={"action": "acknowledge"})
    api(served, "POST", f"/api/v1/tickets/{ids[3]}/transitions", json={"action": "acknowledge"})
    api(served, "POST", f"/api/v1/tickets/{ids[3]}/transitions", json={"action": "hold"})
    api(served, "POST", f"/api/v1/tickets/{ids[1]}/comments", json={"text": "CA team paged"})
    known = {"matchers": [{"name": "service", "op": "=", "value": "pki"}]}
    known["workaround"] = "Fetch the CRL by hand from the CA's mirror and publish it again."
    api(served, "POST", "/api/v1/known-errors", Role.ADMIN, json=known)
    ends = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 4 * 3600))
    silence = {"matchers": [{"name": "service", "op": "=", "value": "smp"}], "ends_at": ends}
    api(served, "POST", "/api/v1/silences", json={**silence, "comment": "smp1 maintenance"})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page = api(served, "GET", "/api/v1/tickets?master=none&state=new", Role.VIEWER)
        masters = [t for t in page["items"] if t["fingerprint"]]
        if masters:
            children = api(served, "GET", f"/api/v1/tickets?master={masters[0]['id']}", Role.VIEWER)
            if len(children["items"]) >= 2:
                return str(masters[0]["id"])
        time.sleep(0.5)
    raise SystemExit("the lab's zone master ticket did not appear within 30 s")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    workdir = tempfile.TemporaryDirectory(prefix="vigie-shots-")
    with workdir, LabAgent(Path(workdir.name)) as served:
        master = stage(served)
        assert served.lab is not None
        participant = {"id": served.lab.zone.participant(0), "zone": served.lab.zone.origin}
        time.sleep(3)  # a few check runs, for the checks page
        pages = {
            "incidents": "/console/",
            "ticket": f"/console/tickets/{master}",
            "silences": "/console/silences",
            "known-errors": "/console/known-errors",
            "checks": "/console/checks",
            "participant": "/console/participants?" + urlencode(participant),
        }
        for size, (width, height) in SIZES.items():
            driver = chromium(width=width, height=height)
            try:
                # Chromium keeps a window at least 500 px wide: emulate a phone's screen.
                metrics = {"width": width, "height": height, "deviceScaleFactor": 1}
                driver.execute_cdp_cmd(
                    "Emulation.setDeviceMetricsOverride", {**metrics, "mobile": width < 500}
                )
                driver.get(served.url + "/console/login")
                driver.find_element(By.ID, "token").send_keys(TOKENS[Role.RESPONDER])
                driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
                for scheme in SCHEMES:
                    features = [{"name": "prefers-color-scheme", "value": scheme}]
                    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": features})
                    for name, path in pages.items():
                        driver.get(served.url + path)
                        time.sleep(0.3)
                        target = OUT / f"{name}-{scheme}-{size}.png"
                        driver.save_screenshot(str(target))
                        print(target.relative_to(ROOT))
            finally:
                driver.quit()


if __name__ == "__main__":
    main()
