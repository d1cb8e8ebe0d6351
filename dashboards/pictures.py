"""`python -m dashboards.pictures`: pictures of representative panels, from real data.

Grafana is not needed: the script starts the demo and Prometheus (as the integration test
does), plays the demo scenario's faults, runs the panels' own queries and draws their
results with matplotlib into docs/dashboards/*.png. They are renderings of the same
queries, not screenshots of Grafana.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dashboards import JSON_DIR, PanelQuery, queries
from dashboards.live import Stack, expand, running_stack

OUT = Path(__file__).resolve().parent.parent / "docs" / "dashboards"
STEP_SECONDS = 5.0

# dashboard -> the panels drawn, in a 2 x 2 grid
PICTURES: dict[str, tuple[str, ...]] = {
    "overview": (
        "Availability over the time range",
        "Availability against objective (1 h window)",
        "Checks failing now",
        "Agent: scheduling lag",
    ),
    "sml-dns": (
        "Response time by name server",
        "Sweep lookups by reason",
        "Failing participants",
        "SOA serial by name server",
    ),
    "pki": (
        "Days to expiry of every monitored certificate",
        "CRL time to nextUpdate",
        "CRL download time",
        "OCSP answer time to nextUpdate",
    ),
    "endpoints": (
        "p95 latency by phase (10 min)",
        "Availability (rate window)",
        "Error-budget burn rate (1 h)",
        "Capacity: latency under load",
    ),
    "tickets": (
        "Open master tickets by severity",
        "Tickets created and resolved",
        "Open tickets by state",
        "Alerts received by source",
    ),
}

BACKGROUND, PANEL, TEXT, GRID = "#111217", "#181b1f", "#ccccdc", "#2c3235"
HIDDEN = {"__name__", "kind", "service", "serial"}
GRAFANA_COLOURS = {"green": "#73bf69", "orange": "#ff9830", "red": "#f2495c"}
COLOURS = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9"]


def _legend(template: str, labels: dict[str, str]) -> str:
    if not template:  # a table row: its label values, as the table's columns show them
        shown = [value for key, value in sorted(labels.items()) if key not in HIDDEN]
        return " ".join(shown)
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda match: labels.get(match[1], ""), template)


def _scale(unit: str) -> tuple[float, str]:
    """A factor and an axis label for Grafana's unit ids used by the dashboards."""
    return {
        "percentunit": (100.0, "%"),
        "s": (1.0, "seconds"),
        "d": (1.0, "days"),
        "ops": (1.0, "per second"),
        "reqps": (1.0, "requests/s"),
    }.get(unit, (1.0, ""))


def _colour(value: float, steps: list[dict[str, Any]]) -> str:
    """The colour of the panel's threshold step `value` falls in."""
    colour = COLOURS[0]
    for step in steps:
        if step["value"] is None or value >= step["value"]:
            colour = GRAFANA_COLOURS.get(step["color"], step["color"])
    return colour


