"""Run-chart pictures and offline HTML pages for each site.

Input is the output of `publish.run_charts.build_run_chart_points`. A chart covers one site and one measure. It draws
one line per ethnic group (the group's rate, `series_type == 'group_rate'`), with that group's baseline median as a
dashed line of the same colour. IHI run-chart signals are marked with distinct symbols: shift (square), trend
(triangle) and astronomical point (star). Groups with an Anhøj runs signal are labelled so in the legend. A vertical
line marks the programme start.

Colours are fixed per ethnic group (Okabe-Ito colour-blind-safe palette), so a group has the same colour on every
chart and every page. Drawing uses matplotlib's object API with the Agg canvas: no pyplot global state and no
display needed.

`write_site_pages` writes dest/<site>/<measure>.png, one self-contained HTML page per site (dest/<site>.html, with
relative image links and inline CSS, and no scripts, fonts or CDN) and dest/index.html.

Only charts whose input changed are drawn again. Beside each PNG, dest/<site>/<measure>.chart.json keeps the sha256 of
what the chart and its summary table are made from (a hash of each of the chart's rows, its title, unit, programme
start, the matplotlib and pandas versions and CHART_VERSION) and the summary table's HTML; when the next build's
inputs hash the same and the PNG is there, both are reused as they are. Charts that do need drawing are drawn in a
pool of worker processes (one per core, at most 4; spawned, so a script calling write_site_pages needs the usual
`if __name__ == "__main__":` guard) when there are enough of them to repay starting the workers. Either way every
picture is drawn by `draw_run_chart`, so it looks exactly the same. Change CHART_VERSION when the drawing or the
summary table changes.
"""

from __future__ import annotations

import hashlib
import html
import json
import multiprocessing
import os
import re
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

__all__ = ["draw_run_chart", "write_site_pages", "group_colour", "GROUP_COLOURS", "CHART_VERSION"]

#: Part of every chart's input hash: change it when draw_run_chart or _summary_table changes, so that every chart
#: and summary table is made again.
CHART_VERSION = "1"
#: The columns draw_run_chart and _summary_table read (the hash covers exactly these).
_CHART_COLUMNS = [
    "series_type",
    "month_start_date",
    "ethnic_group",
    "value",
    "centre_line",
    "ihi_shift",
    "ihi_trend",
    "ihi_astronomical",
    "runs_signal",
    "baseline_rule",
    "unit",
]
_POOL_MIN_CHARTS = 16  # fewer charts than this are drawn in-process: starting workers would cost more

# Okabe-Ito palette, fixed per ethnic group (the ethnic_group values of shared/reference/ethnic_category.csv)
GROUP_COLOURS: dict[str, str] = {
    "White": "#0072B2",
    "Mixed": "#E69F00",
    "Asian or Asian British": "#009E73",
    "Black or Black British": "#D55E00",
    "Any other ethnic group": "#CC79A7",
    "Not known": "#7F7F7F",
    "Not stated": "#B0B0B0",
    "All": "#000000",
}
_EXTRA = ["#56B4E9", "#F0E442", "#882255", "#44AA99", "#999933", "#AA4499", "#332288", "#117733"]

SIGNAL_MARKERS = {  # column -> (marker, size, legend label)
    "ihi_shift": ("s", 9, "Shift: 6+ points on one side of the median"),
    "ihi_trend": ("^", 10, "Trend: 5+ points all going up or all down"),
    "ihi_astronomical": ("*", 15, "Astronomical point (beyond baseline mean ± 3 SD)"),
}


def group_colour(group: str) -> str:
    """Fixed colour for an ethnic group. Names we don't know get a stable colour from a hash of the name."""
    if group in GROUP_COLOURS:
        return GROUP_COLOURS[group]
    return _EXTRA[zlib.crc32(str(group).encode()) % len(_EXTRA)]


