#!/usr/bin/python3
"""tools/forage_bench_chart.py: a PNG chart of `tools/forage-bench --json` results.

One subplot per suite, showing the suite's headline metric (suites[].metrics[0]): bars grouped
by worker count, one bar per report row (`system` or `system (variant)`), each the median
divided by the suite's baseline row (forage's) at the same worker count, so the baseline is
1.0; thin lines show the min-max spread over the repetitions. Under each group, "1 = <value>"
gives the baseline's own median. The y axis turns logarithmic when the ratios span more than
a factor of 10. A bar whose baseline is missing at its worker count is left out; a suite whose
baseline is 0 somewhere (0 allocations) is drawn in raw values instead, with a note; a bar
whose value is 0 is marked "0". Each system keeps its colour in every subplot (its variants:
shades of it), with one legend for the whole figure.

When the results hold more than two worker counts, a second PNG (--scaling-out, by default
next to --out: results.png -> results-scaling.png) shows how each suite scales: one subplot
per suite with its scaling metric (suites[].scaling, else the headline) in its own unit
against the worker count on a log2 axis, one line per row in the same colours, min-max as
error bars. Where the figure is a time per unit of work (suites[].scaling) or a rate (higher
is better), a dashed grey line is ideal scaling from the baseline row's 1-worker figure (time
/ n, rate x n, flat past the machine's cores). Worker counts above the cores are shaded:
oversubscribed.

    tools/forage-bench --json results.json
    tools/forage_bench_chart.py --json results.json --out results.png

The document format is docs/bench-results.schema.json. Needs Debian's python3-matplotlib
(run with /usr/bin/python3).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SYSTEMS = ["forage", "single_queue_locked", "single_queue_lock_free", "onetbb", "openmp",
           "rvaser_thread_pool"]
SYSTEM_COLOURS = {
    "forage": "#1f77b4",  # blue
    "single_queue_locked": "#7f3fbf",  # purple
    "single_queue_lock_free": "#d94f9b",  # pink
    "onetbb": "#2ca02c",  # green
    "openmp": "#ff7f0e",  # orange
    "rvaser_thread_pool": "#8c564b",  # brown
}
OTHER_COLOUR = "#7f7f7f"  # a system this script does not know
COLUMNS = 3
WIDTH_INCHES = 14.0
DPI = 100
LOG_SPAN = 10.0  # log y scale when the largest plotted value / the smallest exceeds this
MACHINE_LINE_CHARS = 150  # a longer machine line is split in two
DEFAULT_TITLE = "forage-bench: each suite's headline figure, relative to forage"
SCALING_TITLE = "forage-bench: each suite's figure against the worker count"
IDEAL_COLOUR = "#999999"
OVERSUBSCRIBED_COLOUR = "#eeeeee"


class InputError(Exception):
    """The JSON document is not what forage-bench writes."""


@dataclass(frozen=True)
class Row:
    system: str
    variant: str | None

    @property
    def label(self) -> str:
        return f"{self.system} ({self.variant})" if self.variant is not None else self.system


@dataclass(frozen=True)
class Figure:
    value: float
    low: float
    high: float


# --- Reading ---------------------------------------------------------------------------------


def load(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"cannot read {path}: {error}") from error
    except json.JSONDecodeError as error:
        raise InputError(f"{path} is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise InputError(f"{path}: expected a JSON object")
    for key in ("machine", "settings", "suites", "results"):
        if key not in document:
            raise InputError(f"{path} has no '{key}': is it `tools/forage-bench --json` "
                             "output? (format: docs/bench-results.schema.json)")
    if document.get("schema_version") != 1:
        print(f"forage_bench_chart: warning: schema_version {document.get('schema_version')}"
              ", this script knows version 1", file=sys.stderr)
    return document


def finite(*values: Any) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def row_order(results: list[dict[str, Any]]) -> dict[Row, tuple[int, int]]:
    """Sort key of every row: its system's place in SYSTEMS, then first appearance."""
    order: dict[Row, tuple[int, int]] = {}
    for result in results:
        row = Row(result["system"], result.get("variant"))
        if row not in order:
            rank = SYSTEMS.index(row.system) if row.system in SYSTEMS else len(SYSTEMS)
            order[row] = (rank, len(order))
    return order


