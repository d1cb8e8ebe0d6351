"""vigie's Grafana dashboards, generated as code into the committed JSON of `json/`.

`python -m dashboards` writes the JSON; `python -m dashboards --check` fails when the
committed files differ from what the code generates. `queries()` lists every panel query,
for the tests that run them against a real Prometheus and for the pictures. This package
is not part of the agent and the agent never imports it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from dashboards import endpoints, overview, pki, sml, tickets

__all__ = ["DASHBOARDS", "JSON_DIR", "PanelQuery", "metric_names", "queries", "render"]

JSON_DIR = Path(__file__).parent / "json"

# file name (without .json) -> the function that builds it
DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    "overview": overview.build,
    "sml-dns": sml.build,
    "pki": pki.build,
    "endpoints": endpoints.build,
    "tickets": tickets.build,
}


def render() -> dict[str, str]:
    """File name -> the JSON text of each dashboard, as committed."""
    return {
        f"{name}.json": json.dumps(build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"
        for name, build in DASHBOARDS.items()
    }


@dataclass(frozen=True, slots=True)
class PanelQuery:
    """One query of one panel, as Grafana sends it (template variables not expanded)."""

    dashboard: str
    panel: str
    ref_id: str
    expr: str
    legend: str
    instant: bool
    unit: str

    @property
    def id(self) -> str:
        return f"{self.dashboard}/{self.panel}/{self.ref_id}"


def queries(boards: dict[str, dict[str, Any]] | None = None) -> Iterator[PanelQuery]:
    """Every panel query of `boards` (name -> dashboard JSON; default: the generated ones)."""
    if boards is None:
        boards = {name: json.loads(text) for name, text in render().items()}
    for name, board in boards.items():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                yield PanelQuery(
                    dashboard=name.removesuffix(".json"),
                    panel=panel["title"],
                    ref_id=target["refId"],
                    expr=target["expr"],
                    legend=target.get("legendFormat", ""),
                    instant=bool(target.get("instant")),
                    unit=panel.get("fieldConfig", {}).get("defaults", {}).get("unit", ""),
                )


_NOT_NAMES = {"and", "or", "unless", "bool", "offset", "inf", "nan", "group_left", "group_right"}
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")


def metric_names(expr: str) -> set[str]:
    """The metric (and recording rule) names a PromQL expression selects.

    Enough PromQL for the dashboards' and rules' own queries: strings, label matchers,
    range selectors and grouping clauses are dropped, then every identifier that is not a
    function call or a keyword is a name.
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for found in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        if found[0] in _NOT_NAMES or text[found.end() :].lstrip().startswith("("):
            continue
        names.add(found[0])
    return names
