"""The committed dashboards are what the code generates, and each is usable as it stands."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

import dashboards

BUILTINS = {"__range", "__rate_interval", "__interval"}


def committed() -> dict[str, dict[str, Any]]:
    return {
        path.name: json.loads(path.read_text("utf-8"))
        for path in sorted(dashboards.JSON_DIR.glob("*.json"))
    }


def test_committed_json_is_what_the_generator_writes() -> None:
    generated = dashboards.render()
    on_disk = {path.name: path.read_text("utf-8") for path in dashboards.JSON_DIR.glob("*.json")}
    assert sorted(on_disk) == sorted(generated), "run: python -m dashboards"
    for name, text in generated.items():
        assert on_disk[name] == text, f"{name} is out of date: run python -m dashboards"


@pytest.mark.parametrize("name", sorted(dashboards.render()))
def test_every_panel_has_a_description_a_unit_and_the_chosen_datasource(name: str) -> None:
    board = committed()[name]
    panels = [panel for panel in board["panels"] if panel["type"] != "row"]
    assert panels
    for panel in panels:
        assert panel["description"].strip(), panel["title"]
        assert panel["fieldConfig"]["defaults"].get("unit"), panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert target["refId"]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("name", sorted(dashboards.render()))
def test_queries_use_only_defined_variables(name: str) -> None:
    board = committed()[name]
    variables = {variable["name"] for variable in board["templating"]["list"]}
    assert board["templating"]["list"][0]["type"] == "datasource"
    for query in dashboards.queries({name: board}):
        used = set(re.findall(r"\$\{?(\w+)", query.expr))
        assert used <= variables | BUILTINS, f"{query.id}: {used - variables - BUILTINS}"


def test_dashboards_offer_zone_service_and_endpoint_variables_starting_at_all() -> None:
    found: dict[str, set[str]] = {}
    for name, board in committed().items():
        for variable in board["templating"]["list"]:
            found.setdefault(variable["name"], set()).add(name)
            if variable["type"] == "query":
                assert variable["includeAll"]
                assert variable["allValue"] == ".*"
                assert variable["current"]["value"] == "$__all"
                assert variable["description"]
    assert {"datasource", "zone", "service", "endpoint"} <= set(found)
    assert found["datasource"] == set(committed())


def test_dashboard_uids_are_unique_and_stable() -> None:
    uids = {name: board["uid"] for name, board in committed().items()}
    assert len(set(uids.values())) == len(uids)
    assert all(uid.startswith("vigie-") for uid in uids.values())


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (target) (rate(a_total{x="y"}[5m])) / on (target) b', {"a_total", "b"}),
        ('probe_success{target=~".*@$zone"} == 1', {"probe_success"}),
        ("histogram_quantile(0.95, sum by (le) (rate(h_bucket[$__rate_interval])))", {"h_bucket"}),
        ("(x - time()) / 86400 or vector(0)", {"x"}),
        (
            "vigie:probe_availability:ratio_rate1h < on (service) group_left c",
            {"vigie:probe_availability:ratio_rate1h", "c"},
        ),
    ],
    ids=["grouping", "regex-string", "histogram", "functions", "recording-rule"],
)
def test_metric_names_of_an_expression(expr: str, names: set[str]) -> None:
    assert dashboards.metric_names(expr) == names