# --- Colours ---------------------------------------------------------------------------------


SHADES = [0.0, -0.4, 0.45, -0.65, 0.7]  # < 0: towards black, > 0: towards white


def row_colours(rows: list[Row], together: list[set[Row]]) -> dict[Row, tuple[float, ...]]:
    """A colour per row: its system's, in a shade that differs from every other variant of
    the system drawn in the same subplot (together: the rows of each subplot). Rows never
    drawn together may share a shade, so a row keeps one colour in every subplot."""
    from matplotlib.colors import to_rgb

    shade_of: dict[Row, int] = {}
    for row in rows:  # in row order: the first variant of a system gets its plain colour
        taken = {shade_of[other] for group in together if row in group for other in group
                 if other in shade_of and other.system == row.system}
        shade_of[row] = next(i for i in range(len(rows) + 1) if i not in taken)
    colours = {}
    for row in rows:
        base = to_rgb(SYSTEM_COLOURS.get(row.system, OTHER_COLOUR))
        index = shade_of[row]
        # Beyond the listed shades (more than 5 variants in one subplot), cycle lighter ones.
        shade = SHADES[index] if index < len(SHADES) else 0.2 + 0.1 * (index % 6)
        target = 1.0 if shade > 0 else 0.0
        colours[row] = tuple(c + (target - c) * abs(shade) for c in base)
    return colours


# --- Drawing ---------------------------------------------------------------------------------


