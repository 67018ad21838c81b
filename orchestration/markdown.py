"""Metadata the Dagster UI renders: frames as real markdown tables."""

from __future__ import annotations

import pandas as pd

MAX_LISTED = 60


def markdown_table(frame: pd.DataFrame, limit: int = MAX_LISTED) -> str:
    """`frame` as a markdown table (at most `limit` rows, then a line saying how many more), or 'none'.
    Missing values show empty; a `|` or line break inside a value cannot break the table."""
    if frame.empty:
        return "none"
    shown = frame.head(limit)
    lines = ["| " + " | ".join(str(c) for c in shown.columns) + " |", "|" + "---|" * len(shown.columns)]
    for row in shown.itertuples(index=False):
        cells = ("" if pd.isna(v) else str(v).replace("|", "\\|").replace("\n", " ") for v in row)
        lines.append("| " + " | ".join(cells) + " |")
    if len(frame) > limit:
        lines.append(f"\n…and {len(frame) - limit} more.")
    return "\n".join(lines)
