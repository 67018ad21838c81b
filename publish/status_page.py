"""The submission status page: a site x month grid of what the warehouse holds, as one offline HTML file.

Read from `marts.fct_submission_status` (status `loaded`, `flagged`, `quarantined` or `missing`; `is_overdue`;
`report_received`; the `problems` in plain words). The same grid is given as a markdown table for the Dagster
UI. The page is rewritten only when its data change: the hash of the data is kept in the page itself.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

COLUMNS = ["site_code", "month_start_date", "status", "problems", "due_date", "is_overdue", "report_received"]
SYMBOLS = {"loaded": "✓", "flagged": "⚑", "quarantined": "✗", "missing": "·"}
OVERDUE = "⌛"
REPORT = "▣"
LEGEND = [
    ("loaded", SYMBOLS["loaded"], "loaded"),
    ("flagged", SYMBOLS["flagged"], "loaded, flagged (ethnicity completeness below the threshold)"),
    ("quarantined", SYMBOLS["quarantined"], "refused: the file is in quarantine/"),
    ("missing", SYMBOLS["missing"], "nothing received"),
    ("overdue", OVERDUE, "overdue: no accepted return and the due date has passed"),
    ("report", REPORT, "monthly report received"),
]
HASH_PATTERN = re.compile(r'<meta name="data-sha256" content="([0-9a-f]{64})">')


@dataclass(frozen=True)
class StatusPage:
    path: Path
    data_hash: str
    redrawn: bool


# The due-date columns, read as "not due, not overdue, no report" from a warehouse built before they existed.
DUE_DATE_DEFAULTS = {"due_date": "null::date", "is_overdue": "false", "report_received": "false"}


def read_status(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The grid's columns of marts.fct_submission_status, one row per site-month."""
    present = {
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'marts' and table_name = 'fct_submission_status'"
        ).fetchall()
    }
    select = [c if c in present else f"{DUE_DATE_DEFAULTS[c]} as {c}" for c in COLUMNS]
    return normalise(con.execute(f"select {', '.join(select)} from marts.fct_submission_status").df())


def normalise(status: pd.DataFrame) -> pd.DataFrame:
    """Months as `YYYY-MM`, flags as booleans (null report_received: not received), sorted by site and month."""
    frame = status[COLUMNS].copy()
    frame["month"] = pd.to_datetime(frame["month_start_date"]).dt.strftime("%Y-%m")
    frame["due_date"] = pd.to_datetime(frame["due_date"]).dt.strftime("%Y-%m-%d").fillna("")
    frame["is_overdue"] = frame["is_overdue"].fillna(False).astype(bool)
    frame["report_received"] = frame["report_received"].fillna(False).astype(bool)
    frame["problems"] = frame["problems"].fillna("").astype(str)
    return frame.drop(columns="month_start_date").sort_values(["site_code", "month"]).reset_index(drop=True)


def data_hash(status: pd.DataFrame) -> str:
    """sha256 of what the page shows (the normalised grid), independent of row order."""
    canonical = status.sort_values(["site_code", "month"]).to_json(orient="records", date_format="iso")
    return hashlib.sha256(canonical.encode()).hexdigest()


def cell_text(row) -> str:
    """The grid cell: the status symbol, then ⌛ when overdue and ▣ when the monthly report came."""
    return (
        SYMBOLS.get(row["status"], "?")
        + (OVERDUE if row["is_overdue"] else "")
        + (REPORT if row["report_received"] else "")
    )


def counts(status: pd.DataFrame) -> dict[str, int]:
    """Site-months by status, and how many are overdue or have their report."""
    found = {s: int((status["status"] == s).sum()) for s in SYMBOLS}
    found["overdue"] = int(status["is_overdue"].sum())
    found["report_received"] = int(status["report_received"].sum())
    return found


def status_markdown(status: pd.DataFrame) -> str:
    """The grid as a markdown table (sites down, months across) with its legend."""
    if status.empty:
        return "No site-months yet."
    grid = status.assign(cell=status.apply(cell_text, axis=1)).pivot(index="site_code", columns="month", values="cell")
    lines = ["| site | " + " | ".join(grid.columns) + " |", "|---|" + "---|" * len(grid.columns)]
    lines += [f"| {site} | " + " | ".join(row.fillna("")) + " |" for site, row in grid.iterrows()]
    lines += ["", " · ".join(f"{symbol} {text}" for _, symbol, text in LEGEND)]
    return "\n".join(lines)


CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d1d1d}
table{border-collapse:collapse;font-size:.85rem}
th,td{border:1px solid #ccc;padding:.15rem .3rem;text-align:center;white-space:nowrap}
th.site{text-align:left}
thead th{position:sticky;top:0;background:#f4f4f4}
.loaded{background:#d9f2d9}.flagged{background:#fff1b8}.quarantined{background:#f8c9c4}
.missing{background:#fff}.overdue{background:#d93025;color:#fff;font-weight:bold}.report{background:#e3ecfa}
.legend b{display:inline-block;min-width:1.4em;text-align:center;border:1px solid #ccc}
details{display:inline}summary{cursor:pointer;list-style:none}
details[open] .why{position:absolute;z-index:2;background:#fff;color:#1d1d1d;border:1px solid #888;
padding:.5rem;max-width:40rem;white-space:pre-wrap;text-align:left;font-weight:normal}
.legend span{display:inline-block;margin-right:1rem}
"""


def _cell_html(row) -> str:
    classes = row["status"] + (" overdue" if row["is_overdue"] else "")
    words = (
        row["status"]
        + (", overdue" if row["is_overdue"] else "")
        + (", report received" if row["report_received"] else "")
    )
    tip = f"{row['site_code']} {row['month']}: {words}" + (f" (due {row['due_date']})" if row["due_date"] else "")
    text = html.escape(cell_text(row))
    if row["problems"]:
        tip += "\n" + row["problems"]
        text = f'<details><summary>{text}</summary><div class="why">{html.escape(row["problems"])}</div></details>'
    return f'<td class="{classes}" title="{html.escape(tip)}">{text}</td>'


def status_html(status: pd.DataFrame, digest: str, drawn_at: datetime) -> str:
    """One self-contained page (no script, no link out): the grid, a legend, counts; reasons a click away."""
    months = sorted(status["month"].unique())
    by_cell = {(r["site_code"], r["month"]): r for r in status.to_dict(orient="records")}
    sites = sorted(status["site_code"].unique())
    rows = []
    for site in sites:
        cells = [_cell_html(by_cell[(site, m)]) if (site, m) in by_cell else "<td></td>" for m in months]
        rows.append(f'<tr><th class="site">{html.escape(site)}</th>{"".join(cells)}</tr>')
    head = "".join(f"<th>{m[:4]}<br>{m[5:]}</th>" for m in months)
    total = counts(status) if not status.empty else {}
    summary = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in total.items())
    legend = "".join(
        f'<span><b class="{cls}">{html.escape(symbol)}</b> {html.escape(text)}</span>' for cls, symbol, text in LEGEND
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="data-sha256" content="{digest}">
<title>LAN returns: submission status</title>
<style>{CSS}</style></head>
<body>
<h1>LAN returns: submission status by site and month</h1>
<p>From <code>marts.fct_submission_status</code>, drawn {drawn_at:%Y-%m-%d %H:%M} UTC when the status last changed.
{len(sites)} sites, {len(months)} months: {html.escape(summary)}.
Click a cell with a mark to read why (the problems found), or hover over any cell.</p>
<p class="legend">{legend}</p>
<table><thead><tr><th class="site">site</th>{head}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
</body></html>
"""


def write_status_page(status: pd.DataFrame, dest: Path, now: datetime | None = None) -> StatusPage:
    """Write dest/index.html unless it already shows these data; written to a temporary name, then renamed."""
    status = normalise(status) if "month" not in status else status
    digest = data_hash(status)
    page = dest / "index.html"
    if page.exists():
        found = HASH_PATTERN.search(page.read_text(encoding="utf-8"))
        if found and found.group(1) == digest:
            return StatusPage(page, digest, redrawn=False)
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / ".index.html.part"
    tmp.write_text(status_html(status, digest, now or datetime.now(UTC)), encoding="utf-8")
    os.replace(tmp, page)
    return StatusPage(page, digest, redrawn=True)