def format_value(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.01:
        return f"{value:.3g}"
    return f"{value:.1e}"


def workers_label(count: int) -> str:
    return f"{count} worker" if count == 1 else f"{count} workers"


def headline_figures(suite: dict[str, Any],
                     results: list[dict[str, Any]]) -> dict[tuple[Row, int], Figure]:
    """The suite's headline metric (metrics[0]) by (row, workers); non-finite ones dropped."""
    return metric_figures(suite, suite["metrics"][0]["metric"], results)


def metric_figures(suite: dict[str, Any], metric: str,
                   results: list[dict[str, Any]]) -> dict[tuple[Row, int], Figure]:
    """One of the suite's metrics by (row, workers); non-finite ones dropped."""
    figures = {}
    for result in results:
        if (result["suite"] == suite["name"] and result["metric"] == metric
                and finite(result["value"])):
            low = result.get("min", result["value"])
            high = result.get("max", result["value"])
            if not finite(low, high):
                low = high = result["value"]
            figures[(Row(result["system"], result.get("variant")), result["workers"])] = \
                Figure(result["value"], low, high)
    return figures


def draw_suite(ax: Any, suite: dict[str, Any], figures: dict[tuple[Row, int], Figure],
               order: dict[Row, tuple[int, int]],
               colours: dict[Row, tuple[float, ...]]) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter
    from matplotlib.transforms import blended_transform_factory

    metric = suite["metrics"][0]
    name, baseline = suite["name"], metric.get("baseline", suite["baseline"])
    better, unit = metric["better"], metric["unit"]
    title = f"{name}: {metric['title']}"
    if not figures:
        ax.set_title(title, fontsize=10)
        why = "no results" if suite.get("ok", True) else "no results (the suite failed)"
        ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="dimgray")
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        return

    rows = sorted({row for row, _ in figures}, key=lambda r: order[r])
    workers = sorted({count for _, count in figures})
    base = {count: figures[(row, count)].value for row, count in figures
            if row.label == baseline}
    notes = []
    if not suite.get("ok", True):
        notes.append("the suite failed: some results are missing")
    relative = bool(base) and all(value > 0 for value in base.values())
    if not base:
        notes.append(f"no '{baseline}' row: raw values")
    elif not relative:
        zero_at = [str(c) for c, v in sorted(base.items()) if v <= 0]
        notes.append(f"{baseline} is 0 at {','.join(zero_at)} workers: raw values")
    elif len(base) < len(workers):
        missing = [str(c) for c in workers if c not in base]
        notes.append(f"no {baseline} at {','.join(missing)} workers: those bars are left out")

    width = 0.84 / len(rows)
    plotted: list[float] = []
    zeros: list[float] = []  # x of the bars whose value is 0
    for index, row in enumerate(rows):
        xs, heights, below, above = [], [], [], []
        for group, count in enumerate(workers):
            figure = figures.get((row, count))
            if figure is None or (relative and count not in base):
                continue
            scale = base[count] if relative else 1.0
            x = group - 0.42 + width * (index + 0.5)
            value, low, high = figure.value / scale, figure.low / scale, figure.high / scale
            if value == 0:
                zeros.append(x)
            xs.append(x)
            heights.append(value)
            below.append(max(value - low, 0.0))
            above.append(max(high - value, 0.0))
            plotted.append(value)
        if xs:
            ax.bar(xs, heights, width=width * 0.92, color=colours[row], label=row.label,
                   yerr=[below, above], error_kw={"elinewidth": 0.7, "ecolor": "#333333",
                                                  "capsize": 0})

    positive = [v for v in plotted if v > 0]
    if positive and max(positive) / min(positive) > LOG_SPAN:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        low = min(positive)
        ax.set_ylim(bottom=low / 2 if not zeros else low / 4, top=max(positive) * 2.5)
    elif plotted:
        ax.set_ylim(bottom=0, top=max(max(plotted), 1.0 if relative else 0.0) * 1.15 or 1.0)
    if relative:
        ax.axhline(1.0, color="#444444", linewidth=0.8, linestyle="--", zorder=0)
    marker = blended_transform_factory(ax.transData, ax.transAxes)
    for x in zeros:
        ax.text(x, 0.015, "0", transform=marker, ha="center", va="bottom", fontsize=7,
                fontweight="bold", color="#222222")

    ticks = []
    for count in workers:
        if relative:
            shown = f"1 = {format_value(base[count])} {unit}" if count in base else "no baseline"
            ticks.append(f"{workers_label(count)}\n{shown}")
        else:
            ticks.append(workers_label(count))
    ax.set_xticks(range(len(workers)), ticks, fontsize=7.5)
    ax.set_xlim(-0.5, len(workers) - 0.5)
    ax.tick_params(axis="y", labelsize=7.5)
    ax.set_title(title, fontsize=10)
    if relative:
        ax.set_ylabel(f"× {baseline}, {better} is better", fontsize=8)
    else:
        ax.set_ylabel(f"{unit}, {better} is better", fontsize=8)
    if notes:
        ax.set_xlabel("; ".join(notes), fontsize=7.5, style="italic", color="#8b0000")
    ax.grid(axis="y", linewidth=0.4, alpha=0.5)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def machine_line(document: dict[str, Any]) -> str:
    machine, settings = document["machine"], document["settings"]
    parts = [str(machine.get("cpu", "unknown CPU"))]
    if "cores" in machine or "pus" in machine:
        cores, pus = machine.get("cores", "?"), machine.get("pus", "?")
        parts.append(f"{cores} core{'' if cores == 1 else 's'} / {pus} PU{'' if pus == 1 else 's'}")
    parts.append(str(machine.get("compiler", "unknown compiler")))
    parts.append(str(machine.get("date", "")))
    runs = settings.get("repetitions")
    how = [f"median of {runs} runs, lines: min–max" if runs else "medians"]
    if settings.get("quick"):
        how.append("--quick (smoke-test sizes)")
    line = " · ".join(part for part in parts + how if part)
    if len(line) > MACHINE_LINE_CHARS:  # the settings on a line of their own
        line = " · ".join(part for part in parts if part) + "\n" + " · ".join(how)
    return line