def _draw(
    axes: Any,
    panel: dict[str, Any],
    panel_queries: list[PanelQuery],
    stack: Stack,
    span: tuple[float, float],
) -> None:
    title, kind = panel["title"], panel["type"]
    start, end = span
    axes.set_facecolor(PANEL)
    axes.set_title(title, color=TEXT, fontsize=10, loc="left")
    axes.tick_params(colors=TEXT, labelsize=7)
    for side in axes.spines.values():
        side.set_color(GRID)
    factor, label = _scale(panel_queries[0].unit)
    series: list[tuple[str, list[float], list[float]]] = []
    for query in panel_queries:
        board = json.loads((JSON_DIR / f"{query.dashboard}.json").read_text("utf-8"))
        values = {
            variable["name"]: variable["allValue"]
            for variable in board["templating"]["list"]
            if variable["type"] == "query"
        }
        expr = expand(query.expr, values, end - start)
        for item in stack.query_range(expr, start, end, STEP_SECONDS):
            times = [float(point[0]) for point in item["values"]]
            points = [float(point[1]) * factor for point in item["values"]]
            series.append((_legend(query.legend, item["metric"]), times, points))
    if not series:
        axes.text(
            0.5, 0.5, "No data", color=TEXT, ha="center", va="center", transform=axes.transAxes
        )
        axes.set_xticks([])
        axes.set_yticks([])
        return
    if kind == "timeseries":
        for index, (name, times, points) in enumerate(series[:10]):
            moments = [datetime.datetime.fromtimestamp(moment, tz=datetime.UTC) for moment in times]
            axes.plot(
                moments, points, color=COLOURS[index % len(COLOURS)], linewidth=1.4, label=name
            )
        axes.grid(color=GRID, linewidth=0.6)
        axes.set_ylabel(label, color=TEXT, fontsize=8)
        axes.xaxis.set_major_locator(_time_ticks())
        axes.xaxis.set_major_formatter(_time_format())
        axes.ticklabel_format(axis="y", useOffset=False, style="plain")
        axes.legend(fontsize=6, facecolor=PANEL, edgecolor=GRID, labelcolor=TEXT, loc="best")
    else:  # stat and table panels: the last value of each series, as bars
        last = sorted(((name, points[-1]) for name, _, points in series), key=lambda item: item[1])[
            :12
        ]
        names = [name[:36] for name, _ in last]
        steps = panel["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
        colours = [_colour(value / factor, steps) for _, value in last]
        axes.barh(names, [value for _, value in last], color=colours)
        for index, (_, value) in enumerate(last):
            axes.text(value, index, f" {value:.4g}", color=TEXT, va="center", fontsize=7)
        axes.set_xlabel(label, color=TEXT, fontsize=8)
        axes.grid(color=GRID, linewidth=0.6, axis="x")


def _time_ticks() -> Any:
    from matplotlib.dates import AutoDateLocator

    return AutoDateLocator(maxticks=6)  # type: ignore[no-untyped-call,unused-ignore]


def _time_format() -> Any:
    from matplotlib.dates import DateFormatter

    return DateFormatter("%H:%M:%S")  # type: ignore[no-untyped-call,unused-ignore]


def render(stack: Stack, out: Path, span: tuple[float, float]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    all_queries = list(queries())
    boards = {path.stem: json.loads(path.read_text("utf-8")) for path in JSON_DIR.glob("*.json")}
    written = []
    for dashboard, titles in PICTURES.items():
        figure, grid = pyplot.subplots(2, 2, figsize=(12, 6.5), facecolor=BACKGROUND)
        for axes, title in zip(grid.flat, titles, strict=True):
            panel = next(item for item in boards[dashboard]["panels"] if item["title"] == title)
            chosen = [
                query
                for query in all_queries
                if query.dashboard == dashboard and query.panel == title
            ]
            _draw(axes, panel, chosen, stack, span)
        figure.suptitle(
            f"{boards[dashboard]['title']}: the panels' queries on `vigie demo` data "
            "(a rendering, not Grafana)",
            color=TEXT,
            fontsize=11,
        )
        figure.tight_layout()
        path = out / f"{dashboard}.png"
        figure.savefig(path, dpi=90, facecolor=BACKGROUND, metadata={"Software": None})
        pyplot.close(figure)
        written.append(path)
    return written


def main() -> int:
    from vigie.demo import SCENARIO

    parser = argparse.ArgumentParser(prog="python -m dashboards.pictures", description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT, help=f"directory (default {OUT})")
    parser.add_argument("--prometheus", default=shutil.which("prometheus"), help="its path")
    parser.add_argument("--hold", type=float, default=30.0, help="seconds each fault wave lasts")
    args = parser.parse_args()
    if not args.prometheus:
        print("prometheus is not installed (apt-get install prometheus)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="vigie-pictures-") as workdir,
        running_stack(Path(workdir), args.prometheus) as stack,
    ):
        stack.play([(str(step.kind), step.target) for step in SCENARIO], args.hold, args.hold)
        span = (stack.started, time.time())
        for path in render(stack, args.out, span):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
