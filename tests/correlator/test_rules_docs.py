"""docs/tickets.md lists every default alert rule with its severity, in the code's order."""

from __future__ import annotations

import re
from pathlib import Path

from correlator.rules import DEFAULT_RULES

DOC = Path(__file__).resolve().parents[2] / "docs" / "tickets.md"


def test_the_rules_table_matches_the_default_rules() -> None:
    rows = re.findall(r"^\| `(\w+)` \| (\d) \| (.+?) \|", DOC.read_text("utf-8"), re.MULTILINE)
    assert rows == [(r.name, str(int(r.severity)), r.summary) for r in DEFAULT_RULES]
