"""The "Did the gap narrow?" page: publish/charts/did-the-gap-narrow.html and its PNGs.

For each measure: a forest plot of the ratio of rate ratios (intervention against baseline) for each ethnic group,
with each site (a line each up to MAX_LABELLED_SITES sites, one row of points per group above), the LAN crude and
the LAN site-adjusted (Mantel-Haenszel) estimate, on a log axis with a line at 1;
and a small chart of the LAN's monthly rate ratio to the reference group with the fitted segmented trend of
marts.gap_trend, exp(b1 + b3 t + b5 P + b7 P s), drawn from its published estimates (no refitting).

Offline (images beside the page, no script, no remote link). Drawn again only when its inputs change: the sha256
of everything it is drawn from is kept in did-the-gap-narrow.inputs.json beside the page.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import matplotlib
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PAGE = "did-the-gap-narrow.html"
IMAGES = "did-the-gap-narrow"
SIDECAR = "did-the-gap-narrow.inputs.json"
#: Part of the inputs hash: change it when the drawing changes, so that the page is drawn again.
PAGE_VERSION = "2"
COMPARISON = "intervention_vs_baseline"
COLOURS = {"site": "#6b6b6b", "lan": "#005eb8", "lan_adjusted": "#d5281b"}
#: Above this many sites a forest plot shows each group's sites as one row of points (their ratios, no labels or
#: intervals: those are in marts.gap_change) beside the LAN's lines; one labelled line per site and group would
#: make a figure of some 900 lines at 130 sites, unreadable and slow to draw. The LAN's ten teams get a line each.
MAX_LABELLED_SITES = 20


@dataclass
class PageResult:
    page: Path
    images: list[Path] = field(default_factory=list)
    redrawn: bool = False


def inputs_sha256(frames: list[pd.DataFrame], programme_start: date) -> str:
    """sha256 of the page's inputs: each frame's columns, types and row hashes (pandas' hash of every value, in
    order), the programme start and versions. Hashing rows instead of writing them as CSV: 0.3 s to 0.01 s at
    130 sites."""
    digest = hashlib.sha256(f"{PAGE_VERSION}|{matplotlib.__version__}|{programme_start.isoformat()}".encode())
    for frame in frames:
        digest.update(repr([(str(name), str(dtype)) for name, dtype in frame.dtypes.items()]).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _slug(value: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in value.lower()).strip("-")


def _save(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110, metadata={"Software": None})
    tmp.replace(path)


def forest_rows(change: pd.DataFrame, measure: str) -> pd.DataFrame:
    """One line per group x (LAN adjusted, LAN crude, each site): label, ratio and interval."""
    rows = change[(change["measure_code"] == measure) & (change["comparison"] == COMPARISON)]
    lines = []
    for group in sorted(rows["ethnic_group"].unique()):
        by_group = rows[rows["ethnic_group"] == group]
        lan = by_group[by_group["geography_level"] == "lan"]
        for r in lan.itertuples():
            lines.append(
                (group, "LAN site-adjusted", "lan_adjusted", r.adjusted_ratio_of_rate_ratios)
                + (r.adjusted_ratio_of_rate_ratios_lower_95, r.adjusted_ratio_of_rate_ratios_upper_95)
            )
            lines.append(
                (group, "LAN crude", "lan", r.ratio_of_rate_ratios)
                + (r.ratio_of_rate_ratios_lower_95, r.ratio_of_rate_ratios_upper_95)
            )
        for r in by_group[by_group["geography_level"] == "site"].sort_values("site_code").itertuples():
            lines.append(
                (group, r.site_code, "site", r.ratio_of_rate_ratios)
                + (r.ratio_of_rate_ratios_lower_95, r.ratio_of_rate_ratios_upper_95)
            )
    return pd.DataFrame(lines, columns=["group", "label", "kind", "ratio", "lower", "upper"])


def site_strips(lines: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """forest_rows' lines with each group's site lines replaced by one row (kind `sites`), and the site ratios to
    draw as points on each such row, by its position."""
    kept, points = [], {}
    for group, by_group in lines.groupby("group", sort=False):
        kept.extend(by_group[by_group["kind"] != "site"].to_dict("records"))
        sites = by_group[by_group["kind"] == "site"]
        if len(sites):
            points[len(kept)] = sites["ratio"].dropna().to_numpy(dtype=float)
            label = f"{len(sites)} sites (one point each)"
            kept.append({"group": group, "label": label, "kind": "sites", "ratio": None, "lower": None, "upper": None})
    return pd.DataFrame(kept, columns=lines.columns), points


def draw_forest(lines: pd.DataFrame, title: str) -> Figure:
    """Ratio of rate ratios with 95 % intervals, log axis, line at 1; empty rows say `not calculable`. Above
    MAX_LABELLED_SITES sites, each group's sites are one row of points (site_strips)."""
    points: dict[int, np.ndarray] = {}
    if lines.loc[lines["kind"] == "site", "label"].nunique() > MAX_LABELLED_SITES:
        lines, points = site_strips(lines)
    finite = lines.dropna(subset=["ratio", "lower", "upper"])
    dots = np.concatenate([np.empty(0), *points.values()])
    dots = dots[np.isfinite(dots) & (dots > 0)]
    fig = Figure(figsize=(7.5, 0.9 + 0.22 * max(len(lines), 1)))
    ax = fig.add_subplot()
    y = np.arange(len(lines))[::-1]
    for kind, colour in COLOURS.items():
        part = lines[(lines["kind"] == kind) & lines["ratio"].notna() & lines["lower"].notna()]
        ys = y[part.index.to_numpy()] if len(part) else []
        if len(part):
            ax.errorbar(
                part["ratio"],
                ys,
                xerr=[part["ratio"] - part["lower"], part["upper"] - part["ratio"]],
                fmt="s" if kind != "site" else "o",
                color=colour,
                ms=4,
                lw=1,
                capsize=2,
            )
    for position, ratios in points.items():
        ax.plot(ratios, np.full(len(ratios), y[position]), "o", color=COLOURS["site"], ms=2.5, alpha=0.5)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    if not finite.empty or len(dots):
        lo = min(float(finite["lower"].min()) if len(finite) else math.inf, dots.min(initial=math.inf))
        hi = max(float(finite["upper"].max()) if len(finite) else -math.inf, dots.max(initial=-math.inf))
        span = max(hi / lo, 1.5)
        ax.set_xlim(min(lo, 1.0) / span**0.05, max(hi, 1.0) * span**0.05)
    labels = [
        f"{r.group}: {r.label}"
        + ("" if r.kind == "sites" or (pd.notna(r.ratio) and pd.notna(r.lower)) else " (not calculable)")
        for r in lines.itertuples()
    ]
    ax.set_yticks(y, labels, fontsize=7)
    ax.set_xlabel("ratio of rate ratios, intervention / baseline (below 1: the group's relative rate fell)", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def fitted_gap(fit: pd.Series, months: pd.Series, programme_start: date) -> pd.Series:
    """exp(b1 + b3 t + b5 P + b7 P s) from gap_trend's published exp(b1), exp(12 b3), exp(b5), exp(12 b7)."""
    index = months.map(lambda m: m.year * 12 + m.month - 1)
    first = fit["first_month"]
    t = index - (first.year * 12 + first.month - 1)
    start = programme_start.year * 12 + programme_start.month - 1
    p = (index >= start).astype(float)
    s = (index - start).clip(lower=0) * p
    log = (
        math.log(fit["baseline_gap_level"])
        + math.log(fit["baseline_gap_trend_per_year"]) / 12 * t
        + math.log(fit["gap_level_change"]) * p
        + math.log(fit["gap_slope_change_per_year"]) / 12 * s
    )
    return np.exp(log)


def draw_lan_trend(monthly: pd.DataFrame, trend: pd.DataFrame, programme_start: date, title: str) -> Figure:
    """The LAN's monthly rate ratio per group (points) with the fitted segmented trend (line), log axis."""
    fig = Figure(figsize=(7.5, 3.0))
    ax = fig.add_subplot()
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (group, rows) in enumerate(monthly.groupby("ethnic_group", sort=True)):
        colour = cycle[i % len(cycle)]
        rows = rows.dropna(subset=["rate_ratio"])
        months = pd.to_datetime(rows["month"])
        ax.plot(months, rows["rate_ratio"], "o", color=colour, ms=3, label=group)
        fit = trend[trend["ethnic_group"] == group]
        if len(fit) and pd.notna(fit.iloc[0]["gap_level_change"]) and len(rows):
            every = pd.Series(pd.date_range(months.min(), months.max(), freq="MS").date)
            ax.plot(pd.to_datetime(every), fitted_gap(fit.iloc[0], every, programme_start), "-", color=colour, lw=1.2)
    ax.axhline(1.0, color="black", lw=0.8)
    ax.axvline(pd.Timestamp(programme_start), color="#888888", ls="--", lw=0.8)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylabel("rate ratio to reference (points: crude; line: fitted, site-adjusted)", fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=7)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, ncols=4, loc="upper left")
    fig.tight_layout()
    return fig