def draw_legend(fig: Any, axes: Any, order: dict[Row, tuple[int, int]],
                colours: dict[Row, tuple[float, ...]],
                extra: list[tuple[Any, str]] | None = None) -> float:
    """One legend for the figure, a column per system; returns its height (figure fraction).

    The variants of a system drawn in the same colour (never in the same subplot) share an
    entry, "system (a / b)"; a suite without variants has its own "system" entry. `extra`
    entries (the scaling chart's ideal line) get a last column of their own."""
    from matplotlib.patches import Patch

    handles = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    rows = sorted((row for row in order if row.label in handles), key=lambda row: order[row])
    if not rows and not extra:
        return 0.0
    columns: list[list[tuple[Any, str]]] = []
    for system in dict.fromkeys(row.system for row in rows):
        mine = [row for row in rows if row.system == system]
        column = [(handles[row.label], row.label) for row in mine if row.variant is None]
        by_colour: dict[tuple[float, ...], list[Row]] = {}
        for row in mine:
            if row.variant is not None:
                by_colour.setdefault(colours[row], []).append(row)
        for same in by_colour.values():
            variants = " / ".join(str(row.variant) for row in same)
            column.append((handles[same[0].label], f"{system} ({variants})"))
        columns.append(column)
    if extra:
        columns.append(list(extra))

    def place(wrap: bool) -> Any:
        lines = max(len(column) for column in columns)
        entries: list[tuple[Any, str]] = []  # column by column: matplotlib fills columns first
        for column in columns:
            for handle, label in column:
                if wrap:  # every entry on two lines, so that the rows stay aligned
                    label = label.replace(" (", "\n(", 1) if " (" in label else label + "\n "
                entries.append((handle, label))
            entries += [(Patch(visible=False), "\n " if wrap else "")] * (lines - len(column))
        legend = fig.legend([h for h, _ in entries], [label for _, label in entries],
                            loc="lower center", ncol=len(columns), fontsize=8, frameon=False,
                            handlelength=1.4, columnspacing=1.4, bbox_to_anchor=(0.5, 0.0))
        return legend

    legend = place(wrap=False)
    renderer = fig.canvas.get_renderer()
    if legend.get_window_extent(renderer).width > 0.98 * fig.bbox.width:
        legend.remove()  # too wide: each label on two lines, "system" over "(variants)"
        legend = place(wrap=True)
    return legend.get_window_extent(renderer).height / fig.bbox.height


