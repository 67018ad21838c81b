"""Metadata the Dagster UI renders: frames as real markdown tables."""

from __future__ import annotations

import pandas as pd

MAX_LISTED = 60


def markdown_table(frame: pd.DataFrame, limit: int = MAX_LISTED) -> str:
    """`frame` as a markdown table (at most `limit` rows, then a line saying how many more), or 'none'.
    Numbers with a fraction show 2 decimals, missing values empty; a `|` or line break inside a value cannot
    break the table."""
    if frame.empty:
        return "none"
    shown = frame.head(limit)
    lines = ["| " + " | ".join(str(c) for c in shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    for row in shown.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    if len(frame) > limit:
        lines.append(f"\n…and {len(frame) - limit} more.")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value).replace("|", "\\|").replace("\n", " ")
