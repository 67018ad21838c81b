"""The reference lists (sites, NHS ethnic categories, LAN measures) as the parser needs them.

The CSVs are in `dbt_project/reference/` (shared/reference's files, unchanged) or the folder
LAN_REFERENCE_DIR names; dbt reads the same folder as its `reference` source: one source of truth
for both the parser and the warehouse dimensions.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ingest.settings import reference_dir

UNKNOWN_CODE = "99"
NOT_STATED_CODE = "Z"


def squash(text: str) -> str:
    """Fold case, spacing, underscores, hyphens and punctuation so that spellings compare equal."""
    return re.sub(r"[^0-9a-z]+", "", str(text).lower())


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


@dataclass(frozen=True)
class Reference:
    site_codes: frozenset[str]
    measure_codes: frozenset[str]
    ethnic_codes: tuple[str, ...]
    ethnic_labels: dict[str, str]
    ethnic_groups: dict[str, str]
    known_ethnic_codes: frozenset[str]

    def ethnic_lookup(self) -> dict[str, str]:
        """Squashed code or label -> ethnic code, including the contract's synonyms."""
        lookup: dict[str, str] = {}
        for code in self.ethnic_codes:
            lookup[squash(code)] = code
            lookup[squash(self.ethnic_labels[code])] = code
        for synonym in ("not known", "unknown", ""):
            lookup[squash(synonym)] = UNKNOWN_CODE
        lookup[squash("not stated")] = NOT_STATED_CODE
        return lookup


def load_reference(folder: Path | None = None) -> Reference:
    """The reference lists of `folder`, by default `reference_dir()` (LAN_REFERENCE_DIR or dbt_project/reference)."""
    return _load_reference(Path(folder or reference_dir()).resolve())


@lru_cache(maxsize=4)
def _load_reference(folder: Path) -> Reference:
    sites = _read(folder / "lan_sites.csv")
    measures = _read(folder / "measures.csv")
    ethnic = sorted(_read(folder / "ethnic_category.csv"), key=lambda r: int(r["sort_order"]))
    return Reference(
        site_codes=frozenset(r["site_code"].upper() for r in sites),
        measure_codes=frozenset(r["measure_code"].upper() for r in measures),
        ethnic_codes=tuple(r["ethnic_code"] for r in ethnic),
        ethnic_labels={r["ethnic_code"]: r["ethnic_label"] for r in ethnic},
        ethnic_groups={r["ethnic_code"]: r["ethnic_group"] for r in ethnic},
        known_ethnic_codes=frozenset(r["ethnic_code"] for r in ethnic if r["is_known"] == "true"),
    )
