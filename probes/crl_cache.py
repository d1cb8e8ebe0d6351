"""The agent's CRLs by URL (`ProbeEnv.crl_cache`): one fetch per refresh interval and one
fetch in flight, however many checks ask.

Never lets one check's timeout cancel a fetch others await. What a fetch found is a
`FetchedCrl` (`probes.crl_fetch.fetch_crl` makes them); nothing here fetches, parses or
decides whether a certificate is revoked.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from probes._base import FailureReason

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["CrlCache", "FetchedCrl"]


@dataclass(frozen=True, slots=True)
class FetchedCrl:
    """One fetch of a CRL URL, shared by every check that points at it."""

    reason: FailureReason  # OK, or why there is no CRL to judge
    detail: str = ""
    crl: x509.CertificateRevocationList | None = None
    serials: frozenset[int] = frozenset()
    size: int = 0
    duration: float = 0.0
    fetched_at: float = 0.0
    # Highest CRL number of this URL verified before this fetch (rollback detection).
    previous_number: int | None = None
    # Signature verdicts by issuer fingerprint, so N checks verify a CRL once.
    verdicts: dict[bytes, bool] = field(default_factory=dict, compare=False)
    # Why RFC 5280 forbids using any of its entries ("" when none forbids it): an entry
    # extension that is critical and not understood.
    entry_problem: str = ""


class CrlCache:
    """The agent's CRLs by URL: one fetch per refresh interval and one fetch in flight.

    Failed fetches are shared by the checks waiting on them but not kept, so a recovered
    distribution point is seen on the next run. At most `max_entries` URLs are kept.
    """

    def __init__(self, max_entries: int = 1024, parse_threads: int = 2) -> None:
        self.max_entries = max_entries
        # Large CRLs are parsed in the loop's default executor, which also resolves host
        # names for the fresh-connection checks: a dozen big CRLs parsed at once (every
        # CRL check starts together) would hold all its threads, and every check of a
        # host by name would time out waiting for one. At most this many parse at a time.
        self.parse_slots = asyncio.Semaphore(parse_threads)
        self.fetches = 0  # fetches started, for tests and benchmarks
        self._entries: OrderedDict[str, FetchedCrl] = OrderedDict()
        self._in_flight: dict[str, asyncio.Task[FetchedCrl]] = {}
        self._highest_number: dict[str, int] = {}

    async def get(
        self, url: str, refresh: float, now: float, fetch: Callable[[], Awaitable[FetchedCrl]]
    ) -> FetchedCrl:
        entry = self._entries.get(url)
        if entry is not None and now - entry.fetched_at < refresh:
            self._entries.move_to_end(url)
            return entry
        task = self._in_flight.get(url)
        if task is None:
            self.fetches += 1
            task = asyncio.create_task(self._fetch(url, fetch), name=f"crl-fetch {url}")
            self._in_flight[url] = task
        # Shielded: a check that times out must not cancel the fetch others wait on.
        return await asyncio.shield(task)

    async def _fetch(self, url: str, fetch: Callable[[], Awaitable[FetchedCrl]]) -> FetchedCrl:
        try:
            fetched = dataclasses.replace(
                await fetch(), previous_number=self._highest_number.get(url)
            )
            if fetched.reason is FailureReason.OK:
                self._entries[url] = fetched
                self._entries.move_to_end(url)
                while len(self._entries) > self.max_entries:
                    evicted, _ = self._entries.popitem(last=False)
                    self._highest_number.pop(evicted, None)
            else:
                self._entries.pop(url, None)
            return fetched
        finally:
            del self._in_flight[url]

    async def aclose(self) -> None:
        """Cancel the fetches in flight and wait for them: shielded from the checks that
        wait on them, they would otherwise outlive the agent with their connections."""
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def note_number(self, url: str, number: int) -> None:
        """Remember a verified CRL number, so that a later, lower one is noticed."""
        self._highest_number[url] = max(number, self._highest_number.get(url, number))
