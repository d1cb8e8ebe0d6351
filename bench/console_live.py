"""How soon a ticket change shows in an open console page, in a real browser.

    .venv/bin/python bench/console_live.py [--changes 20]

Starts `vigie demo --no-scenario` on a free loopback port (the lab and an agent, no
faults), signs in to the console with the responder token the demo prints, and opens the
incidents page in headless chromium (Debian's `chromium` and `chromium-driver`). Then,
`--changes` times: the page itself creates a ticket through the API (`fetch`, so both
instants are read from the page's own `performance.now()`), and a MutationObserver notes
when the new ticket's row is in the page, which only the live update (the event stream,
then one fetch of the page) can put there. Prints each delay and the median and maximum
(target: a change visible within 1 s). Bounded: at most 200 changes, 10 s each; the demo
is stopped by its PID when the run ends.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from selenium.webdriver.common.by import By

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The browser the console's tests and screenshot script start (fresh profile, no traffic
# to public hosts).
from _processes import free_port  # noqa: E402

from tests.console_browser import chromium  # noqa: E402

VIGIE = ROOT / ".venv" / "bin" / "vigie"

# Creates a ticket through the API, then resolves with the delay until its row is shown.
MEASURE = """
const [token, title, done] = arguments;
const started = performance.now();
const observer = new MutationObserver(() => {
  // Looked up anew: a live update may replace the whole table.
  for (const link of document.querySelectorAll("#tickets tr.ticket .title a")) {
    if (link.textContent.trim() === title) {
      observer.disconnect();
      done(performance.now() - started);
      return;
    }
  }
});
observer.observe(document.body, {childList: true, subtree: true});
fetch("/api/v1/tickets", {
  method: "POST",
  headers: {"Authorization": "Bearer " + token, "Content-Type": "application/json"},
  body: JSON.stringify({title: title, description: "bench", type: "incident", severity: 2}),
}).then((answer) => { if (!answer.ok) { done(-answer.status); } });
"""


def start_demo(port: int) -> tuple[subprocess.Popen[str], str]:
    """The demo's process and its responder token, read from its banner."""
    demo = subprocess.Popen(
        [str(VIGIE), "demo", "--no-scenario", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert demo.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = demo.stdout.readline()
        if not line:
            break
        found = re.search(r"sign in with\s+(\S+)", line)
        if found:
            return demo, found.group(1)
    os.killpg(demo.pid, signal.SIGTERM)
    raise SystemExit("the demo printed no sign-in within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20, help="changes measured (max 200)")
    changes = min(max(parser.parse_args().changes, 1), 200)
    port = free_port()
    demo, token = start_demo(port)
    driver = chromium()
    try:
        url = f"http://127.0.0.1:{port}"
        driver.get(url + "/console/")
        driver.find_element(By.ID, "token").send_keys(token)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        deadline = time.monotonic() + 10
        while driver.current_url != url + "/console/" and time.monotonic() < deadline:
            time.sleep(0.05)
        driver.set_script_timeout(10)
        delays = []
        for number in range(changes):
            driver.get(url + "/console/?q=bench-live")
            time.sleep(0.5)  # the page's event stream connects
            delay = driver.execute_async_script(MEASURE, token, f"bench-live {number}")
            if delay < 0:
                raise SystemExit(f"the API answered {-delay} to the ticket's creation")
            delays.append(delay / 1000)
            print(f"  change {number + 1:3}: visible after {delay / 1000:.3f} s", flush=True)
        print(
            f"{changes} changes: median {statistics.median(delays):.3f} s, "
            f"max {max(delays):.3f} s (target: within 1 s)"
        )
    finally:
        driver.quit()
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