def _fmt(value, digits: int = 2) -> str:
    return "" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def _interval(r, prefix: str) -> str:
    est, lo, hi = getattr(r, prefix), getattr(r, f"{prefix}_lower_95"), getattr(r, f"{prefix}_upper_95")
    return "not calculable" if pd.isna(est) else f"{_fmt(est)} ({_fmt(lo)} to {_fmt(hi)})"


def _lan_table(change: pd.DataFrame, trend: pd.DataFrame, measure: str) -> str:
    rows = change[(change["measure_code"] == measure) & (change["geography_level"] == "lan")]
    head = (
        "<tr><th>group</th><th>comparison</th><th>ratio of rate ratios (95 % CI)</th><th>assessment</th>"
        "<th>site-adjusted (95 % CI)</th><th>adjusted assessment</th><th>level change at start (95 % CI)</th></tr>"
    )
    body = []
    for r in rows.sort_values(["ethnic_group", "comparison"]).itertuples():
        fit = trend[(trend["measure_code"] == measure) & (trend["ethnic_group"] == r.ethnic_group)]
        level = (
            _interval(next(fit.itertuples()), "gap_level_change")
            if len(fit) and pd.notna(fit.iloc[0]["gap_level_change"])
            else html.escape(str(fit.iloc[0]["fit_note"]) if len(fit) else "")
        )
        body.append(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(v))}</td>"
                for v in (
                    r.ethnic_group,
                    r.comparison.replace("_", " "),
                    _interval(r, "ratio_of_rate_ratios"),
                    r.change_assessment,
                    _interval(r, "adjusted_ratio_of_rate_ratios"),
                    r.adjusted_change_assessment or "",
                )
            )
            + f"<td>{level}</td></tr>"
        )
    return f"<table>{head}{''.join(body)}</table>"


