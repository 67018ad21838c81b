"""Readable quality reports, built from the stored results, working with no internet access.

* ``build_data_docs``: Great Expectations' own HTML Data Docs (index, one page per validation
  result, one per suite). GX's page templates load Bootstrap 4.3.1, jQuery 3.7.1, popper.js
  1.12.9, bootstrap-table 1.19.1 (its filter-control stylesheet from 1.19.0), bootstrap-datepicker
  1.9.0, bootstrap-dark 1.1.0, Font Awesome 6.6.0 and Vega 5 / Vega-Lite 5 / vega-embed 6 from CDNs.
  Exactly those files are vendored, with their licences, in ``expectations/static/vendor/`` (see
  its ``SOURCES.md``); ``make_offline`` copies them beside the pages and points every CDN address
  at the local copy (``CDN_FILES``). An address not in that map is refused, so a GX upgrade that
  changes its templates fails loudly instead of producing pages that reach out to the internet.
* ``validations_from_results``: GX validation results made from the results frame stored in the
  warehouse (``raw.data_quality_results`` / ``marts.fct_data_quality_results``). Nothing is
  validated again: GX validated each submission once, when it arrived, and the verdicts, observed
  values and figures stored then are what the pages show. Every failing value is listed with the
  site, month and measure (or ethnic group) it belongs to.
* ``write_quality_report``: both of the above and the completeness summary under one folder;
  nothing is rebuilt when the stored results are unchanged (a hash of the inputs is kept beside
  the pages), and a site's summary page only when that site's results changed.
* ``write_completeness_summary``: one self-contained HTML page per site (completeness by month x
  measure coloured against the threshold, a matplotlib chart embedded as PNG, the differential
  flags) and an index page.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations as gx  # noqa: E402
import pandas as pd  # noqa: E402
from great_expectations.core import (  # noqa: E402
    ExpectationSuiteValidationResult,
    ExpectationValidationResult,
)
from great_expectations.core.expectation_suite import ExpectationSuite  # noqa: E402
from great_expectations.core.run_identifier import RunIdentifier  # noqa: E402
from great_expectations.data_context.types.resource_identifiers import (  # noqa: E402
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

from expectations import suites as S  # noqa: E402
from expectations.validate import gx_context  # noqa: E402


def quality_dir(publish: Path) -> Path:
    """Where the quality reports go under the publish folder (``Settings.publish``)."""
    return Path(publish) / "quality"


def completeness_dir(publish: Path) -> Path:
    """The completeness summary: ``<publish>/quality/completeness``."""
    return quality_dir(publish) / "completeness"


#: Bump when the pages' code changes, so that pages built by older code are rebuilt.
REPORT_VERSION = "2"

#: The vendored copies of the libraries GX's page templates load.
VENDOR = Path(__file__).parent / "static" / "vendor"

#: Every remote file GX 1.24.1's Data Docs templates load -> its vendored copy under ``VENDOR``.
CDN_FILES: dict[str, str] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap-4.3.1/dist/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap-4.3.1/dist/js/bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js-1.12.9/dist/umd/popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table-1.19.1/dist/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table-1.19.1/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table-1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table-1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table-1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker-1.9.0/dist/css/bootstrap-datepicker.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker-1.9.0/dist/js/bootstrap-datepicker.min.js"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "forevolve-bootstrap-dark-1.1.0/dist/css/bootstrap-prefers-dark.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome-free-6.6.0/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega-5.33.1/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite-5.23.0/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed-6.29.0/build/vega-embed.min.js",
}
#: GX's logo and icons, which its navbar loads from S3; GX copies the same files into ``static/images``.
_GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"

#: How many unexpected rows a Data Docs page names per expectation at most (all of them in practice:
#: a page lists every failing site-month; the cap keeps a page openable if a whole network fails).
DOCS_UNEXPECTED_LIMIT = 5000

_ASSET_TAG = re.compile(r"<(?:link|script|img)\b[^>]*>", re.I)
_REMOTE_ATTR = re.compile(r"""(\b(?:href|src)\s*=\s*)(["'])((?:https?:)?//[^"']*)\2""", re.I)
_SRI_ATTR = re.compile(r"""\s+(?:integrity|crossorigin)\s*=\s*(["'])[^"']*\1""", re.I)
_GX_CSS_IMAGE = re.compile(r"""url\(\s*(["']?)""" + re.escape(_GX_IMAGES) + r"""([^"')?]+)[^)]*\)""", re.I)
_LOCAL_STATIC = re.compile(r"""((?:href|src)\s*=\s*["'])(?:\.\./)*static/""", re.I)
#: For tests and callers: what must not remain in an offline page.
REMOTE_ASSET = re.compile(
    r"<(?:link|script|img|iframe|source)\b[^>]*\b(?:href|src)\s*=\s*[\"']?\s*(?:https?:)?//"
    r"|url\(\s*[\"']?(?:https?:)?//|@import\s+[\"']?(?:url\()?\s*[\"']?(?:https?:)?//",
    re.I,
)


# --------------------------------------------------------------------------------------------
# GX Data Docs
# --------------------------------------------------------------------------------------------


def _as_mapping(validations) -> dict[str, ExpectationSuiteValidationResult]:
    if isinstance(validations, ExpectationSuiteValidationResult):
        return {validations.suite_name: validations}
    if isinstance(validations, Mapping):
        return {str(k): v for k, v in validations.items() if v is not None}
    return {v.suite_name: v for v in validations if v is not None}


def build_data_docs(
    validations: Mapping[str, ExpectationSuiteValidationResult]
    | Iterable[ExpectationSuiteValidationResult]
    | ExpectationSuiteValidationResult,
    dest: Path,
    run_name: str | None = None,
) -> Path:
    """Build GX Data Docs for the given validation results into ``dest`` and make every page work
    offline; return ``dest/index.html``.

    ``validations`` maps a label (the suite name, say) to a result, or is an iterable of results,
    or one result. ``dest`` is owned by this function: its previous index, pages and static files
    are replaced.
    """
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    for old in ("index.html", "validations", "expectations", "static"):
        target = dest / old
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()

    context = gx_context()
    run_time = datetime.now(UTC)
    run_name = run_name or f"lan-{run_time:%Y%m%dT%H%M%SZ}"
    for label, validation in _as_mapping(validations).items():
        name = validation.suite_name
        if not any(s.name == name for s in context.suites.all()):
            expectations = [r.expectation_config.to_domain_obj() for r in validation.results]
            context.suites.add(ExpectationSuite(name=name, expectations=expectations, notes=f"LAN suite {name}"))
        run_id = RunIdentifier(run_name=run_name, run_time=run_time)
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=name),
            run_id=run_id,
            batch_identifier=re.sub(r"[^A-Za-z0-9_.-]+", "_", label),
        )
        validation.meta = {**(validation.meta or {}), "run_id": run_id}
        context.validation_results_store.set(key, validation)

    site = "lan_quality"
    context.add_data_docs_site(
        site,
        {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(dest)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    context.build_data_docs(site_names=[site])
    make_offline(dest)
    return dest / "index.html"


def _css_image(match: re.Match, prefix: str, images: Path) -> str:
    """A CSS ``url()`` of GX's S3 images, local when GX ships the image; else ``none`` (the dark-mode
    logo, the only one GX does not ship: dark mode then shows no logo)."""
    name = match.group(2)
    return f"url('{prefix}{name}')" if (images / name).exists() else "none"


def make_offline(site: Path) -> list[Path]:
    """Copy the vendored libraries to ``site/static/vendor`` and point every page's CDN links at them.

    The ``integrity``/``crossorigin`` attributes GX sets on two CDN scripts are dropped: a browser
    refuses a ``crossorigin`` script from a ``file://`` page; the vendored files are those very
    bytes (tests/test_expectations_docs.py checks them against GX's sha384 hashes)."""
    site = Path(site)
    shutil.copytree(VENDOR, site / "static" / "vendor", dirs_exist_ok=True)
    images = site / "static" / "images"
    for css in (site / "static" / "styles").rglob("*.css"):  # GX's stylesheet templates (pages inline them too)
        text = css.read_text(encoding="utf-8")
        css.write_text(_GX_CSS_IMAGE.sub(lambda m: _css_image(m, "../images/", images), text), encoding="utf-8")
    pages = sorted(site.rglob("*.html"))
    for page in pages:
        root = os.path.relpath(site, page.parent).replace(os.sep, "/")
        root = "" if root == "." else root + "/"

        def local(match: re.Match) -> str:
            url = match.group(3)
            if url in CDN_FILES:
                path = f"{root}static/vendor/{CDN_FILES[url]}"  # noqa: B023 (used within the iteration)
            elif url.startswith(_GX_IMAGES) and (images / url[len(_GX_IMAGES) :].split("?")[0]).exists():
                path = f"{root}static/images/{url[len(_GX_IMAGES) :].split('?')[0]}"  # noqa: B023
            else:
                raise ValueError(f"Data Docs page {page.name} loads {url}, which is not vendored (see CDN_FILES)")  # noqa: B023
            return f"{match.group(1)}{match.group(2)}{path}{match.group(2)}"

        def offline_tag(match: re.Match) -> str:
            tag = match.group(0)
            if not _REMOTE_ATTR.search(tag):
                return tag
            return _SRI_ATTR.sub("", _REMOTE_ATTR.sub(local, tag))  # noqa: B023

        text = _ASSET_TAG.sub(offline_tag, page.read_text(encoding="utf-8"))
        text = _GX_CSS_IMAGE.sub(lambda m: _css_image(m, f"{root}static/images/", images), text)  # noqa: B023
        text = _LOCAL_STATIC.sub(lambda m: f"{m.group(1)}{root}static/", text)  # noqa: B023 (GX miscounts depth)
        page.write_text(text, encoding="utf-8")
    return pages


# --------------------------------------------------------------------------------------------
# the completeness summary a person reads
# --------------------------------------------------------------------------------------------

_PAGE_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:1.5rem 2rem;color:#1f2933;line-height:1.45}
h1{font-size:1.5rem;margin:0 0 .3rem}h2{font-size:1.15rem;margin:1.6rem 0 .5rem}
p.lede{color:#52606d;margin:.2rem 0 1rem;max-width:60rem}
table{border-collapse:collapse;font-size:.85rem;margin:.4rem 0 1rem}
th,td{border:1px solid #d9e2ec;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th{background:#f0f4f8;font-weight:600}td.l,th.l{text-align:left}
td.pass{background:#c6f0d3}td.near{background:#fff1b8}td.fail{background:#ffc9c9}td.bad{background:#ff8f8f}td.na{background:#f5f7fa;color:#9aa5b1}
.legend span{display:inline-block;padding:.1rem .5rem;margin-right:.4rem;border:1px solid #d9e2ec;font-size:.8rem}
img.chart{max-width:100%;border:1px solid #d9e2ec}
a{color:#0b5cad}.muted{color:#7b8794;font-size:.85rem}
"""

_NEAR_MARGIN = 0.02  # colour: passing but within 2 points of the threshold
_BAD_MARGIN = 0.10  # colour: failing by 10 points or more


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(name)) or "site"


def _pct(value: float | None) -> str:
    return "–" if value is None or pd.isna(value) else f"{value * 100:.1f}%"


def _cell_class(value: float | None, success: bool, threshold: float) -> str:
    if value is None or pd.isna(value):
        return "na"
    if not success:
        return "bad" if value < threshold - _BAD_MARGIN else "fail"
    return "near" if value < threshold + _NEAR_MARGIN else "pass"


def _chart_png(site: str, table: pd.DataFrame, threshold: float) -> bytes:
    """Completeness over time, one line per measure, threshold dashed. matplotlib's OO API only:
    no pyplot, no global backend state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    fig = Figure(figsize=(8, 3.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    months = pd.DatetimeIndex(table.index)
    for measure in table.columns:
        series = table[measure].astype("float64")
        ax.plot(months, series.to_numpy(), marker="o", markersize=2.5, linewidth=1.2, label=str(measure))
    ax.axhline(threshold, color="#c92a2a", linestyle="--", linewidth=1.2, label=f"threshold {threshold:.0%}")
    low = float(min(threshold, pd.to_numeric(table.stack(), errors="coerce").min() if table.size else threshold))
    ax.set_ylim(max(0.0, low - 0.05), 1.005)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_title(f"{site}: ethnicity completeness by measure", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, ncol=1, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.autofmt_xdate()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _flag_rows(flags: pd.DataFrame) -> str:
    lines = []
    for _, r in flags.sort_values(["month_start_date", "rule"]).iterrows():
        d = json.loads(r["details"]) if isinstance(r["details"], str) else {}
        month = pd.Timestamp(r["month_start_date"]).strftime("%Y-%m")
        if r["rule"] == S.DIFFERENTIAL_MISSING_BY_GROUP:
            what = html.escape(str(r["ethnic_group"]))
            figures = (
                f"{d.get('n_missing')} of {d.get('n_cells')} cells empty "
                f"({_pct(d.get('missing_share'))}) vs {_pct(d.get('others_share'))} for other groups"
            )
        else:
            what = html.escape(str(r["measure_code"]))
            figures = (
                f"completeness {_pct(d.get('completeness'))} vs median "
                f"{_pct(d.get('others_median'))} of {d.get('n_other_measures')} other measures"
            )
        observed = "–" if pd.isna(r["observed_value"]) else f"{r['observed_value'] * 100:+.1f} pts"
        lines.append(
            f"<tr><td class=l>{month}</td><td class=l>{html.escape(str(r['rule']))}</td>"
            f"<td class=l>{what}</td><td>{observed}</td>"
            f"<td class=l>{html.escape(figures)}</td></tr>"
        )
    return "\n".join(lines)


def _write_site_page(
    site: str,
    values: pd.DataFrame,
    success: pd.DataFrame,
    site_flags: pd.DataFrame,
    flagged_months: int,
    threshold: float,
    page_path: Path,
    legend: str,
    generated: str,
) -> None:
    """One site's page and its chart (PNG beside the page, and embedded in it)."""
    measures = list(values.columns)
    png = _chart_png(site, values, threshold)
    page_path.with_suffix(".png").write_bytes(png)
    body = []
    for month, row in values.iterrows():
        cells = "".join(
            f'<td class="{_cell_class(row[m], bool(success.at[month, m]) if pd.notna(success.at[month, m]) else True, threshold)}">'
            f"{_pct(row[m])}</td>"
            for m in measures
        )
        body.append(f"<tr><th class=l>{pd.Timestamp(month):%Y-%m}</th>{cells}</tr>")
    flag_table = (
        "<table><tr><th class=l>month</th><th class=l>rule</th><th class=l>group / measure</th>"
        f"<th>gap</th><th class=l>figures</th></tr>{_flag_rows(site_flags)}</table>"
        if len(site_flags)
        else "<p class=muted>None.</p>"
    )
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(site)}: ethnicity completeness</title><style>{_PAGE_CSS}</style></head><body>
<p><a href="index.html">&larr; all sites</a></p>
<h1>{html.escape(site)}: ethnicity completeness</h1>
<p class="lede">Share of each month's and measure's denominator whose ethnic category is known
(not Z “Not stated”, not 99 “Not known”). Below {threshold:.0%} the site-month is loaded but flagged.
{flagged_months} of {len(values)} months flagged.</p>
<img class="chart" alt="completeness over time per measure, threshold {threshold:.0%}"
 src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">
<h2>By month and measure</h2>{legend}
<table><tr><th class=l>month</th>{"".join(f"<th>{html.escape(str(m))}</th>" for m in measures)}</tr>
{"".join(body)}</table>
<h2>Differential completeness flags</h2>
<p class="lede">An ethnic group whose numerators or denominators go missing {S.GROUP_MISSING_MARGIN * 100:.0f}
percentage points or more often than for the site-month's other groups (judged with {S.GROUP_MIN_MISSING_CELLS}+ empty
cells), or a measure whose completeness is {S.MEASURE_OUTLIER_MARGIN * 100:.0f} percentage points or more below the
median of the site-month's other measures.</p>
{flag_table}
<p class="muted">Generated {generated} from the Great Expectations results.</p>
</body></html>"""
    page_path.write_text(page, encoding="utf-8")


def write_completeness_summary(results: pd.DataFrame, dest: Path) -> tuple[Path, int]:
    """Write ``dest/index.html`` and ``dest/site_<SITE>.html`` (+ ``.png`` chart, also embedded)
    from a ``validate_quality`` results frame; return the index path and how many site pages were
    written. When the frame holds several submissions of a site-month, the newest (``validated_at``,
    else the last row) is shown. A site page whose results hash as at the last build
    (``dest/.pages.json``) is kept as it is."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    results = latest_results(results)
    hashes_path = dest / ".pages.json"
    try:
        previous = json.loads(hashes_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        previous = {}
    hashes: dict[str, str] = {}
    written = 0
    comp = results.loc[results["rule"] == S.ETHNICITY_COMPLETENESS].copy()
    comp = comp.drop_duplicates(["site_code", "month_start_date", "measure_code"], keep="last")
    thresholds = comp["threshold"].dropna()
    threshold = float(thresholds.iloc[0]) if len(thresholds) else S.DEFAULT_COMPLETENESS_THRESHOLD
    flags = results.loc[
        results["rule"].isin([S.DIFFERENTIAL_MISSING_BY_GROUP, S.MEASURE_COMPLETENESS_OUTLIER])
        & ~results["success"].astype(bool)
    ]
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    legend = (
        f'<p class="legend"><span class="pass" style="background:#c6f0d3">at or above {threshold:.0%}</span>'
        f'<span style="background:#fff1b8">within {_NEAR_MARGIN * 100:.0f} points above</span>'
        f'<span style="background:#ffc9c9">below {threshold:.0%}</span>'
        f'<span style="background:#ff8f8f">{_BAD_MARGIN * 100:.0f}+ points below</span>'
        '<span style="background:#f5f7fa">no denominator</span></p>'
    )
    index_rows = []
    for site in sorted(comp["site_code"].dropna().astype(str).unique()):
        sc = comp.loc[comp["site_code"] == site]
        values = sc.pivot(index="month_start_date", columns="measure_code", values="observed_value").sort_index()
        success = sc.pivot(index="month_start_date", columns="measure_code", values="success").reindex_like(values)
        site_flags = flags.loc[flags["site_code"] == site]
        flagged_months = sc.loc[~sc["success"].astype(bool), "month_start_date"].nunique()
        hashes[site] = inputs_hash(pd.concat([sc, site_flags]), threshold)
        page_path = dest / f"site_{_safe(site)}.html"
        if previous.get(site) != hashes[site] or not page_path.exists():
            _write_site_page(site, values, success, site_flags, flagged_months, threshold, page_path, legend, generated)
            written += 1
        worst = sc.loc[sc["observed_value"].idxmin()] if sc["observed_value"].notna().any() else None
        latest = values.index.max()
        latest_min = values.loc[latest].min() if len(values) else None
        index_rows.append(
            f'<tr><td class=l><a href="site_{_safe(site)}.html">{html.escape(site)}</a></td>'
            f"<td>{len(values)}</td><td>{flagged_months}</td>"
            f'<td class="{_cell_class(latest_min, latest_min is None or pd.isna(latest_min) or latest_min >= threshold, threshold)}">'
            f"{pd.Timestamp(latest):%Y-%m}: {_pct(latest_min)}</td>"
            + (
                f"<td class=l>{_pct(worst['observed_value'])} ({pd.Timestamp(worst['month_start_date']):%Y-%m}, "
                f"{html.escape(str(worst['measure_code']))})</td>"
                if worst is not None
                else "<td>–</td>"
            )
            + f"<td>{int((site_flags['rule'] == S.DIFFERENTIAL_MISSING_BY_GROUP).sum())}</td>"
            f"<td>{int((site_flags['rule'] == S.MEASURE_COMPLETENESS_OUTLIER).sum())}</td></tr>"
        )
    index = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>LAN ethnicity completeness</title><style>{_PAGE_CSS}</style></head><body>
<h1>LAN ethnicity completeness by site</h1>
<p class="lede">Threshold {threshold:.0%} of each site-month-measure's denominator with a known ethnic category.
A month is flagged when any measure falls below it. Differential flags compare ethnic groups and measures
within a site-month. Open a site for its months, measures and chart.</p>
<table><tr><th class=l>site</th><th>months</th><th>months flagged</th><th>latest month (lowest measure)</th>
<th class=l>lowest ever</th><th>group flags</th><th>measure flags</th></tr>
{"".join(index_rows) or "<tr><td colspan=7 class=l>No completeness results.</td></tr>"}</table>
<p class="muted">Generated {generated} from the Great Expectations results.</p>
</body></html>"""
    path = dest / "index.html"
    path.write_text(index, encoding="utf-8")
    hashes_path.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path, written


# --------------------------------------------------------------------------------------------
# from a stored results frame
# --------------------------------------------------------------------------------------------

_RESULT_KEY = ["submission_id", "site_code", "month_start_date", "rule", "measure_code", "ethnic_group"]


def latest_results(results: pd.DataFrame) -> pd.DataFrame:
    """The newest result of each check when a frame holds several runs (``validated_at``)."""
    frame = results
    if "validated_at" in frame.columns:
        frame = frame.sort_values("validated_at", kind="stable")
    key = [c for c in _RESULT_KEY if c in frame.columns]
    frame = frame.drop_duplicates(key, keep="last").copy()
    frame["month_start_date"] = pd.to_datetime(frame["month_start_date"])
    return frame.reset_index(drop=True)


def _details_frame(details: pd.Series) -> pd.DataFrame:
    text = "\n".join(details.fillna("{}").astype(str))
    return (
        pd.read_json(io.StringIO(text), lines=True, convert_dates=False, dtype=False)
        if len(details)
        else pd.DataFrame()
    )


def _most_common(values: pd.Series, default: float) -> float:
    values = values.dropna()
    return float(values.mode().iloc[0]) if len(values) else float(default)


@dataclass(frozen=True)
class _Plan:
    rule: str
    column: str  # the column the expectation is about (GX's domain)
    by: str  # what names the check besides site and month: measure_code or ethnic_group
    by_label: str
    condition: str | None  # the row condition's column in the details and its minimum (GX row_condition)
    minimum: int
    worst_first_descending: bool  # differential gaps: largest first; completeness: lowest first


_PLANS = (
    (_Plan(S.ETHNICITY_COMPLETENESS, "completeness", "measure_code", "measure", None, 0, False), S.completeness_suite),
    (
        _Plan(
            S.DIFFERENTIAL_MISSING_BY_GROUP,
            "missing_gap",
            "ethnic_group",
            "ethnic group",
            "n_missing",
            S.GROUP_MIN_MISSING_CELLS,
            True,
        ),
        S.group_differential_suite,
    ),
    (
        _Plan(
            S.MEASURE_COMPLETENESS_OUTLIER,
            "shortfall",
            "measure_code",
            "measure",
            "n_other_measures",
            S.MEASURE_MIN_OTHER_MEASURES,
            True,
        ),
        S.measure_differential_suite,
    ),
)


def _validation(part: pd.DataFrame, plan: _Plan, suite: gx.ExpectationSuite) -> ExpectationSuiteValidationResult:
    """GX's validation result for the stored rows of one rule, as GX returned it when it validated them
    (COMPLETE format), with each unexpected value identified by site, month and measure or group."""
    [expectation] = suite.expectations
    observed = part["observed_value"].astype("float64")
    judged = observed.notna()
    if plan.condition is not None:
        figures = _details_frame(part["details"])
        counts = pd.to_numeric(figures.get(plan.condition, pd.Series(0, index=part.index)), errors="coerce")
        judged &= counts.fillna(0).to_numpy() >= plan.minimum
    failed = part.loc[~part["success"].astype(bool)].copy()
    failed["_value"] = failed["observed_value"].astype("float64").round(4)
    failed = failed.sort_values(["_value", "site_code", "month_start_date"], ascending=not plan.worst_first_descending)
    failed = failed.head(DOCS_UNEXPECTED_LIMIT)
    label = f"site, month, {plan.by_label}"
    names = (
        failed["site_code"].astype(str)
        + " "
        + pd.DatetimeIndex(failed["month_start_date"]).strftime("%Y-%m")
        + " "
        + failed[plan.by].astype(str)
    )
    values = failed["_value"].tolist()
    index_list = [{label: name, plan.column: value} for name, value in zip(names, values, strict=True)]
    counts = failed["_value"].value_counts(sort=False)
    element_count, unexpected = len(part), int((~part["success"].astype(bool)).sum())
    evaluated = int(judged.sum())
    result = {
        "element_count": element_count,
        "missing_count": int(element_count - evaluated),
        "missing_percent": (element_count - evaluated) / element_count * 100 if element_count else None,
        "unexpected_count": unexpected,
        "unexpected_percent": unexpected / evaluated * 100 if evaluated else None,
        "unexpected_percent_total": unexpected / element_count * 100 if element_count else None,
        "unexpected_percent_nonmissing": unexpected / evaluated * 100 if evaluated else None,
        "partial_unexpected_list": values[:20],
        "partial_unexpected_counts": [{"value": v, "count": int(counts[v])} for v in dict.fromkeys(values)],
        "unexpected_list": values,
        "unexpected_index_list": index_list,
        "unexpected_index_column_names": [label],
    }
    success = unexpected == 0
    return ExpectationSuiteValidationResult(
        success=success,
        results=[
            ExpectationValidationResult(
                success=success, expectation_config=expectation.configuration, result=result, exception_info={}
            )
        ],
        suite_name=suite.name,
        statistics={
            "evaluated_expectations": 1,
            "successful_expectations": int(success),
            "unsuccessful_expectations": int(not success),
            "success_percent": 100.0 if success else 0.0,
        },
        meta={
            "batch_spec": {
                "data_asset_name": f"{plan.rule} results of the current submissions "
                f"({part['site_code'].nunique()} sites, stored in raw.data_quality_results)"
            },
            "great_expectations_version": gx.__version__,
            "validation_time": str(part["validated_at"].max()) if "validated_at" in part else None,
        },
    )


def validations_from_results(results: pd.DataFrame) -> dict[str, ExpectationSuiteValidationResult]:
    """GX validation results, one per quality suite, made from a stored results frame without running
    GX again: the verdicts, observed values and thresholds are the stored ones (GX's, from when each
    submission was validated). Each unexpected value is named by its site, month and measure or group."""
    frame = latest_results(results)
    validations: dict[str, ExpectationSuiteValidationResult] = {}
    for plan, make_suite in _PLANS:
        part = frame.loc[frame["rule"] == plan.rule].reset_index(drop=True)
        if part.empty:
            continue
        suite = make_suite(
            _most_common(part["threshold"], make_suite().expectations[0].configuration.meta["threshold"])
        )
        validations[suite.name] = _validation(part, plan, suite)
    return validations


def inputs_hash(results: pd.DataFrame, threshold: float | None = None) -> str:
    """sha256 of what the pages show: the stored results (row order aside), the threshold and the code."""
    frame = results.sort_values(["rule", *[c for c in _RESULT_KEY if c in results.columns and c != "rule"]])
    digest = hashlib.sha256(f"{REPORT_VERSION}|{gx.__version__}|{threshold}|".encode())
    digest.update(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy().tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class QualityReport:
    index: Path
    rebuilt: bool  # False: the stored results were unchanged and the pages were left as they were
    site_pages_written: int


def write_quality_report(results: pd.DataFrame, dest: Path, threshold: float | None = None) -> QualityReport:
    """``dest/gx/`` (GX Data Docs, offline), ``dest/completeness/`` (per-site summary) and
    ``dest/index.html`` linking both, from a results frame as stored in the warehouse. Nothing is
    rebuilt when the results, threshold and code are those of the last build (``dest/.inputs.sha256``).
    ``threshold`` is shown when the results carry none."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    latest = latest_results(results)
    stamp, index = dest / ".inputs.sha256", dest / "index.html"
    digest = inputs_hash(latest, threshold)
    if index.exists() and stamp.exists() and stamp.read_text(encoding="utf-8").strip() == digest:
        return QualityReport(index, rebuilt=False, site_pages_written=0)
    stamp.unlink(missing_ok=True)  # a build killed half-way is redone
    if threshold is not None and not latest["threshold"].notna().any():
        latest["threshold"] = float(threshold)
    validations = validations_from_results(latest)
    docs = build_data_docs(validations, dest / "gx") if validations else None
    summary, written = write_completeness_summary(latest, dest / "completeness")
    failed = int((~latest["success"].astype(bool)).sum()) if len(latest) else 0
    shown = _most_common(
        latest.loc[latest["rule"] == S.ETHNICITY_COMPLETENESS, "threshold"],
        threshold if threshold is not None else S.DEFAULT_COMPLETENESS_THRESHOLD,
    )
    links = [
        f'<li><a href="{summary.relative_to(dest).as_posix()}">Ethnicity completeness by site</a> '
        "&ndash; tables and charts per site, coloured against the threshold</li>"
    ]
    if docs is not None:
        links.append(
            f'<li><a href="{docs.relative_to(dest).as_posix()}">Great Expectations Data Docs</a> '
            "&ndash; the suites and every failing site, month and measure</li>"
        )
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>LAN data quality</title><style>{_PAGE_CSS}</style></head><body>
<h1>LAN data quality</h1>
<p class="lede">{len(latest):,} checks on the current submissions, {failed:,} failed.
Completeness threshold {shown:.0%}.</p>
<ul>{"".join(links)}</ul>
<p class="muted">Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC}.</p>
</body></html>"""
    index.write_text(page, encoding="utf-8")
    stamp.write_text(digest + "\n", encoding="utf-8")
    return QualityReport(index, rebuilt=True, site_pages_written=written)
