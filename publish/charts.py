"""Run-chart pictures, printable offline site pages and the charts index.

Input is the output of `publish.run_charts.build_run_chart_points` (marts.run_chart_points). A chart covers one site
(or the LAN) and one measure, as **small multiples** with shared axes:

* one panel per ethnic group, each its own run chart: the monthly rate, the group's baseline median (dashed), the
  limits of its control chart (`lower_limit` / `upper_limit`, a p chart from its denominators) as a grey band, and
  its signals: IHI shift (square), trend (triangle), astronomical point (star), outside the limits (red ring). A
  panel whose series is too sparse for the runs rules says so (its `signal_note`) instead of marking runs;
* one panel of the gap: each group's monthly rate ratio to the reference group with its 95 % interval, on a log
  axis, with a line at 1 (from marts.gap_metrics);
* the changes the site reported (marts.fct_site_report) drawn where they happened: a numbered marker at the month
  on every panel for a site-wide change, on that measure's chart only for a measure's change, with the short label
  (change idea and PDSA stage) in a key under the panels. The full narratives are listed under the chart on the page.

Colours are fixed per ethnic group (Okabe-Ito colour-blind-safe palette). Drawing uses matplotlib's object API with
the Agg canvas: no pyplot global state and no display needed.

`write_site_pages` writes dest/<site>/<measure>.png, one self-contained page per site (dest/<site>.html: relative
image links, inline CSS with a print stylesheet, no scripts, fonts or CDN) with its charts, its reports month by
month, its submission status and a link to the gap-change summary (dest/did-the-gap-narrow.html) when that file
exists, and dest/index.html (LAN first, team names, the data period and the latest month's signals).

Only charts whose input changed are drawn again. Beside each PNG, dest/<site>/<measure>.chart.json keeps the sha256 of
what the chart and its summary table are made from (its rows, its gap rows, its changes, title, unit, programme
start, the matplotlib and pandas versions and CHART_VERSION) and the summary table's HTML; when the next build's
inputs hash the same and the PNG is there, both are reused. Pages are rewritten only when their text changes. Charts
that do need drawing are drawn in a pool of worker processes (one per core, at most 4; spawned, so a script calling
write_site_pages needs the usual `if __name__ == "__main__":` guard) when there are enough of them to repay starting
the workers. Change CHART_VERSION when the drawing or the summary table changes.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import multiprocessing
import os
import re
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import matplotlib
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

__all__ = [
    "draw_run_chart",
    "write_site_pages",
    "group_colour",
    "GROUP_COLOURS",
    "CHART_VERSION",
    "GAP_PAGE",
    "POINT_COLUMNS",
]

#: Part of every chart's input hash: change it when draw_run_chart or _summary_table changes.
CHART_VERSION = "2"
#: The gap-change summary another asset writes beside the pages; linked from each site page when it exists.
GAP_PAGE = "did-the-gap-narrow.html"
#: The columns draw_run_chart and _summary_table read (the hash covers exactly these).
_CHART_COLUMNS = [
    "series_type",
    "month_start_date",
    "ethnic_group",
    "value",
    "centre_line",
    "chart_type",
    "lower_limit",
    "upper_limit",
    "sigma_signal",
    "signal_note",
    "ihi_shift",
    "ihi_trend",
    "ihi_astronomical",
    "runs_signal",
    "baseline_rule",
    "unit",
]
_POINT_KEYS = ["site_code", "geography_level", "measure_code"]
#: The columns of marts.run_chart_points that write_site_pages reads (the chart columns it has, and the keys).
POINT_COLUMNS = [c for c in _CHART_COLUMNS if c != "unit"] + _POINT_KEYS
_RATIO_COLUMNS = ["ethnic_group", "month_start_date", "rate_ratio", "rate_ratio_lower_95", "rate_ratio_upper_95"]
GAP_RANGE = (0.1, 10.0)  # rate ratios (and their intervals) beyond this are drawn at its edge
_POOL_MIN_CHARTS = 16  # fewer charts than this are drawn in-process: starting workers would cost more
LAN_CODE = "LAN"
LAN_NAME = "Learning and Action Network (all sites)"

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
_CHANGE_COLOUR = "#6A3D9A"
_SIGNAL_COLOUR = "#C00000"

SIGNAL_MARKERS = {  # column -> (marker, size, legend label)
    "ihi_shift": ("s", 7, "Shift: 6+ points on one side of the median"),
    "ihi_trend": ("^", 8, "Trend: 5+ points all going up or all down"),
    "ihi_astronomical": ("*", 12, "Astronomical point (beyond baseline mean ± 3 SD)"),
}
_SHORT_NOTES = (  # signal_note's opening -> the few words a panel has room for
    ("Baseline median is 0", "No runs rules: baseline median is 0"),
    ("Only ", "No runs rules: under 10 useful points"),
    ("No data", "No data"),
    ("No event in the baseline", "No p-chart limits: no event in baseline"),
)


def group_colour(group: str) -> str:
    """Fixed colour for an ethnic group. Names we don't know get a stable colour from a hash of the name."""
    if group in GROUP_COLOURS:
        return GROUP_COLOURS[group]
    return _EXTRA[zlib.crc32(str(group).encode()) % len(_EXTRA)]


