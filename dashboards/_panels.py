"""Panel, variable and dashboard builders shared by every vigie dashboard.

Each dashboard module states what it shows (titles, descriptions, PromQL, units); this
module owns how that becomes Grafana JSON, so the five dashboards look alike: a
datasource variable on every one, a description on every panel, ids and refIds assigned
in order so the generated JSON is stable from one run to the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import (
    common,
    prometheus,
    stat,
    statetimeline,
    table,
    timeseries,
)
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.common import BigValueColorMode, BigValueGraphMode
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

__all__ = [
    "DATASOURCE",
    "Query",
    "Steps",
    "build_dashboard",
    "increase_ratio",
    "label_variable",
    "row",
    "stat_panel",
    "state_panel",
    "table_panel",
    "timeseries_panel",
]

# Every panel and variable queries the datasource the user picks in the variable below.
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")

# Threshold steps: (value, colour); the first value is None, Grafana's "from -infinity".
Steps = Sequence[tuple[float | None, str]]
GOOD_WHEN_HIGH: Steps = ((None, "red"), (0.99, "orange"), (0.999, "green"))

Panel = cogbuilder.Builder[model.Panel]


@dataclass(frozen=True, slots=True)
class Query:
    """One PromQL query of a panel. `instant` for tables and "now" stats."""

    expr: str
    legend: str = ""
    instant: bool = False


def increase_ratio(part: str, whole: str, by: str, window: str = "$__range") -> str:
    """PromQL for how much `part` grew against `whole` over `window`, per `by` label: the
    share of good runs, of met clocks, or a mean duration from `_sum` over `_count`."""
    return (
        f"sum by ({by}) (increase({part}[{window}])) / sum by ({by}) (increase({whole}[{window}]))"
    )


def _target(query: Query, ref_id: str) -> prometheus.Dataquery:
    target = prometheus.Dataquery().expr(query.expr).ref_id(ref_id).datasource(DATASOURCE)
    if query.legend:
        target = target.legend_format(query.legend)
    if query.instant:
        return target.instant().format(PromQueryFormat.TABLE)
    return target.range()


def _thresholds(steps: Steps) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for value, color in steps])
    )


def timeseries_panel(
    title: str,
    description: str,
    unit: str,
    *queries: Query,
    width: int = 12,
    height: int = 8,
    min_value: float | None = None,
    max_value: float | None = None,
    steps: Steps | None = None,
) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).description(description).unit(unit)
    panel = panel.datasource(DATASOURCE).span(width).height(height)
    for index, query in enumerate(queries):
        panel = panel.with_target(_target(query, chr(ord("A") + index)))
    if min_value is not None:
        panel = panel.min(min_value)
    if max_value is not None:
        panel = panel.max(max_value)
    if steps is not None:
        panel = panel.thresholds(_thresholds(steps))
    return panel


def stat_panel(
    title: str,
    description: str,
    unit: str,
    *queries: Query,
    steps: Steps = ((None, "green"),),
    width: int = 6,
    height: int = 6,
    decimals: float | None = None,
) -> stat.Panel:
    panel = stat.Panel().title(title).description(description).unit(unit)
    panel = panel.datasource(DATASOURCE).span(width).height(height)
    panel = panel.thresholds(_thresholds(steps)).color_mode(BigValueColorMode.BACKGROUND)
    panel = panel.graph_mode(BigValueGraphMode.NONE)
    if decimals is not None:
        panel = panel.decimals(decimals)
    for index, query in enumerate(queries):
        panel = panel.with_target(_target(query, chr(ord("A") + index)))
    return panel


def table_panel(
    title: str,
    description: str,
    unit: str,
    query: Query,
    *,
    columns: Sequence[str],
    sort_by: str = "Value",
    descending: bool = False,
    width: int = 12,
    height: int = 8,
    steps: Steps | None = None,
) -> table.Panel:
    """A table of one instant query: `columns` are the labels shown, in order, then Value."""
    panel = table.Panel().title(title).description(description).unit(unit)
    panel = panel.datasource(DATASOURCE).span(width).height(height)
    panel = panel.with_target(_target(Query(query.expr, query.legend, instant=True), "A"))
    shown = {name: index for index, name in enumerate([*columns, "Value"])}
    panel = panel.with_transformation(
        model.DataTransformerConfig(
            id_val="organize",
            options={
                "excludeByName": {"Time": True, "__name__": True},
                "indexByName": shown,
                "includeByName": dict.fromkeys(shown, True),
            },
        )
    )
    panel = panel.sort_by([common.TableSortByFieldState().display_name(sort_by).desc(descending)])
    if steps is not None:
        panel = panel.thresholds(_thresholds(steps))
    return panel


def state_panel(
    title: str,
    description: str,
    query: Query,
    *,
    mappings: Sequence[tuple[float, str, str]],
    width: int = 12,
    height: int = 6,
) -> statetimeline.Panel:
    """A state timeline; `mappings` name values (value, text, colour)."""
    panel = statetimeline.Panel().title(title).description(description).unit("none")
    panel = panel.datasource(DATASOURCE).span(width).height(height)
    panel = panel.with_target(_target(query, "A"))
    value_map = model.ValueMap(
        options={
            str(int(value)): model.ValueMappingResult(text=text, color=color, index=index)
            for index, (value, text, color) in enumerate(mappings)
        }
    )
    return panel.mappings([value_map])


def row(title: str) -> dash.Row:
    return dash.Row(title)


def label_variable(
    name: str, label: str, series: str, label_name: str, description: str
) -> dash.QueryVariable:
    """A variable listing the values of `label_name` on `series`; "All" (`.*`) at first."""
    return (
        dash.QueryVariable(name)
        .label(label)
        .description(description)
        .query(f"label_values({series}, {label_name})")
        .datasource(DATASOURCE)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
        .multi(True)
        .sort(model.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
    )


def build_dashboard(
    uid: str,
    title: str,
    description: str,
    variables: Sequence[dash.QueryVariable],
    panels: Sequence[Panel | dash.Row],
) -> model.Dashboard:
    board = (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["vigie", "edelivery"])
        .editable()
        .timezone("browser")
        .time("now-6h", "now")
        .refresh("1m")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .with_variable(
            dash.DatasourceVariable("datasource")
            .label("Data source")
            .description("The Prometheus that scrapes vigie")
            .type("prometheus")
        )
    )
    for variable in variables:
        board = board.with_variable(variable)
    for number, item in enumerate(panels, start=1):
        if isinstance(item, dash.Row):
            board = board.with_row(item.id(number))
        else:
            board = board.with_panel(item.id(number))  # type: ignore[attr-defined]
    return board.build()
