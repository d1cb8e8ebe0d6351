"""Probe results into alerts: each check's alert state carried from one result to the next
through the rules (`correlator.rules.evaluate`).

Pure bookkeeping in memory, `now` passed in; it must never touch the store. A restart
forgets pending alerts (they start pending again), which only delays a first firing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from correlator.rules import DEFAULT_RULES, Alert, AlertState, Rule, evaluate
from probes import Check, FailureReason

__all__ = ["ProbeAlerts"]


class ProbeAlerts:
    """The alert state of every check, keyed by the check's key."""

    def __init__(self, rules: Sequence[Rule] = DEFAULT_RULES) -> None:
        self._rules = tuple(rules)
        self._states: dict[str, AlertState] = {}
        self._labels: dict[str, dict[str, str]] = {}

    def observe(self, check: Check, reason: FailureReason, now: datetime) -> Alert | None:
        """The alert this result sends (firing, or resolved once), or `None`."""
        labels = self._labels.get(check.key)
        if labels is None:
            labels = {"kind": check.kind, "service": check.service, "target": check.target}
            self._labels[check.key] = labels
        state = self._states.get(check.key, AlertState())
        state, alert = evaluate(state, labels, reason, now, self._rules)
        self._states[check.key] = state
        return alert