def write_gap_change_page(
    change: pd.DataFrame,
    trend: pd.DataFrame,
    monthly: pd.DataFrame,
    measures: pd.DataFrame,
    dest: Path,
    programme_start: date,
) -> PageResult:
    """Write dest/did-the-gap-narrow.html and its PNGs, unless the inputs are those it was last drawn from."""
    dest.mkdir(parents=True, exist_ok=True)
    page, images_dir, sidecar = dest / PAGE, dest / IMAGES, dest / SIDECAR
    ordered = [
        change.sort_values(["geography_level", "site_code", "measure_code", "ethnic_group", "comparison"]),
        trend.sort_values(["measure_code", "ethnic_group"]),
        monthly.sort_values(["measure_code", "ethnic_group", "month"]),
        measures.sort_values("measure_code"),
    ]
    key = inputs_sha256([f.reset_index(drop=True) for f in ordered], programme_start)
    names = dict(zip(measures["measure_code"], measures["measure_name"], strict=False))
    codes = sorted(change["measure_code"].unique())
    images = [images_dir / f"{_slug(c)}_{kind}.png" for c in codes for kind in ("forest", "trend")]
    try:
        kept = json.loads(sidecar.read_text(encoding="utf-8")).get("inputs_sha256")
    except (OSError, ValueError):
        kept = None
    if kept == key and page.exists() and all(p.exists() for p in images):
        return PageResult(page=page, images=images, redrawn=False)

    images_dir.mkdir(exist_ok=True)
    sections = []
    for code in codes:
        name = names.get(code, code)
        forest, line = images_dir / f"{_slug(code)}_forest.png", images_dir / f"{_slug(code)}_trend.png"
        _save(draw_forest(forest_rows(change, code), f"{name}: did the gap narrow? (intervention vs baseline)"), forest)
        _save(
            draw_lan_trend(
                monthly[monthly["measure_code"] == code],
                trend[trend["measure_code"] == code],
                programme_start,
                f"{name}: the LAN's monthly gap with the fitted segmented trend",
            ),
            line,
        )
        sections.append(
            f"<h2>{html.escape(name)} <small>({html.escape(code)})</small></h2>"
            f'<img src="{IMAGES}/{forest.name}" alt="forest plot of the ratio of rate ratios, {html.escape(name)}">'
            f'<img src="{IMAGES}/{line.name}" alt="LAN monthly rate ratio and fitted trend, {html.escape(name)}">'
            + _lan_table(change, trend, code)
        )
    intro = (
        "<p>For each measure: the ratio of rate ratios (the group's rate ratio to the reference group in the "
        "intervention phase divided by that in the baseline) for each site, the LAN crude and the LAN adjusted for "
        "site mix (Mantel&ndash;Haenszel), with 95 % intervals on a log axis. Below 1 the group's rate fell relative "
        "to the reference group's. Then the LAN's monthly rate ratio with the fitted segmented (interrupted time "
        f"series) trend; the dashed line is the programme start ({programme_start:%B %Y}). Tables: "
        "<code>marts.gap_change</code> and <code>marts.gap_trend</code>; the README's <em>Did the gap narrow?</em> "
        "says how to read them, and what they cannot tell (regression to the mean, secular trends).</p>"
    )
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em}img{max-width:100%;display:block}"
        "table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0 2em}td,th{border:1px solid #ccc;padding:2px 6px}"
    )
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Did the gap narrow?</title>'
        f"<style>{style}</style></head><body><h1>Did the gap narrow?</h1>{intro}{''.join(sections)}</body></html>\n"
    )
    tmp = page.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(page)
    sidecar.write_text(json.dumps({"inputs_sha256": key}), encoding="utf-8")
    return PageResult(page=page, images=images, redrawn=True)