def _group_order(groups) -> list[str]:
    known = [g for g in GROUP_COLOURS if g in set(groups)]
    return known + sorted(g for g in set(groups) if g not in GROUP_COLOURS)


def _rate_points(points: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """The group-rate series of `points`, or all its rows where it has none (a chart of gap series only); with `by`,
    judged for each value of that column (each page of many) in one pass."""
    if "series_type" not in points.columns:
        return points
    is_rate = points["series_type"] == "group_rate"
    if by is None:
        return points[is_rate] if is_rate.any() else points
    return points[is_rate | ~is_rate.groupby(points[by], sort=False).transform("any")]


def _reference_group(points: pd.DataFrame) -> str | None:
    """The group with a rate series but no gap series (the reference group), when there is exactly one."""
    if "series_type" not in points.columns:
        return None
    rate = set(points.loc[points["series_type"] == "group_rate", "ethnic_group"].dropna())
    gap = set(points.loc[points["series_type"] == "gap_vs_reference", "ethnic_group"].dropna())
    ref = rate - gap
    return next(iter(ref)) if len(ref) == 1 and gap else None


def _short_note(note) -> str | None:
    if note is None or pd.isna(note) or not str(note):
        return None
    for opening, short in _SHORT_NOTES:
        if str(note).startswith(opening):
            return short
    return str(note)[:45]


def _flag(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[column].fillna(False).astype(bool)


def _change_label(row) -> str:
    idea = str(row["change_idea"]).strip()
    idea = idea if len(idea) <= 40 else idea[:39].rstrip() + "…"
    return f"{idea} ({str(row['pdsa_stage']).lower()})"


def _annotations(reports: pd.DataFrame | None) -> pd.DataFrame:
    """The changes drawn on one chart, numbered by month: month, number, label, scope, narrative."""
    cols = ["month_start_date", "number", "label", "scope", "change_idea", "pdsa_stage", "narrative", "measure_code"]
    if reports is None or reports.empty:
        return pd.DataFrame(columns=cols)
    r = reports.copy()
    r["month_start_date"] = pd.to_datetime(r["month_start_date"])
    r = r.sort_values(["month_start_date", "measure_code", "change_idea"], na_position="first", kind="stable")
    r["number"] = np.arange(1, len(r) + 1)
    r["label"] = [_change_label(row) for _, row in r.iterrows()]
    r["scope"] = np.where(r["measure_code"].isna(), "site-wide", "this measure")
    r["narrative"] = r["narrative"].fillna("")
    return r[cols].reset_index(drop=True)


def _mark_changes(ax, changes: pd.DataFrame, top: bool) -> None:
    for _, c in changes.iterrows():
        ax.axvline(c["month_start_date"], color=_CHANGE_COLOUR, lw=0.9, ls=(0, (2, 2)), alpha=0.8, zorder=1)
        if top:
            ax.annotate(
                str(c["number"]),
                xy=(c["month_start_date"], 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(0, 1),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7,
                color="white",
                fontweight="bold",
                bbox={"boxstyle": "round,pad=0.15", "fc": _CHANGE_COLOUR, "ec": "none"},
                annotation_clip=False,
            )


def _shared_ylim(values: np.ndarray) -> tuple[float, float]:
    """One y range for every group panel: the data with 10 % headroom, from 0 when the data sit near 0."""
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = float(values.min()), float(values.max())
    span = (hi - lo) or max(abs(hi), 1.0)
    low = lo - 0.1 * span
    if lo >= 0 and (low < 0 or lo < 0.25 * hi):
        low = 0.0
    return low, hi + 0.12 * span


def _gap_ylim(ratios: pd.DataFrame) -> tuple[float, float]:
    """The gap panel's log range: the ratios and their intervals, within GAP_RANGE, at least 0.8 to 1.25."""
    vals = pd.concat([ratios[c].astype(float) for c in ("rate_ratio", "rate_ratio_lower_95", "rate_ratio_upper_95")])
    vals = vals[(vals > 0) & np.isfinite(vals)]
    if vals.empty:
        return GAP_RANGE
    lo = min(max(float(vals.quantile(0.02)) / 1.15, GAP_RANGE[0]), 0.8)
    hi = max(min(float(vals.quantile(0.98)) * 1.15, GAP_RANGE[1]), 1.25)
    return lo, hi


def _style(ax) -> None:
    ax.grid(axis="y", color="#E5E5E5", lw=0.7)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def draw_run_chart(
    points: pd.DataFrame,
    title: str,
    programme_start: date,
    path: Path,
    *,
    unit: str | None = None,
    ratios: pd.DataFrame | None = None,
    changes: pd.DataFrame | None = None,
    subtitle: str | None = None,
) -> Path:
    """Draw one site x measure chart as small multiples to `path` (PNG) and return `path`.

    `points`: rows of `build_run_chart_points` for one site and measure (only 'group_rate' rows are drawn as panels
    if any are present). `ratios`: that chart's monthly rate ratios (columns of _RATIO_COLUMNS) for the gap panel.
    `changes`: the reported changes to mark (output of `_annotations`). `unit` labels the y axis; if not given, a
    `unit` column is used when present.
    """
    path = Path(path)
    reference = _reference_group(points)
    pts = _rate_points(points).copy()
    if unit is None and "unit" in pts.columns and pts["unit"].notna().any():
        unit = str(pts["unit"].dropna().iloc[0])
    pts["month"] = pd.to_datetime(pts["month_start_date"])
    groups = [g for g in _group_order(pts["ethnic_group"].dropna().unique())]
    has_gap = ratios is not None and not ratios.empty
    n_panels = len(groups) + (1 if has_gap else 0)
    ncols = min(3, max(n_panels, 1))
    nrows = max(1, math.ceil(n_panels / ncols))
    changes = changes if changes is not None else _annotations(None)

    fig = Figure(figsize=(4.1 * ncols + 0.4, 2.75 * nrows + 1.9), dpi=100)
    FigureCanvasAgg(fig)
    bottom = (1.25 + 0.16 * min(len(changes), 6)) / (2.75 * nrows + 1.9 + 0.16 * min(len(changes), 6))
    fig.set_figheight(2.75 * nrows + 1.9 + 0.16 * min(len(changes), 6))
    axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False)
    fig.subplots_adjust(left=0.06, right=0.99, top=1 - 0.62 / fig.get_figheight(), bottom=bottom, hspace=0.3)
    flat = list(axes.ravel())
    vals = pts["value"].to_numpy(dtype=float)
    finite = vals[np.isfinite(vals)]
    ylim = _shared_ylim(finite)
    start = pd.Timestamp(programme_start)
    months = pd.to_datetime(pts["month"]).dropna()
    xlim = (months.min() - pd.Timedelta(days=20), months.max() + pd.Timedelta(days=20)) if len(months) else None

    for i, group in enumerate(groups):
        ax = flat[i]
        g = pts[pts["ethnic_group"] == group].sort_values("month")
        colour = group_colour(group)
        has = g["value"].notna()
        if {"lower_limit", "upper_limit"} <= set(g.columns) and g["upper_limit"].notna().any():
            ax.fill_between(
                g["month"],
                g["lower_limit"].astype(float),
                g["upper_limit"].astype(float),
                step="mid",
                color="#D9D9D9",
                alpha=0.55,
                lw=0,
                zorder=0,
            )
        ax.plot(g["month"], g["value"], color=colour, lw=1.5, marker="o", ms=2.8, zorder=3)
        centre = g["centre_line"].dropna()
        if len(centre):
            ax.axhline(float(centre.iloc[0]), color="#333333", lw=1.0, ls="--", zorder=2)
        for col, (marker, size, _) in SIGNAL_MARKERS.items():
            s = g[_flag(g, col) & has]
            if len(s):
                ax.scatter(
                    s["month"],
                    s["value"],
                    marker=marker,
                    s=size**2,
                    facecolor=colour,
                    edgecolor="black",
                    linewidth=0.7,
                    zorder=4,
                )
        out = g[_flag(g, "sigma_signal") & has]
        if len(out):
            ax.scatter(
                out["month"],
                out["value"],
                marker="o",
                s=110,
                facecolor="none",
                edgecolor=_SIGNAL_COLOUR,
                linewidth=1.6,
                zorder=5,
            )
        runs = bool(_flag(g, "runs_signal").any())
        name = group if group != reference else f"{group} (reference)"
        ax.set_title(
            name + (" · runs signal" if runs else ""),
            fontsize=9.5,
            loc="left",
            color=_SIGNAL_COLOUR if runs else "#222222",
            fontweight="bold" if runs else "normal",
            pad=13,
            y=1.0,  # a fixed position: matplotlib otherwise measures every tick label to place it
        )
        notes = g["signal_note"].dropna() if "signal_note" in g.columns else pd.Series(dtype=object)
        note = _short_note(notes.iloc[0]) if len(notes) else None
        if note:
            ax.text(
                0.01,
                0.97,
                note,
                transform=ax.transAxes,
                fontsize=7.2,
                color="#555555",
                style="italic",
                va="top",
                ha="left",
                bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1},
            )
        ax.axvline(start, color="#444444", lw=1.1, ls=":", zorder=1)
        _mark_changes(ax, changes, top=True)
        ax.set_ylim(*ylim)
        if i % ncols == 0:
            ax.set_ylabel(unit or "Value", fontsize=8.5)
        _style(ax)

    if has_gap:
        ax = flat[len(groups)]
        r = ratios.copy()
        r["month"] = pd.to_datetime(r["month_start_date"])
        gap_groups = _group_order(r["ethnic_group"].dropna().unique())
        for j, group in enumerate(gap_groups):
            g = r[r["ethnic_group"] == group].sort_values("month")
            g = g.assign(rate_ratio=g["rate_ratio"].astype(float).where(g["rate_ratio"].astype(float) > 0))
            colour = group_colour(group)
            # dodge the groups a few days apart so that their intervals do not hide each other
            x = g["month"] + pd.to_timedelta((j - (len(gap_groups) - 1) / 2) * 5, unit="D")
            rr = g["rate_ratio"].astype(float).clip(GAP_RANGE[0], GAP_RANGE[1])
            lo = g["rate_ratio_lower_95"].astype(float).clip(GAP_RANGE[0], GAP_RANGE[1])
            hi = g["rate_ratio_upper_95"].astype(float).clip(GAP_RANGE[0], GAP_RANGE[1])
            ax.vlines(x, lo, hi, color=colour, lw=1.0, alpha=0.45)
            ax.plot(x, rr, color=colour, lw=0.9, marker="o", ms=3, alpha=0.95)
        ax.axhline(1.0, color="black", lw=1.1)
        ax.set_yscale("log")
        low, high = _gap_ylim(r)
        ticks = (0.1, 0.2, 0.5, 1, 2, 5, 10) if high / low > 8 else (0.25, 0.33, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 3, 4)
        ax.set_yticks([v for v in ticks if low <= v <= high])
        ax.set_ylim(low, high)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(
            f"Gap: rate ratio to {reference or 'reference'} (95% CI, log scale)",
            fontsize=9.5,
            loc="left",
            pad=13,
            y=1.0,
        )
        ax.axvline(start, color="#444444", lw=1.1, ls=":", zorder=1)
        _mark_changes(ax, changes, top=True)
        ax.set_ylabel("Rate ratio", fontsize=8.5)
        _style(ax)
    for ax in flat[n_panels:]:
        ax.set_visible(False)
    for idx, ax in enumerate(flat[:n_panels]):
        if xlim is not None:
            ax.set_xlim(*xlim)
        ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=(1, 7)))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%b\n%Y"))
        # month labels under the lowest panel of each column only (the axes are shared)
        ax.tick_params(axis="x", labelbottom=idx + ncols >= n_panels)
    fig.suptitle(title, fontsize=12.5, fontweight="bold", x=0.01, ha="left", y=1 - 0.1 / fig.get_figheight(), va="top")
    if subtitle:
        fig.text(0.01, 1 - 0.38 / fig.get_figheight(), subtitle, fontsize=8.5, color="#444444", va="top")

    key = [
        Line2D([], [], color="#333333", lw=1.0, ls="--", label="Baseline median"),
        Patch(facecolor="#D9D9D9", alpha=0.55, label="Control limits (p chart)"),
        Line2D([], [], color="#444444", lw=1.1, ls=":", label="Programme start"),
        *[
            Line2D(
                [], [], ls="none", marker=m, ms=s * 0.75, markerfacecolor="white", markeredgecolor="black", label=lab
            )
            for m, s, lab in SIGNAL_MARKERS.values()
        ],
        Line2D(
            [],
            [],
            ls="none",
            marker="o",
            ms=8,
            markerfacecolor="none",
            markeredgecolor=_SIGNAL_COLOUR,
            markeredgewidth=1.5,
            label="Outside the control limits",
        ),
    ]
    if len(changes):
        key.append(Line2D([], [], color=_CHANGE_COLOUR, lw=0.9, ls=(0, (2, 2)), label="Change tested (numbered)"))
    legend_y = bottom - 0.55 / fig.get_figheight()
    fig.legend(handles=key, loc="upper left", bbox_to_anchor=(0.01, legend_y), ncol=4, fontsize=7.8, frameon=False)
    if len(changes):
        shown = changes.head(6)
        lines = [
            f"{c['number']}  {pd.Timestamp(c['month_start_date']):%b %Y}: {c['label']}"
            + ("" if c["scope"] == "this measure" else " [site-wide]")
            for _, c in shown.iterrows()
        ]
        if len(changes) > len(shown):
            lines.append(f"… and {len(changes) - len(shown)} more (listed on the page)")
        fig.text(
            0.01,
            legend_y - 0.5 / fig.get_figheight(),
            "Changes tested:  " + lines[0],
            fontsize=7.8,
            color=_CHANGE_COLOUR,
            va="top",
        )
        for j, line in enumerate(lines[1:], start=1):
            fig.text(
                0.01 + 0.082,
                legend_y - (0.5 + 0.16 * j) / fig.get_figheight(),
                line,
                fontsize=7.8,
                color=_CHANGE_COLOUR,
                va="top",
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


# --------------------------------------------------------------------------------------------------------------------
# HTML pages
# --------------------------------------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Arial,sans-serif;margin:1.5rem auto;max-width:1250px;color:#222;
padding:0 1rem;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-top:1px solid #ddd;
padding-top:1rem}h3{font-size:1rem;margin:1.2rem 0 .3rem}
img{max-width:100%;height:auto;border:1px solid #eee}
table{border-collapse:collapse;font-size:.88rem;margin:.6rem 0}
th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f4f4f4}
.note{color:#555;font-size:.9rem}.sig{font-weight:600;color:#9a3b00}.muted{color:#777}
nav a{margin-right:1rem}ol.changes li{margin:.25rem 0}.narrative{color:#333}
.status-missing,.status-quarantined{color:#9a3b00;font-weight:600}.status-flagged{color:#8a6d00}
@page{size:A4 landscape;margin:12mm}
@media print{body{margin:0;max-width:none;font-size:9.5pt}nav,.noprint{display:none}
a{color:inherit;text-decoration:none}section.chart{break-inside:avoid;page-break-inside:avoid}
section.chart+section.chart{break-before:page;page-break-before:always}h2{border:none;margin-top:0}
img{border:none;max-height:165mm;width:auto}section#reports,section#status{break-before:page;page-break-before:always}}
"""


def _slug(value: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", str(value)).strip("_.")
    s = s or "unknown"
    return f"{s}_site" if s.lower() == "index" else s  # never overwrite index.html


def _page_keys(frame: pd.DataFrame) -> pd.Series:
    """Each row's page: its site_code, or its geography_level when it has none."""
    site = frame["site_code"].astype("string")
    return site.where(site.notna() & (site != ""), frame["geography_level"].astype("string")).astype(str)


def _chart_orders(frame: pd.DataFrame) -> dict[tuple, np.ndarray]:
    """For each (page, measure) chart, the positions of its rows in `frame` in ethnic group and month order: one
    sort for all charts (the order each chart's digest takes its rows in)."""
    ordered = frame.assign(_position=np.arange(len(frame))).sort_values(
        ["_page", "measure_code", "ethnic_group", "month_start_date"], kind="stable"
    )
    return {k: g["_position"].to_numpy() for k, g in ordered.groupby(["_page", "measure_code"], sort=False)}


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
        limits = (
            f"{_fmt(last['lower_limit'].iloc[0])} to {_fmt(last['upper_limit'].iloc[0])}"
            if len(last) and "upper_limit" in last.columns and pd.notna(last["upper_limit"].iloc[0])
            else ""
        )
        runs = bool(_flag(g, "runs_signal").any())
        note = (
            g["signal_note"].dropna().iloc[0] if "signal_note" in g.columns and g["signal_note"].notna().any() else ""
        )
        runs_cell = (
            f'<span class="muted">not computed: {html.escape(str(note))}</span>'
            if note
            else ("<span class=sig>yes</span>" if runs else "no")
        )
        cells = [
            f'<td><span style="color:{group_colour(group)}">&#9632;</span> {html.escape(str(group))}</td>',
            f"<td>{latest} {html.escape(latest_m)}</td>",
            f"<td>{_fmt(g['centre_line'].iloc[0])}</td>",
            f"<td>{limits}</td>",
            f"<td>{runs_cell}</td>",
            *[f"<td>{int(_flag(gs, c).sum())}</td>" for c in (*SIGNAL_MARKERS, "sigma_signal")],
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = (
        "<tr><th>Ethnic group</th><th>Latest value</th><th>Baseline median</th><th>Control limits, latest month</th>"
        "<th>Anh&oslash;j runs signal</th><th>Shift points since start</th><th>Trend points since start</th>"
        "<th>Astronomical points since start</th><th>Points outside the limits since start</th></tr>"
    )
    return f"<table>{head}{''.join(rows)}</table>"


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def _write_if_changed(path: Path, text: str) -> bool:
    """Write `text` to `path` unless it already holds exactly that (a page is rewritten only when it changes)."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except OSError:
        pass
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return True


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
    ratios: pd.DataFrame | None = None
    changes: pd.DataFrame = field(default_factory=lambda: _annotations(None))

    @property
    def sidecar(self) -> Path:
        return self.png.with_name(self.png.stem + ".chart.json")


def _frame_digest(frame: pd.DataFrame | None, sort: list[str]) -> bytes:
    if frame is None or frame.empty:
        return b""
    f = frame.sort_values(sort, kind="stable").reset_index(drop=True)
    return pd.util.hash_pandas_object(f.astype(str), index=False).to_numpy().tobytes()


def _inputs_key(chart: _Chart, row_hashes: bytes, ratio_hashes: bytes) -> str:
    """sha256 of everything the chart and its summary table are made from: its rows and its gap rows (each row's
    64-bit pandas hash, in ethnic group and month order), its changes, the columns, title, unit, programme start
    and versions."""
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
    digest.update(row_hashes)
    digest.update(ratio_hashes)
    digest.update(_frame_digest(chart.changes, ["number"]))
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
    draw_run_chart(
        chart.points,
        chart.title,
        chart.programme_start,
        chart.png,
        unit=chart.unit,
        ratios=chart.ratios,
        changes=chart.changes,
    )
    summary = _summary_table(_rate_points(chart.points), chart.programme_start)
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


def _month(value) -> str:
    return f"{pd.Timestamp(value):%B %Y}" if pd.notna(value) else ""


def _changes_html(changes: pd.DataFrame) -> str:
    if changes.empty:
        return ""
    items = "".join(
        f'<li value="{int(c["number"])}"><strong>{html.escape(_month(c["month_start_date"]))}</strong>: '
        f'{html.escape(str(c["change_idea"]))} <span class="muted">({html.escape(str(c["pdsa_stage"]).lower())}, '
        f"{html.escape(str(c['scope']))})</span>"
        + (f'<br><span class="narrative">{html.escape(str(c["narrative"]))}</span>' if c["narrative"] else "")
        + "</li>"
        for _, c in changes.iterrows()
    )
    return f'<h3>Changes tested, as numbered on the chart</h3><ol class="changes">{items}</ol>'


def _reports_html(reports: pd.DataFrame | None, meta: pd.DataFrame) -> str:
    if reports is None:
        return "<p class=note>No monthly reports are published in this warehouse.</p>"
    if reports.empty:
        return "<p class=note>No monthly report received yet.</p>"
    r = reports.copy()
    r["month_start_date"] = pd.to_datetime(r["month_start_date"])
    parts = []
    for month, g in sorted(r.groupby("month_start_date"), key=lambda kv: kv[0], reverse=True):
        items = []
        for _, c in g.sort_values(["measure_code", "change_idea"], na_position="first").iterrows():
            measure = c["measure_code"]
            what = (
                "Site-wide"
                if pd.isna(measure)
                else html.escape(_meta(meta, str(measure), "measure_name") or str(measure))
            )
            narrative = "" if pd.isna(c["narrative"]) else str(c["narrative"])
            items.append(
                f"<li><strong>{html.escape(str(c['change_idea']))}</strong> "
                f'<span class="muted">({html.escape(str(c["pdsa_stage"]).lower())}; {what})</span>'
                + (f'<br><span class="narrative">{html.escape(narrative)}</span>' if narrative else "")
                + "</li>"
            )
        parts.append(f"<h3>{html.escape(_month(month))}</h3><ul>{''.join(items)}</ul>")
    return "".join(parts)


def _status_html(status: pd.DataFrame | None) -> str:
    if status is None or status.empty:
        return "<p class=note>No submission status for this page.</p>"
    s = status.sort_values("month_start_date", ascending=False)
    columns = [  # (column, heading, how to show a value); columns the table lacks are left out
        ("status", "Status", str),
        ("received_at", "Received", lambda v: str(v)[:10]),
        ("due_date", "Due", lambda v: str(v)[:10]),
        ("report_received", "Report received", lambda v: "yes" if v else "no"),
        ("file_name", "File", str),
        ("problems", "Problems", str),
    ]
    columns = [c for c in columns if c[0] in s.columns]
    head = "<tr><th>Month</th>" + "".join(f"<th>{h}</th>" for _, h, _ in columns) + "</tr>"
    rows = []
    for r in s.to_dict("records"):
        cells = [f"<td>{html.escape(_month(r['month_start_date']))}</td>"]
        for col, _, show in columns:
            v = r[col]
            text = "" if v is None or (not isinstance(v, str) and pd.isna(v)) else html.escape(show(v))
            css = f' class="status-{html.escape(str(v))}"' if col == "status" else ""
            cells.append(f"<td{css}>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


# The point signals the index names for each series' latest month: label -> run_chart_points column.
_POINT_SIGNALS = {
    "outside limits": "sigma_signal",
    "shift": "ihi_shift",
    "trend": "ihi_trend",
    "astronomical": "ihi_astronomical",
}


def _latest_signals(pts: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Each page's (data period, latest month's signals) of its group-rate series, as HTML; `pts` has every page's
    rows, with their page in `_page`. One pass over all pages (page by page: 1.5 s at 130 sites; this, 0.4 s)."""
    rate = _rate_points(pts, by="_page")
    runs = (
        rate[_flag(rate, "runs_signal")]
        .drop_duplicates(["_page", "measure_code", "ethnic_group"])
        .groupby("_page", sort=False)
        .size()
    )
    with_data = rate[rate["value"].notna()].assign(_month=lambda f: pd.to_datetime(f["month_start_date"]))
    months = with_data.groupby("_page", sort=False)["_month"]
    first, last = months.min(), months.max()
    latest = with_data[with_data["_month"] == months.transform("max")]
    flags = pd.DataFrame({label: _flag(latest, col) for label, col in _POINT_SIGNALS.items()})
    flags[["_page", "measure_code", "ethnic_group"]] = latest[["_page", "measure_code", "ethnic_group"]]
    seen = flags.groupby(["_page", "measure_code", "ethnic_group"], sort=True).any()
    items: dict[str, list[str]] = {}
    for (page, measure, group), row in zip(seen.index, seen.to_numpy()):
        what = [label for label, flagged in zip(_POINT_SIGNALS, row) if flagged]
        if what:
            items.setdefault(page, []).append(
                f"{html.escape(str(measure))} &middot; {html.escape(str(group))}: {', '.join(what)}"
            )
    found = {}
    for page in pts["_page"].unique():
        if page not in last.index:
            found[page] = ("no data", "")
            continue
        shown = items.get(page, [])
        text = f"<strong>{last[page]:%b %Y}</strong>: " + ("; ".join(shown[:6]) if shown else "no point signal")
        if len(shown) > 6:
            text += f"; and {len(shown) - 6} more"
        if runs.get(page, 0):
            text += f'<br><span class="muted">Anh&oslash;j runs signal in {runs[page]} series</span>'
        found[page] = (f"{first[page]:%b %Y} to {last[page]:%b %Y}", text)
    return found


def write_site_pages(
    points: pd.DataFrame,
    measures: pd.DataFrame,
    dest: Path,
    programme_start: date,
    *,
    sites: pd.DataFrame | None = None,
    ratios: pd.DataFrame | None = None,
    reports: pd.DataFrame | None = None,
    status: pd.DataFrame | None = None,
    workers: int | None = None,
    stats: dict | None = None,
) -> list[Path]:
    """Write every site's charts and pages under `dest`. Returns the paths written: PNGs, site pages, index.

    `measures` needs measure_code and may have measure_name and unit. Optional: `sites` (site_code, team_name),
    `ratios` (marts.gap_metrics monthly rows: geography_level, site_code, measure_code and _RATIO_COLUMNS) for the
    gap panels, `reports` (marts.fct_site_report; None when the warehouse has none: no annotations) and `status`
    (marts.fct_submission_status). A row with no site_code gets a page named after its geography_level.

    A PNG whose inputs are unchanged since it was drawn is kept as it is (see the module docstring) and still listed.
    `workers` processes draw the others (default: one per core, at most 4; 1 draws in this process). If `stats` is
    a dict it receives charts_drawn and charts_unchanged.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    meta = measures.set_index("measure_code") if len(measures) else pd.DataFrame()
    teams = (
        dict(zip(sites["site_code"].astype(str), sites["team_name"].astype(str)))
        if sites is not None and len(sites)
        else {}
    )
    wanted = [c for c in _CHART_COLUMNS if c in points.columns] + _POINT_KEYS
    pts = points[wanted].copy()
    pts["_page"] = _page_keys(pts)
    drawn_columns = [c for c in _CHART_COLUMNS if c in pts.columns]
    # Each row hashed once, each chart's rows ordered by one sort: a chart's digest is then a slice (README
    # "Performance": hashing chart by chart took 8 s of every run at 130 sites).
    row_hashes = pd.util.hash_pandas_object(pts[drawn_columns], index=False).to_numpy()
    chart_orders = _chart_orders(pts)
    by_page = dict(iter(pts.groupby("_page", sort=False, dropna=False)))
    ratio_groups: dict = {}
    ratio_digests: dict = {}
    if ratios is not None and len(ratios):
        r = ratios.assign(_page=_page_keys(ratios))
        drawn_ratios = r[_RATIO_COLUMNS]
        ratio_hashes = pd.util.hash_pandas_object(drawn_ratios, index=False).to_numpy()
        for k, order in _chart_orders(r).items():
            ratio_groups[k] = drawn_ratios.iloc[order]
            ratio_digests[k] = ratio_hashes[order].tobytes()
    report_groups: dict = {}
    if reports is not None and len(reports):
        report_groups = {str(k): g for k, g in reports.groupby("site_code", sort=False)}
    status_groups: dict = {}
    if status is not None and len(status):
        status_groups = {str(k): g for k, g in status.groupby("site_code", sort=False)}

    no_changes = _annotations(None)  # one empty frame for every chart without reports (read, never changed)

    # LAN first, then the sites by code
    pages = sorted(pts["_page"].unique(), key=lambda p: (p != LAN_CODE, p))

    # Every chart, and whether it must be drawn (its inputs changed or its PNG is missing).
    charts: list[_Chart] = []
    page_charts: dict[str, list[_Chart]] = {}
    for page in pages:
        site_pts = by_page[page]
        slug = _slug(page)
        by_measure = dict(iter(site_pts.groupby("measure_code", sort=False)))
        site_reports = report_groups.get(page)
        page_charts[page] = []
        for measure in sorted(site_pts["measure_code"].dropna().unique()):
            rows = by_measure[measure]
            mp = rows[drawn_columns]
            name = _meta(meta, measure, "measure_name") or str(measure)
            unit = _meta(meta, measure, "unit")
            changes = (
                no_changes
                if site_reports is None
                else _annotations(
                    site_reports[site_reports["measure_code"].isna() | (site_reports["measure_code"] == measure)]
                )
            )
            team = teams.get(page)
            chart = _Chart(
                mp,
                f"{team + ' (' + page + ')' if team else page}: {name}",
                programme_start,
                dest / slug / f"{_slug(measure)}.png",
                unit,
                measure,
                name,
                ratios=ratio_groups.get((page, measure)),
                changes=changes,
            )
            chart.key = _inputs_key(
                chart, row_hashes[chart_orders[(page, measure)]].tobytes(), ratio_digests.get((page, measure), b"")
            )
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
            chart.summary = _summary_table(_rate_points(chart.points), chart.programme_start)
    if stats is not None:
        stats.update(charts_drawn=len(todo), charts_unchanged=len(charts) - len(todo))

    gap_link = (
        f'<p class="noprint"><a href="{GAP_PAGE}">Did the gap narrow? The change in each gap since the programme '
        f"started</a></p>"
        if (dest / GAP_PAGE).is_file()
        else ""
    )
    written: list[Path] = []
    index_rows = []
    signals_by_page = _latest_signals(pts)
    for page in pages:
        site_pts = by_page[page]
        slug = _slug(page)
        team = LAN_NAME if page == LAN_CODE else teams.get(page)
        heading = f"{team} ({page})" if team else page
        sections = []
        for chart in page_charts[page]:
            measure, name, unit, png = chart.measure, chart.name, chart.unit, chart.png
            written.append(png)
            rel = f"{slug}/{png.name}"
            sections.append(
                f'<section class="chart" id="{html.escape(_slug(measure))}">'
                f"<h2>{html.escape(name)} "
                f'<span class="note">({html.escape(measure)}{", " + html.escape(unit) if unit else ""})</span></h2>\n'
                f'<img src="{html.escape(rel)}" '
                f'alt="Run charts of {html.escape(name)}, one panel per ethnic group and one of the gap, '
                f'{html.escape(page)}">\n'
                f"{chart.summary}{_changes_html(chart.changes)}</section>"
            )
        nav = "".join(
            f'<a href="#{html.escape(_slug(m))}">{html.escape(m)}</a>'
            for m in sorted(site_pts["measure_code"].dropna().unique())
        )
        is_site = page in teams
        if is_site:
            nav += '<a href="#reports">Reports</a><a href="#status">Submission status</a>'
        period, signals = signals_by_page[page]
        extra = ""
        if is_site:
            extra = (
                f'<section id="reports"><h2>Monthly reports, month by month</h2>'
                f'<p class="note">The changes the team tested (PDSA cycles), in its own words, screened for '
                f"personal data.</p>{_reports_html(report_groups.get(page, _empty_reports(reports)), meta)}"
                f"</section>"
                f'<section id="status"><h2>Submission status</h2>{_status_html(status_groups.get(page))}</section>'
            )
        body = (
            f'<p class="noprint"><a href="index.html">&larr; All sites</a></p>'
            f"<h1>{html.escape(heading)}: run charts by ethnic group</h1>"
            f'<p class="note">Data: {html.escape(period)}. Programme start: {pd.Timestamp(programme_start):%B %Y}. '
            f"Each panel is one ethnic group's run chart: its monthly rate, its median over the baseline (dashed; the "
            f"months before the programme start, or the first 12 months with data if there are fewer), and its p-chart "
            f"control limits from each month's denominator (grey band). Signals: IHI shift = 6 or more points in a "
            f"row on one side of the median; trend = 5 or more points all going up or all going down; astronomical = "
            f"beyond the baseline mean &plusmn; 3 SD; a red ring = outside the control limits; 'runs signal' = the "
            f"Anh&oslash;j test (unusually long run or too few crossings). A series whose baseline median is 0, or "
            f"with fewer than 10 useful points, is too sparse for the runs rules (Anh&oslash;j &amp; Olesen 2014): "
            f"its panel says so and no runs signal is raised. The last panel is the gap: each group's rate ratio to "
            f"the reference group with its 95% interval, on a log scale (1 = no gap).</p>"
            f"{gap_link}<nav>{nav}</nav>\n" + "\n".join(sections) + extra
        )
        site_html = dest / f"{slug}.html"
        _write_if_changed(site_html, _page(f"{heading}: run charts", body))
        written.append(site_html)
        index_rows.append(
            f'<tr><td><a href="{html.escape(site_html.name)}">{html.escape(page)}</a></td>'
            f"<td>{html.escape(team or '')}</td><td>{html.escape(period)}</td><td>{signals}</td></tr>"
        )
    index = dest / "index.html"
    _write_if_changed(
        index,
        _page(
            "Run charts by site",
            "<h1>Run charts by site</h1>"
            f'<p class="note">Programme start: {pd.Timestamp(programme_start):%B %Y}. The latest month\'s point '
            f"signals of each group's rate (outside the control limits, IHI shift, trend, astronomical point), and "
            f"how many series show an Anh&oslash;j runs signal. Open a site for its charts, reports and submission "
            f"status.</p>{gap_link}"
            "<table><tr><th>Site</th><th>Team</th><th>Data period</th><th>Latest signals</th></tr>"
            + "".join(index_rows)
            + "</table>",
        ),
    )
    written.append(index)
    return written


def _empty_reports(reports: pd.DataFrame | None) -> pd.DataFrame | None:
    """No report for this site: an empty frame when the warehouse has reports, None when it has none at all."""
    return None if reports is None else reports.iloc[0:0]