def draw(document: dict[str, Any], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    suites = document["suites"]
    results = document["results"]
    if not suites:
        raise InputError("the document has no suites")
    order = row_order(results)
    figures = [headline_figures(suite, results) for suite in suites]
    together = [{row for row, _ in suite_figures} for suite_figures in figures]
    colours = row_colours(sorted(set().union(*together), key=lambda row: order[row]), together)

    columns = min(COLUMNS, len(suites))
    lines = math.ceil(len(suites) / columns)
    height = max(4.5, 2.9 * lines + 1.3)
    fig, axes = plt.subplots(lines, columns, figsize=(WIDTH_INCHES, height), dpi=DPI,
                             squeeze=False)
    for index, suite in enumerate(suites):
        draw_suite(axes[index // columns][index % columns], suite, figures[index], order,
                   colours)
    for index in range(len(suites), lines * columns):
        axes[index // columns][index % columns].axis("off")

    legend_height = draw_legend(fig, axes, order, colours)
    fig.suptitle(f"{title}\n{machine_line(document)}", fontsize=11, y=0.995)
    fig.tight_layout(rect=(0, legend_height + 0.005, 1, 1), h_pad=1.2, w_pad=1.0)
    fig.savefig(out, dpi=DPI, pil_kwargs={"optimize": True})
    plt.close(fig)


# --- Scaling ----------------------------------------------------------------------------------


def scaling_path(out: Path) -> Path:
    """The scaling chart's default place: next to the chart, results.png -> results-scaling.png."""
    return out.with_name(f"{out.stem}-scaling{out.suffix}")


def worker_counts(document: dict[str, Any]) -> list[int]:
    """The worker counts that have results (settings.workers when none has)."""
    counts = {result["workers"] for result in document["results"]}
    return sorted(counts or set(document["settings"].get("workers", [])))


def scaling_metric(suite: dict[str, Any]) -> dict[str, Any]:
    """The suite's scaling metric: suites[].scaling when it names one of its metrics, else the
    headline (metrics[0])."""
    named = suite.get("scaling")
    for metric in suite["metrics"]:
        if metric["metric"] == named:
            return metric
    return suite["metrics"][0]


def has_ideal(suite: dict[str, Any], metric: dict[str, Any]) -> bool:
    """Ideal scaling means something for a time per unit of work (what suites[].scaling
    declares) or a rate (higher is better); not for a latency, a CPU share or a count."""
    return metric["metric"] == suite.get("scaling") or metric["better"] == "higher"


def draw_scaling_suite(ax: Any, suite: dict[str, Any], figures: dict[tuple[Row, int], Figure],
                       order: dict[Row, tuple[int, int]], colours: dict[Row, tuple[float, ...]],
                       cores: int | None) -> bool:
    """One suite's scaling subplot; returns whether it drew an ideal line."""
    from matplotlib.ticker import (FixedLocator, FuncFormatter, LogLocator, NullFormatter,
                                   NullLocator)

    metric = scaling_metric(suite)
    title = f"{suite['name']}: {metric['title']}"
    ax.set_title(title, fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if not figures:
        why = "no results" if suite.get("ok", True) else "no results (the suite failed)"
        ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="dimgray")
        ax.set_xticks([])
        ax.set_yticks([])
        return False

    rows = sorted({row for row, _ in figures}, key=lambda r: order[r])
    workers = sorted({count for _, count in figures})
    plotted: list[float] = []
    for row in rows:
        points = [(count, figures[(row, count)]) for count in workers if (row, count) in figures]
        xs = [count for count, _ in points]
        ys = [figure.value for _, figure in points]
        below = [max(figure.value - figure.low, 0.0) for _, figure in points]
        above = [max(figure.high - figure.value, 0.0) for _, figure in points]
        ax.errorbar(xs, ys, yerr=[below, above], color=colours[row], label=row.label,
                    marker="o", markersize=3.5, linewidth=1.4, elinewidth=0.7, capsize=2)
        plotted += [figure.low for _, figure in points] + [figure.high for _, figure in points]

    ideal = False
    baseline = metric.get("baseline", suite["baseline"])
    base_row = next((row for row in rows if row.label == baseline), None)
    start = figures.get((base_row, workers[0])) if base_row else None
    if has_ideal(suite, metric) and start and start.value > 0 and len(workers) > 1:
        first = workers[0]
        # Past the cores more workers add no hardware: the ideal stays flat there.
        usable = [min(count, cores) if cores else count for count in workers]
        if metric["better"] == "higher":
            line = [start.value * count / first for count in usable]
        else:
            line = [start.value * first / count for count in usable]
        ax.plot(workers, line, color=IDEAL_COLOUR, linestyle="--", linewidth=1.0, zorder=0)
        plotted += line
        ideal = True

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_locator(FixedLocator(workers))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(workers[0] / 1.3, workers[-1] * 1.3)
    if cores and workers[-1] > cores:
        above_cores = [count for count in workers if count > cores]
        # From halfway (on the log axis) between the cores and the next count past them.
        edge = math.sqrt(cores * above_cores[0]) if cores >= workers[0] else workers[0] / 1.3
        ax.axvspan(edge, workers[-1] * 1.3, color=OVERSUBSCRIBED_COLOUR, zorder=-1)
        ax.text(workers[-1] * 1.25, 0.98, f"more workers\nthan {cores} cores",
                transform=ax.get_xaxis_transform(), ha="right", va="top", fontsize=7,
                color="#666666")

    positive = [v for v in plotted if v > 0]
    if positive and len(positive) == len(plotted) and max(positive) / min(positive) > LOG_SPAN:
        ax.set_yscale("log")
        # 1, 2, 5 per decade: a figure spanning one or two decades still gets labels.
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(bottom=min(positive) / 1.6, top=max(positive) * 1.6)
    elif plotted:
        ax.set_ylim(bottom=min(0.0, min(plotted)), top=max(plotted) * 1.15 or 1.0)
    ax.tick_params(axis="both", labelsize=7.5)
    ax.set_xlabel("workers", fontsize=8)
    ax.set_ylabel(f"{metric['unit']}, {metric['better']} is better", fontsize=8)
    if not suite.get("ok", True):
        ax.text(0.5, 0.02, "the suite failed: some results are missing", fontsize=7.5,
                style="italic", color="#8b0000", ha="center", va="bottom",
                transform=ax.transAxes)
    ax.grid(which="major", linewidth=0.4, alpha=0.5)
    ax.set_axisbelow(True)
    return ideal


def draw_scaling(document: dict[str, Any], out: Path, title: str) -> None:
    """Each suite's scaling metric against the worker count, one line per row."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.lines import Line2D
    import matplotlib.pyplot as plt

    suites = document["suites"]
    results = document["results"]
    if not suites:
        raise InputError("the document has no suites")
    order = row_order(results)
    figures = [metric_figures(suite, scaling_metric(suite)["metric"], results)
               for suite in suites]
    together = [{row for row, _ in suite_figures} for suite_figures in figures]
    colours = row_colours(sorted(set().union(*together), key=lambda row: order[row]), together)
    cores = document["machine"].get("cores")
    cores = cores if isinstance(cores, int) and cores > 0 else None

    columns = min(COLUMNS, len(suites))
    lines = math.ceil(len(suites) / columns)
    height = max(4.5, 3.1 * lines + 1.3)
    fig, axes = plt.subplots(lines, columns, figsize=(WIDTH_INCHES, height), dpi=DPI,
                             squeeze=False)
    ideal = False
    for index, suite in enumerate(suites):
        ideal |= draw_scaling_suite(axes[index // columns][index % columns], suite,
                                    figures[index], order, colours, cores)
    for index in range(len(suites), lines * columns):
        axes[index // columns][index % columns].axis("off")

    extra = []
    if ideal:
        ideal_line = Line2D([], [], color=IDEAL_COLOUR, linestyle="--", linewidth=1.0)
        extra.append((ideal_line, "ideal (the baseline's 1-worker figure ÷ n for a time, "
                                  "× n for a rate; n ≤ cores)"))
    legend_height = draw_legend(fig, axes, order, colours, extra)
    fig.suptitle(f"{title}\n{machine_line(document)}", fontsize=11, y=0.995)
    fig.tight_layout(rect=(0, legend_height + 0.005, 1, 1), h_pad=1.2, w_pad=1.0)
    fig.savefig(out, dpi=DPI, pil_kwargs={"optimize": True})
    plt.close(fig)


# --- Main -------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tools/forage_bench_chart.py",
        description="Draw a PNG chart of `tools/forage-bench --json FILE` results: one "
                    "subplot per suite, its headline metric relative to forage.")
    parser.add_argument("--json", type=Path, required=True, metavar="FILE",
                        help="the results (format: docs/bench-results.schema.json)")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.png",
                        help="the PNG to write")
    parser.add_argument("--scaling-out", type=Path, metavar="FILE.png",
                        help="where the scaling chart goes when the results hold more than "
                             "two worker counts (default: next to --out, NAME-scaling.png)")
    parser.add_argument("--title", default=DEFAULT_TITLE, metavar="STR",
                        help="the first title line (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.scaling_out is not None and args.scaling_out.resolve() == args.out.resolve():
        parser.error("--scaling-out names the same file as --out")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        import matplotlib  # noqa: F401  (checked before any work)

        del matplotlib
    except ImportError:
        print(f"forage_bench_chart: matplotlib is missing from {sys.executable}: install "
              "Debian's python3-matplotlib (apt-get install python3-matplotlib) and run this "
              "with /usr/bin/python3", file=sys.stderr)
        return 1
    writing = args.out
    try:
        document = load(args.json)
        draw(document, args.out, args.title)
        print(f"forage_bench_chart: wrote {args.out}", file=sys.stderr)
        scaling_out = args.scaling_out or scaling_path(args.out)
        counts = worker_counts(document)
        if len(counts) > 2:
            writing = scaling_out
            draw_scaling(document, scaling_out, SCALING_TITLE)
            print(f"forage_bench_chart: wrote {scaling_out} (scaling over "
                  f"{','.join(map(str, counts))} workers)", file=sys.stderr)
        elif scaling_out.exists():
            print(f"forage_bench_chart: note: {scaling_out} is from an earlier run (this one "
                  f"has {len(counts)} worker count{'s' if len(counts) != 1 else ''}, no "
                  "scaling chart)", file=sys.stderr)
    except InputError as error:
        print(f"forage_bench_chart: {error}", file=sys.stderr)
        return 1
    except (KeyError, TypeError, IndexError) as error:
        print(f"forage_bench_chart: {args.json} does not match docs/bench-results.schema.json "
              f"({type(error).__name__}: {error}); check it with "
              "tests/tools/bench_json_test.py --check-only FILE", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"forage_bench_chart: cannot write {writing}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