def _group_order(groups) -> list[str]:
    known = [g for g in GROUP_COLOURS if g in set(groups)]
    return known + sorted(g for g in set(groups) if g not in GROUP_COLOURS)


def _rate_points(points: pd.DataFrame) -> pd.DataFrame:
    if "series_type" in points.columns and (points["series_type"] == "group_rate").any():
        points = points[points["series_type"] == "group_rate"]
    return points


def _baseline_note(pts: pd.DataFrame) -> str:
    rules = set(pts["baseline_rule"].dropna()) if "baseline_rule" in pts.columns else set()
    what = {
        frozenset({"pre_programme"}): "the months before the programme start",
        frozenset({"first_n_points"}): "the first months with data (too few before the programme start)",
        frozenset({"all_points"}): "all months",
    }.get(frozenset(rules), "the months before the programme start, or the first months with data if too few")
    return f"Solid: monthly rate. Dashed: each group's baseline median ({what})."


def draw_run_chart(
    points: pd.DataFrame,
    title: str,
    programme_start: date,
    path: Path,
    *,
    unit: str | None = None,
    subtitle: str | None = None,
) -> Path:
    """Draw one site x measure run chart to `path` (PNG) and return `path`.

    `points` are rows of `build_run_chart_points` for one site and measure. Only 'group_rate' rows are drawn if any
    are present. `unit` labels the y axis (the values are already in the measure's unit, e.g. "per 1000
    maternities"). If `unit` is not given, a `unit` column is used when present.
    """
    path = Path(path)
    pts = _rate_points(points).copy()
    if unit is None and "unit" in pts.columns and pts["unit"].notna().any():
        unit = str(pts["unit"].dropna().iloc[0])
    pts["month"] = pd.to_datetime(pts["month_start_date"])

    fig = Figure(figsize=(11, 5.6), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    group_handles = []
    for group in _group_order(pts["ethnic_group"].dropna().unique()):
        g = pts[pts["ethnic_group"] == group].sort_values("month")
        colour = group_colour(group)
        has = g["value"].notna()
        if not has.any():
            continue
        ax.plot(g["month"], g["value"], color=colour, lw=1.8, marker="o", ms=3.5, zorder=3)
        centre = g["centre_line"].dropna()
        if len(centre):
            ax.plot(g["month"], np.full(len(g), centre.iloc[0]), color=colour, lw=1.2, ls="--", alpha=0.9, zorder=2)
        for col, (marker, size, _) in SIGNAL_MARKERS.items():
            if col in g.columns:
                s = g[g[col].fillna(False).astype(bool) & has]
                if len(s):
                    ax.scatter(
                        s["month"],
                        s["value"],
                        marker=marker,
                        s=size**2,
                        facecolor=colour,
                        edgecolor="black",
                        linewidth=0.8,
                        zorder=4,
                    )
        runs = bool(g["runs_signal"].fillna(False).astype(bool).any()) if "runs_signal" in g.columns else False
        label = f"{group}{' (runs signal)' if runs else ''}"
        group_handles.append(Line2D([], [], color=colour, lw=2, marker="o", ms=4, label=label))

    start = pd.Timestamp(programme_start)
    ax.axvline(start, color="#444444", lw=1.4, ls=":", zorder=1)
    ax.annotate(
        "Programme start",
        xy=(start, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(4, -4),
        textcoords="offset points",
        ha="left",
        va="top",
        fontsize=9.5,
        color="#333333",
    )

    ax.set_ylabel(unit or "Value", fontsize=11)
    ax.set_xlabel("Month", fontsize=11)
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=4, maxticks=10))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
    ax.tick_params(labelsize=9.5)
    ax.grid(axis="y", color="#E5E5E5", lw=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ymin, ymax = ax.get_ylim()
    if np.nanmin(pts["value"].to_numpy(dtype=float), initial=np.inf) >= 0 and ymin < 0:
        ymin = 0.0
    ax.set_ylim(ymin, ymax + 0.1 * (ymax - ymin))  # headroom so the programme-start label never covers data
    fig.suptitle(title, fontsize=13, fontweight="bold", x=0.01, ha="left")
    sub = subtitle or _baseline_note(pts)
    ax.set_title(sub, fontsize=9.5, loc="left", color="#444444")

    key = [Line2D([], [], color="#555555", lw=1.2, ls="--", label="Baseline median")]
    key += [
        Line2D([], [], ls="none", marker=m, ms=s * 0.8, markerfacecolor="white", markeredgecolor="black", label=lab)
        for m, s, lab in SIGNAL_MARKERS.values()
    ]
    leg1 = ax.legend(
        handles=group_handles,
        title="Ethnic group",
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=9,
        title_fontsize=9.5,
        frameon=False,
    )
    ax.add_artist(leg1)
    ax.legend(
        handles=key,
        title="Signals (IHI run-chart rules)",
        loc="lower left",
        bbox_to_anchor=(1.01, 0.0),
        fontsize=8.5,
        title_fontsize=9.5,
        frameon=False,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


# --------------------------------------------------------------------------------------------------------------------
# HTML pages
# --------------------------------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Arial,sans-serif;margin:2rem auto;max-width:1200px;color:#222;
padding:0 1rem;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2.2rem;border-top:1px solid #ddd;
padding-top:1rem}
img{max-width:100%;height:auto;border:1px solid #eee}
table{border-collapse:collapse;font-size:.9rem;margin:.6rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}th{background:#f4f4f4}
.note{color:#555;font-size:.9rem}.sig{font-weight:600;color:#9a3b00}
nav a{margin-right:1rem}
"""


def _slug(value: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", str(value)).strip("_.")
    s = s or "unknown"
    return f"{s}_site" if s.lower() == "index" else s  # never overwrite index.html


def _page_key(row_site, row_level) -> str:
    return str(row_site) if pd.notna(row_site) and str(row_site) != "" else str(row_level)


def _fmt(v, digits: int = 1) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) or pd.isna(v) else f"{float(v):.{digits}f}"


def _summary_table(pts: pd.DataFrame, programme_start: date) -> str:
    rows = []
    since = pd.to_datetime(pts["month_start_date"]) >= pd.Timestamp(programme_start)
    for group in _group_order(pts["ethnic_group"].dropna().unique()):
        g = pts[pts["ethnic_group"] == group].sort_values("month_start_date")
        gs = g[since.loc[g.index]]
        last = g[g["value"].notna()].tail(1)
        latest = _fmt(last["value"].iloc[0]) if len(last) else ""
        latest_m = pd.Timestamp(last["month_start_date"].iloc[0]).strftime("%b %Y") if len(last) else ""
        runs = bool(g["runs_signal"].fillna(False).astype(bool).any())
        cells = [
            f'<td><span style="color:{group_colour(group)}">&#9632;</span> {html.escape(str(group))}</td>',
            f"<td>{latest} {html.escape(latest_m)}</td>",
            f"<td>{_fmt(g['centre_line'].iloc[0])}</td>",
            f"<td>{'<span class=sig>yes</span>' if runs else 'no'}</td>",
            *[f"<td>{int(gs[c].fillna(False).astype(bool).sum())}</td>" for c in SIGNAL_MARKERS],
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = (
        "<tr><th>Ethnic group</th><th>Latest value</th><th>Baseline median</th><th>Anhøj runs signal</th>"
        "<th>Shift points since start</th><th>Trend points since start</th>"
        "<th>Astronomical points since start</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def _meta(meta: pd.DataFrame, measure: str, column: str) -> str | None:
    if column not in meta.columns or measure not in meta.index:
        return None
    v = meta.at[measure, column]
    return None if pd.isna(v) or str(v) == "" else str(v)


@dataclass
class _Chart:
    """One site x measure chart: what it is drawn from and where it goes."""

    points: pd.DataFrame
    title: str
    programme_start: date
    png: Path
    unit: str | None
    measure: str = ""
    name: str = ""
    key: str = ""
    summary: str | None = None

    @property
    def sidecar(self) -> Path:
        return self.png.with_name(self.png.stem + ".chart.json")


def _inputs_key(chart: _Chart, rows: pd.DataFrame, row_hashes: np.ndarray) -> str:
    """sha256 of everything the chart and its summary table are made from: its rows (each row's 64-bit
    pandas hash, in ethnic group and month order), the columns, title, unit, programme start and versions."""
    order = rows.sort_values(["ethnic_group", "month_start_date"], kind="stable")["_row"].to_numpy()
    digest = hashlib.sha256(
        json.dumps(
            [
                CHART_VERSION,
                matplotlib.__version__,
                pd.__version__,
                chart.title,
                chart.unit,
                str(chart.programme_start),
                list(chart.points.columns),
            ]
        ).encode()
    )
    digest.update(row_hashes[order].tobytes())
    return digest.hexdigest()


def _cached_summary(chart: _Chart) -> str | None:
    """The summary table kept beside an up-to-date PNG, or None when the chart must be drawn."""
    try:
        kept = json.loads(chart.sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        kept.get("inputs_sha256") != chart.key
        or not isinstance(kept.get("summary_html"), str)
        or not chart.png.is_file()
    ):
        return None
    return kept["summary_html"]


def _render(chart: _Chart) -> str:
    """Draw the chart, make its summary table, then record both beside the PNG. Returns the table's HTML."""
    chart.sidecar.unlink(missing_ok=True)  # a run stopped half-way leaves no record: the chart is drawn again
    draw_run_chart(chart.points, chart.title, chart.programme_start, chart.png, unit=chart.unit)
    summary = _summary_table(chart.points, chart.programme_start)
    tmp = chart.sidecar.with_name(f".{chart.sidecar.name}.part")
    tmp.write_text(json.dumps({"inputs_sha256": chart.key, "summary_html": summary}), encoding="utf-8")
    os.replace(tmp, chart.sidecar)
    return summary


def _default_workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def _render_all(charts: list[_Chart], workers: int | None) -> list[str]:
    workers = _default_workers() if workers is None else max(1, workers)
    if workers == 1 or len(charts) < _POOL_MIN_CHARTS:
        return [_render(c) for c in charts]
    # spawn, not fork: the caller (Dagster, DuckDB) has threads, and a forked copy of them can deadlock.
    with ProcessPoolExecutor(
        max_workers=min(workers, len(charts)), mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        return list(pool.map(_render, charts, chunksize=4))


def write_site_pages(
    points: pd.DataFrame,
    measures: pd.DataFrame,
    dest: Path,
    programme_start: date,
    *,
    workers: int | None = None,
    stats: dict | None = None,
) -> list[Path]:
    """Write every site's charts and pages under `dest`. Returns the paths written: PNGs, site pages, index.

    `measures` needs measure_code and may have measure_name and unit (shared/reference/measures.csv). A row with no
    site_code (e.g. national) gets a page named after its geography_level.

    A PNG whose inputs are unchanged since it was drawn is kept as it is (see the module docstring) and still listed.
    `workers` processes draw the others (default: one per core, at most 4; 1 draws in this process). If `stats` is
    a dict it receives charts_drawn and charts_unchanged.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    meta = measures.set_index("measure_code") if len(measures) else pd.DataFrame()
    pts = _rate_points(points)
    pts = pts[[c for c in _CHART_COLUMNS if c in pts.columns] + ["site_code", "geography_level", "measure_code"]].copy()
    pts["_page"] = [_page_key(s, lvl) for s, lvl in zip(pts["site_code"], pts["geography_level"])]
    drawn_columns = [c for c in _CHART_COLUMNS if c in pts.columns]
    row_hashes = pd.util.hash_pandas_object(pts[drawn_columns], index=False).to_numpy()
    pts["_row"] = np.arange(len(pts))
    by_page = dict(iter(pts.groupby("_page", sort=False, dropna=False)))

    # Every chart, and whether it must be drawn (its inputs changed or its PNG is missing).
    charts: list[_Chart] = []
    page_charts: dict[str, list[_Chart]] = {}
    for page in sorted(pts["_page"].unique()):
        site_pts = by_page[page]
        slug = _slug(page)
        by_measure = dict(iter(site_pts.groupby("measure_code", sort=False)))
        page_charts[page] = []
        for measure in sorted(site_pts["measure_code"].dropna().unique()):
            rows = by_measure[measure]
            mp = rows[drawn_columns]
            name = _meta(meta, measure, "measure_name") or str(measure)
            unit = _meta(meta, measure, "unit")
            chart = _Chart(
                mp, f"{page}: {name}", programme_start, dest / slug / f"{_slug(measure)}.png", unit, measure, name
            )
            chart.key = _inputs_key(chart, rows, row_hashes)
            chart.summary = _cached_summary(chart)
            charts.append(chart)
            page_charts[page].append(chart)
    # A later chart with the same file name (two pages or measures with the same slug) wins, as it always did.
    last = {c.png: c for c in charts}
    todo = [c for c in charts if c.summary is None and last[c.png] is c]
    for chart, summary in zip(todo, _render_all(todo, workers)):
        chart.summary = summary
    for chart in charts:
        if chart.summary is None:  # overwritten by a namesake: only its table is needed
            chart.summary = _summary_table(chart.points, chart.programme_start)
    if stats is not None:
        stats.update(charts_drawn=len(todo), charts_unchanged=len(charts) - len(todo))

    written: list[Path] = []
    index_items = []
    for page in sorted(pts["_page"].unique()):
        site_pts = by_page[page]
        slug = _slug(page)
        sections = []
        for chart in page_charts[page]:
            measure, name, unit, png = chart.measure, chart.name, chart.unit, chart.png
            written.append(png)
            rel = f"{slug}/{png.name}"
            sections.append(
                f'<h2 id="{html.escape(_slug(measure))}">{html.escape(name)} '
                f'<span class="note">({html.escape(measure)}{", " + html.escape(unit) if unit else ""})</span></h2>\n'
                f'<img src="{html.escape(rel)}" '
                f'alt="Run chart of {html.escape(name)} by ethnic group, {html.escape(page)}">\n'
                f"{chart.summary}"
            )
        nav = "".join(
            f'<a href="#{html.escape(_slug(m))}">{html.escape(m)}</a>'
            for m in sorted(site_pts["measure_code"].dropna().unique())
        )
        body = (
            f'<p><a href="index.html">&larr; All sites</a></p><h1>{html.escape(page)}: run charts by ethnic group</h1>'
            f'<p class="note">Programme start: {pd.Timestamp(programme_start):%d %B %Y}. Each line is an ethnic '
            f"group's monthly rate; the dashed line is its median over the baseline (the months before the "
            f"programme start, or the first 12 months with data if there are fewer than 12). Signals follow the IHI "
            f"run-chart rules: shift = 6 or more points in a row on one side of the median; trend = 5 or more points "
            f"all going up or all going down; astronomical = beyond the baseline mean &plusmn; 3 SD. "
            f"'Runs signal' is the Anh&oslash;j test (unusually long run or too few crossings).</p>"
            f"<nav>{nav}</nav>\n" + "\n".join(sections)
        )
        site_html = dest / f"{slug}.html"
        site_html.write_text(_page(f"{page}: run charts", body), encoding="utf-8")
        written.append(site_html)
        index_items.append(f'<li><a href="{html.escape(site_html.name)}">{html.escape(page)}</a></li>')
    index = dest / "index.html"
    index.write_text(
        _page("Run charts by site", "<h1>Run charts by site</h1><ul>" + "".join(index_items) + "</ul>"),
        encoding="utf-8",
    )
    written.append(index)
    return written
