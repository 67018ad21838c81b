"""Deterministic sample monthly returns for the LAN sites, and synthetic sites for benchmarks.

``write_returns(dest)`` writes one file per site-month, ``<SITE>_<YYYY-MM>.csv`` or ``.xlsx``, for
the ten sites of ``lan_sites.csv`` from January 2023 to December 2024 (240 files). Each file holds
every measure of ``measures.csv`` for every code of ``ethnic_category.csv`` (7 x 18 = 126 rows, Z
and 99 included). Everything is drawn with ``numpy.random.default_rng`` seeded by
``[seed, crc32(site_code), year, month]`` (site-level effects by ``[seed, crc32(site_code), 0]``),
so a site-month's numbers depend only on the seed, the site's profile and the month: they do not
change with the order of the profiles or the span of months asked for.

Counts
    Maternities for a site-month are Poisson with mean births_per_year / 365.25 x days in the
    month x a seasonal factor (1 + 0.035 cos(2 pi (month - 8) / 12): most births in August, fewest
    in February), split over the ethnic categories by a multinomial draw from the site's mix.
    Bookings are drawn the same way with mean x 1.05. Live singleton births are Binomial(maternities,
    ~0.97; a little lower for Black women); women with a NICE NG3 risk factor reaching 28+6 weeks
    are Binomial(bookings, ~0.32 for White women, ~0.6-0.7 for South Asian and Black women), which
    makes 35-50 % of bookings overall. Denominators: PPH1500, MHREFER, GDMDIAG = maternities;
    PTB37, PTB34 = live singleton births; MHBOOK = bookings; GDMOGTT = NG3 risk-factor women.
    Numerators are Binomial(denominator, p), so 0 <= numerator <= denominator, whole numbers;
    PTB34 is Binomial(PTB37, ~0.31) so PTB34 <= PTB37 in every cell.

Rates (White British; each site also has its own random level, log-normal sd 0.12 for the rare
events, logit-normal sd 0.25 for the process measures)
    PPH >= 1500 ml 29 per 1000 maternities (Black RR ~1.5, Chinese 1.3, South Asian 1.15);
    preterm < 37 weeks 57 per 1000 live singletons (Black RR 1.35-1.5), < 34 weeks ~31 % of those;
    mental health enquiry at booking 92 % (odds ratio 0.6-0.75 for Black and Asian women);
    specialist perinatal MH referral 7 % (RR 0.5-0.65 for Black and Asian women);
    OGTT by 28+6 weeks 84 % (odds ratio 0.55-0.7 for Black and Asian women);
    GDM diagnosis 4.5 % (RR 2.3-2.9 South Asian, 2.0 Chinese/other, 1.5-1.7 Black).
    Pooled over the ten sites (seeds 1-5 and the default) that gives PPH 29-35, PTB37 59-70,
    PTB34 19-22 per 1000; MHBOOK 90-92 %; MHREFER 5.4-6 %; GDMOGTT 80-82 %; GDMDIAG 6-7 %; Black v
    White PPH rate ratio 1.3-1.5 and South Asian v White GDM ratio ~2.5 (single sites vary more).

Ethnic mix
    London sites (BARTS, ELFT, IMPKHP, NCL) are ~35-45 % White, 15-25 % Black, 15-30 % Asian
    (Bangladeshi high in ELFT and BARTS); BSOL (Pakistani) and UHL (Indian) high South Asian; NCA,
    LTH and MFT mostly White with Pakistani communities; BNSSG mostly White. Z + 99 are 2-4 % of
    each site's mix; outside the one low-completeness site-month the unknown share of every
    site-month-measure denominator is capped at 8 % (the excess is moved to the largest known
    category), so every other site-month-measure is >= 92 % complete.

Low completeness
    Exactly one site-month, ``LOW_COMPLETENESS_SITE_MONTH`` = UHL 2024-06, has ~25 % of women of
    unknown ethnicity (Z 5 %, 99 20 %), i.e. ~75 % completeness for every measure, well below the
    90 % threshold. It applies only when that site and month are generated.

Programme effect (modest, optional to notice)
    In ``PROGRAMME_SITES`` (BARTS, BSOL, MFT), from ``PROGRAMME_START`` (January 2024) the ethnic
    effects (log RR / log OR against White British) on PPH1500, MHBOOK, MHREFER and GDMOGTT shrink
    by 25 %, phased in linearly over the first six months (1/6 in January 2024 ... full from June
    2024). Preterm birth and GDM diagnosis are not changed.

File variants (``variants=True``; ``variants=False`` writes every file in the canonical style)
    A site-month's style is ``STYLE_CYCLE[(crc32(site_code) + 12 * year + month - 1) % 20]``
    (see ``style_for``). Twelve of the twenty slots are the canonical CSV, so ~60 % of files are
    canonical CSV, ~20 % other CSV and ~20 % xlsx; any 20 consecutive months of a site use every
    style once. The styles (all accepted by the data contract) are:

    ==================  ====  ==========================================================================
    canonical           csv   site_code,period,measure_code,ethnic_category,numerator,denominator;
                              codes; period 2024-03; LF line ends; no BOM
    csv_bom_labels      csv   UTF-8 BOM + CRLF; Site,Reporting Period,Indicator,Ethnic Group,Events,
                              Population; labels as in ethnic_category.csv (Z "Not stated", 99 "Not
                              known"); period 01/03/2024; numbers >= 1000 written "1,234" (quoted)
    csv_org_blank       csv   org_code,Month,Measure,Ethnicity,Num,Denom; labels in UPPER CASE with
                              the " - " squeezed to "-"; 99 left blank; period Mar-2024; measure codes
                              in lower case; extra column ``notes``
    csv_provider_notes  csv   Provider Code,Period Start,Measure,Ethnic Code,Count,Total; codes;
                              period 2024-03-01; extra column ``notes``
    csv_hyphen_lower    csv   UTF-8 BOM; Site-Code,Reporting-Period,Indicator,Ethnic-Category,Events,
                              Population; labels in lower case with doubled spaces; 99 "unknown";
                              period March 2024; numbers >= 1000 written "1,234" (quoted)
    xlsx_data_sheet     xlsx  cover sheet "About" first, data on sheet ``data``; canonical headers;
                              codes; period as Excel date cells (mmm-yy)
    xlsx_titled         xlsx  data on the first sheet "Return" (a "Notes" sheet follows) under 2
                              title rows; Site,Reporting Period,Indicator,Ethnic Group,Events,
                              Population; labels; 99 left blank; period text Mar-2024
    xlsx_data_titled    xlsx  cover sheet "Instructions" first, data on sheet ``data`` under 1 title
                              row; SITE_CODE,PERIOD,... (upper case); labels padded with spaces;
                              99 "Not known"; period as Excel date cells (dd/mm/yyyy); numbers
                              formatted #,##0
    xlsx_plain          xlsx  single sheet "Sheet1"; org_code,Month,Measure,Ethnicity,Num,Denom;
                              codes; period text 2024-03
    ==================  ====  ==========================================================================

    ``notes`` holds "small number, check before publishing" where 0 < denominator < 5, else empty:
    no dates, postcodes or NHS numbers anywhere. With sites of 3,000-9,000 births a year no cell
    reaches 1,000, so the ``1,234`` spelling only shows up for big synthetic sites.
    xlsx files are byte-for-byte deterministic too (fixed zip and document timestamps).

Arrival times (``set_mtime=True``)
    Each file's mtime is ``arrival_time(site, month)``: the 10th of the following month, moved by
    -2..+3 days, at 08:00-17:59 UTC (all from crc32 of the file's site and month), clamped to now.
    Arrival order therefore follows month order.

Command line::

    python -m ingest.sample_data DEST [--sites N] [--start 2023-01] [--end 2024-12] [--seed S]
                                      [--plain] [--no-mtime]

``--sites N`` writes ``synthetic_profiles(N)`` (codes S001..) instead of the ten LAN sites; those
codes are not in ``lan_sites.csv`` (``write_reference`` writes a reference folder that has them).
"""

from __future__ import annotations

import argparse
import calendar
import csv
import io
import math
import os
import shutil
import sys
import time
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from ingest.reference import NOT_STATED_CODE, UNKNOWN_CODE, Reference, load_reference
from ingest.settings import REFERENCE_DIR

__all__ = [
    "SiteProfile",
    "FileStyle",
    "LOW_COMPLETENESS_SITE_MONTH",
    "PROGRAMME_SITES",
    "PROGRAMME_START",
    "STYLES",
    "STYLE_CYCLE",
    "default_profiles",
    "synthetic_profiles",
    "generate_rows",
    "write_returns",
    "style_for",
    "arrival_time",
    "month_range",
    "write_reference",
    "main",
]

LOW_COMPLETENESS_SITE_MONTH: tuple[str, date] = ("UHL", date(2024, 6, 1))
LOW_COMPLETENESS_UNKNOWN = {NOT_STATED_CODE: 0.05, UNKNOWN_CODE: 0.20}  # ~25 % unknown
MAX_UNKNOWN_SHARE = 0.08  # cap on Z + 99 in every other site-month-measure denominator

PROGRAMME_SITES: frozenset[str] = frozenset({"BARTS", "BSOL", "MFT"})
PROGRAMME_START = date(2024, 1, 1)
PROGRAMME_NARROWING = 0.25  # share of the ethnic effect removed once fully phased in
PROGRAMME_RAMP_MONTHS = 6
PROGRAMME_MEASURES = ("PPH1500", "MHBOOK", "MHREFER", "GDMOGTT")

MEASURES = ("PPH1500", "PTB37", "PTB34", "MHBOOK", "MHREFER", "GDMOGTT", "GDMDIAG")  # measures.csv order
CANONICAL_HEADERS = ("site_code", "period", "measure_code", "ethnic_category", "numerator", "denominator")
DEFAULT_START = date(2023, 1, 1)
DEFAULT_END = date(2024, 12, 1)
DEFAULT_SEED = 20240101

# --------------------------------------------------------------------------------------------
# Site profiles
# --------------------------------------------------------------------------------------------

_KNOWN = ("A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "R", "S")
_Z_SHARE_OF_UNKNOWN = 0.35  # Z : 99 split of a site's unknown share


@dataclass(frozen=True)
class SiteProfile:
    """A site's size and the ethnic mix of the women it cares for (code -> share, summing to 1)."""

    site_code: str
    births_per_year: int
    ethnic_mix: dict[str, float] = field(hash=False)

    def __post_init__(self) -> None:
        if self.births_per_year <= 0:
            raise ValueError(f"{self.site_code}: births_per_year must be positive")
        if any(v < 0 for v in self.ethnic_mix.values()):
            raise ValueError(f"{self.site_code}: ethnic shares must be >= 0")
        total = sum(self.ethnic_mix.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"{self.site_code}: ethnic shares sum to {total}, not 1")


def _mix(percent_known: Sequence[float], unknown_pct: float) -> dict[str, float]:
    """Percentages for the 16 known codes (any scale) and the Z+99 percentage -> shares summing to 1."""
    weights = np.asarray(percent_known, dtype=float)
    known = weights / weights.sum() * (1 - unknown_pct / 100)
    shares = dict(zip(_KNOWN, known.tolist()))
    shares[NOT_STATED_CODE] = unknown_pct / 100 * _Z_SHARE_OF_UNKNOWN
    shares[UNKNOWN_CODE] = unknown_pct / 100 * (1 - _Z_SHARE_OF_UNKNOWN)
    total = sum(shares.values())
    return {k: v / total for k, v in shares.items()}


#               births  A    B    C    D    E    F    G    H    J    K    L    M    N    P    R    S   Z+99 %
_LAN_SITES: dict[str, tuple[int, tuple[float, ...], float]] = {
    "BARTS": (8900, (22, 1.0, 13, 1.0, 1.0, 1.0, 1.5, 6, 6, 10, 4, 3, 12, 3, 1.0, 6.0), 3.5),
    "BSOL": (8200, (38, 1.0, 4, 3.0, 1.0, 1.0, 1.5, 6, 20, 5, 4, 3, 6, 1.5, 0.5, 4.5), 3.0),
    "BNSSG": (7400, (80, 0.5, 6, 1.5, 0.5, 1.0, 1.5, 1, 1, 0.8, 1, 0.5, 2.5, 0.5, 0.7, 1.0), 2.0),
    "ELFT": (3600, (20, 1.0, 14, 1.0, 1.0, 1.0, 1.5, 6, 6, 16, 4, 3, 13, 3, 1.0, 6.5), 4.0),
    "IMPKHP": (8600, (28, 1.5, 14, 2.0, 1.5, 1.5, 2.0, 4, 2, 1, 6, 5, 14, 4, 2.0, 9.0), 3.5),
    "LTH": (5200, (76, 0.5, 4, 0.5, 0.3, 0.7, 0.7, 6, 6, 0.3, 1, 0.3, 1.0, 0.3, 0.4, 1.0), 2.0),
    "NCL": (8800, (22, 2.0, 17, 1.5, 1.0, 1.5, 2.0, 4, 1.5, 2, 5, 4, 11, 3, 2.0, 8.0), 3.0),
    "NCA": (6400, (66, 0.5, 5, 1.0, 0.5, 1.0, 1.0, 1.5, 12, 5, 1, 0.5, 2.5, 0.5, 0.3, 1.7), 2.5),
    "MFT": (8900, (50, 1.0, 6, 2.0, 1.0, 1.5, 1.5, 2, 14, 3, 3, 1.5, 7, 1.5, 1.5, 4.0), 3.0),
    "UHL": (8400, (50, 0.5, 5, 1.5, 0.5, 1.0, 1.0, 17, 4, 1, 5, 1.0, 5, 1.0, 0.5, 2.5), 2.5),
}

# Archetypes for synthetic sites: (weight, known-code percentages) roughly like the LAN sites above.
_ARCHETYPES: tuple[tuple[float, tuple[float, ...]], ...] = (
    (0.15, _LAN_SITES["NCL"][1]),  # London, diverse
    (0.10, _LAN_SITES["BSOL"][1]),  # high South Asian
    (0.25, _LAN_SITES["NCA"][1]),  # mostly White with Pakistani communities
    (0.50, _LAN_SITES["BNSSG"][1]),  # mostly White
)


def default_profiles(ref: Reference | None = None) -> list[SiteProfile]:
    """The sites of ``lan_sites.csv`` (in its order), with realistic sizes and ethnic mixes.

    A site in the reference that this module has no hand-made profile for gets a deterministic
    synthetic one, so the list always covers every site of the reference.
    """
    ref = ref or load_reference()
    codes = [c for c in _LAN_SITES if c in ref.site_codes]
    codes += sorted(ref.site_codes - set(_LAN_SITES))
    profiles = []
    for code in codes:
        if code in _LAN_SITES:
            births, pct, unknown = _LAN_SITES[code]
            profiles.append(SiteProfile(code, births, _mix(pct, unknown)))
        else:
            profiles.append(_synthetic_profile(code, np.random.default_rng([0, _key(code)])))
    return profiles


def _synthetic_profile(code: str, rng: np.random.Generator) -> SiteProfile:
    weights = np.array([w for w, _ in _ARCHETYPES])
    template = np.asarray(_ARCHETYPES[int(rng.choice(len(_ARCHETYPES), p=weights))][1], dtype=float)
    known = rng.dirichlet(template / template.sum() * 300 + 0.05)
    births = int(np.clip(round(rng.lognormal(math.log(4300), 0.45), -1), 1500, 15000))
    unknown_pct = float(rng.uniform(1.5, 4.5))
    return SiteProfile(code, births, _mix(known, unknown_pct))


def synthetic_profiles(n: int, seed: int = 7) -> list[SiteProfile]:
    """``n`` made-up sites S001..Snnn (England-like sizes 1,500-15,000 births, four kinds of mix)."""
    if n < 1:
        raise ValueError("n must be >= 1")
    rng = np.random.default_rng(seed)
    width = max(3, len(str(n)))
    return [_synthetic_profile(f"S{i:0{width}d}", rng) for i in range(1, n + 1)]


def write_reference(folder: Path, profiles: Iterable[SiteProfile]) -> Path:
    """A reference folder (``load_reference(folder)`` reads it) whose sites are ``profiles``.

    ``ethnic_category.csv`` and ``measures.csv`` are copied from dbt_project/reference; this lets a
    benchmark load returns of synthetic sites.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("ethnic_category.csv", "measures.csv"):
        shutil.copyfile(REFERENCE_DIR / name, folder / name)
    with (folder / "lan_sites.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["site_code", "team_name", "ics_name", "nhs_region"])
        for p in profiles:
            writer.writerow([p.site_code, f"Synthetic site {p.site_code}", "Synthetic ICS", "Synthetic"])
    return folder


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------

# White British rates; PTB34 is a share of PTB37 (per code below).
_BASE = {"PPH1500": 0.029, "PTB37": 0.057, "MHBOOK": 0.92, "MHREFER": 0.070, "GDMOGTT": 0.84, "GDMDIAG": 0.045}
_RARE = ("PPH1500", "PTB37", "MHREFER", "GDMDIAG")  # relative risks, log-normal site level
_COMMON = ("MHBOOK", "GDMOGTT")  # odds ratios, logit-normal site level

# code: (PPH RR, PTB37 RR, PTB34 share of PTB37, live singleton share, MHBOOK OR, MHREFER RR,
#        NG3 risk-factor share of bookings, GDMOGTT OR, GDMDIAG RR)
_EFFECTS: dict[str, tuple[float, ...]] = {
    "A": (1.00, 1.00, 0.31, 0.970, 1.00, 1.00, 0.32, 1.00, 1.0),
    "B": (1.00, 1.00, 0.31, 0.970, 1.00, 0.95, 0.32, 1.00, 1.0),
    "C": (1.00, 1.02, 0.31, 0.970, 0.85, 0.75, 0.34, 0.90, 1.1),
    "D": (1.20, 1.20, 0.33, 0.967, 0.85, 0.95, 0.45, 0.85, 1.4),
    "E": (1.20, 1.15, 0.33, 0.967, 0.85, 0.90, 0.45, 0.85, 1.4),
    "F": (1.10, 1.05, 0.31, 0.970, 0.90, 0.90, 0.45, 0.90, 1.6),
    "G": (1.10, 1.10, 0.32, 0.969, 0.85, 0.90, 0.42, 0.85, 1.4),
    "H": (1.15, 1.10, 0.31, 0.970, 0.75, 0.55, 0.68, 0.70, 2.6),
    "J": (1.15, 1.15, 0.32, 0.969, 0.70, 0.50, 0.70, 0.65, 2.5),
    "K": (1.15, 1.15, 0.32, 0.969, 0.65, 0.50, 0.70, 0.60, 2.9),
    "L": (1.10, 1.10, 0.31, 0.970, 0.75, 0.55, 0.66, 0.70, 2.3),
    "M": (1.50, 1.50, 0.36, 0.962, 0.70, 0.65, 0.60, 0.55, 1.5),
    "N": (1.45, 1.35, 0.36, 0.963, 0.60, 0.55, 0.62, 0.55, 1.7),
    "P": (1.45, 1.45, 0.36, 0.962, 0.65, 0.60, 0.60, 0.55, 1.6),
    "R": (1.30, 0.95, 0.30, 0.970, 0.80, 0.45, 0.55, 0.80, 2.0),
    "S": (1.20, 1.10, 0.32, 0.969, 0.70, 0.55, 0.55, 0.70, 2.0),
    "Z": (1.05, 1.05, 0.32, 0.969, 0.60, 0.80, 0.40, 0.80, 1.4),
    "99": (1.10, 1.10, 0.32, 0.968, 0.50, 0.70, 0.40, 0.70, 1.4),
}
_EFFECT_COLUMNS = (
    "PPH1500",
    "PTB37",
    "PTB34_SHARE",
    "LIVE_SINGLETON",
    "MHBOOK",
    "MHREFER",
    "NG3_RISK",
    "GDMOGTT",
    "GDMDIAG",
)


def _key(site_code: str) -> int:
    return zlib.crc32(site_code.encode("utf-8"))


def _logit(p):
    return np.log(p / (1 - p))


def _expit(x):
    return 1 / (1 + np.exp(-x))


def _month_index(month: date) -> int:
    return month.year * 12 + month.month - 1


def _programme_weight(site_code: str, month: date) -> float:
    if site_code not in PROGRAMME_SITES or month < PROGRAMME_START:
        return 0.0
    done = _month_index(month) - _month_index(PROGRAMME_START) + 1
    return PROGRAMME_NARROWING * min(1.0, done / PROGRAMME_RAMP_MONTHS)


@dataclass
class _Cube:
    """Generated counts: num/den have shape (sites, months, measures, ethnic codes)."""

    sites: list[str]
    months: list[date]
    measures: tuple[str, ...]
    ethnic_codes: tuple[str, ...]
    num: np.ndarray
    den: np.ndarray


def _check_reference(ref: Reference) -> tuple[str, ...]:
    if set(MEASURES) != set(ref.measure_codes):
        raise ValueError(f"sample_data models {sorted(MEASURES)}, measures.csv has {sorted(ref.measure_codes)}")
    missing = set(ref.ethnic_codes) - set(_EFFECTS)
    if missing:
        raise ValueError(f"sample_data has no rates for ethnic codes {sorted(missing)}")
    return tuple(ref.ethnic_codes)


def _cap_unknown(counts: np.ndarray, unknown_idx: tuple[int, int], known_mask: np.ndarray) -> None:
    """Keep Z + 99 within MAX_UNKNOWN_SHARE of the total, moving the excess to the largest known cell."""
    limit = int(MAX_UNKNOWN_SHARE * counts.sum())
    z, nk = unknown_idx
    excess = counts[z] + counts[nk] - limit
    if excess <= 0:
        return
    target = int(np.argmax(np.where(known_mask, counts, -1)))
    from_nk = min(excess, counts[nk])
    counts[nk] -= from_nk
    counts[z] -= excess - from_nk
    counts[target] += excess


def _generate(profiles: Sequence[SiteProfile], months: Sequence[date], seed: int) -> _Cube:
    ref = load_reference()
    codes = _check_reference(ref)
    months = [date(m.year, m.month, 1) for m in months]
    n_e = len(codes)
    effects = {name: np.array([_EFFECTS[c][i] for c in codes]) for i, name in enumerate(_EFFECT_COLUMNS)}
    known_mask = np.array([c in ref.known_ethnic_codes for c in codes])
    unknown_idx = (codes.index(NOT_STATED_CODE), codes.index(UNKNOWN_CODE))
    m_idx = {m: i for i, m in enumerate(MEASURES)}
    drawn = ("PPH1500", "PTB37", "MHBOOK", "MHREFER", "GDMOGTT", "GDMDIAG")  # PTB34 drawn from PTB37
    log_effect = np.stack([np.log(effects[m]) for m in drawn])  # (6, E)
    narrowable = np.array([m in PROGRAMME_MEASURES for m in drawn])[:, None]
    rare_rows = np.array([m in _RARE for m in drawn])[:, None]

    num = np.zeros((len(profiles), len(months), len(MEASURES), n_e), dtype=np.int64)
    den = np.zeros_like(num)
    low_site, low_month = LOW_COMPLETENESS_SITE_MONTH
    for s, profile in enumerate(profiles):
        site_key = _key(profile.site_code)
        site_rng = np.random.default_rng([seed, site_key, 0])
        site_rare = site_rng.normal(0.0, 0.12, size=len(_RARE))
        site_common = site_rng.normal(0.0, 0.25, size=len(_COMMON))
        base_level = np.array(
            [
                math.log(_BASE[m]) + site_rare[_RARE.index(m)]
                if m in _RARE
                else _logit(_BASE[m]) + site_common[_COMMON.index(m)]
                for m in drawn
            ]
        )[:, None]  # (6, 1)
        mix = np.array([profile.ethnic_mix.get(c, 0.0) for c in codes], dtype=float)
        mix /= mix.sum()
        low_mix = mix * known_mask
        low_mix = low_mix / low_mix.sum() * (1 - sum(LOW_COMPLETENESS_UNKNOWN.values()))
        for code, share in LOW_COMPLETENESS_UNKNOWN.items():
            low_mix[codes.index(code)] = share
        daily = profile.births_per_year / 365.25

        for t, month in enumerate(months):
            rng = np.random.default_rng([seed, site_key, month.year, month.month])
            low = profile.site_code == low_site and month == low_month
            days = calendar.monthrange(month.year, month.month)[1]
            expected = daily * days * (1 + 0.035 * math.cos(2 * math.pi * (month.month - 8) / 12))
            total_mat, total_book = rng.poisson([expected, expected * 1.05])
            use_mix = low_mix if low else mix
            mat = rng.multinomial(total_mat, use_mix)
            book = rng.multinomial(total_book, use_mix)
            if not low:
                _cap_unknown(mat, unknown_idx, known_mask)
                _cap_unknown(book, unknown_idx, known_mask)
            live, risk = rng.binomial(np.stack([mat, book]), np.stack([effects["LIVE_SINGLETON"], effects["NG3_RISK"]]))
            if not low:
                _cap_unknown(live, unknown_idx, known_mask)
                _cap_unknown(risk, unknown_idx, known_mask)

            scale = 1.0 - _programme_weight(profile.site_code, month) * narrowable  # (6, 1)
            level = base_level + log_effect * scale
            p = np.where(rare_rows, np.exp(level), _expit(level))
            p = np.clip(p, 0.0, 0.995)
            d6 = np.stack([mat, live, book, mat, risk, mat])
            n6 = rng.binomial(d6, p)
            ptb34 = rng.binomial(n6[1], effects["PTB34_SHARE"])
            for row, m in enumerate(drawn):
                den[s, t, m_idx[m]] = d6[row]
                num[s, t, m_idx[m]] = n6[row]
            den[s, t, m_idx["PTB34"]] = live
            num[s, t, m_idx["PTB34"]] = ptb34
    return _Cube([p.site_code for p in profiles], months, MEASURES, codes, num, den)


def generate_rows(profiles: Sequence[SiteProfile], months: Sequence[date], seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Long format with canonical codes: one row per site, month, measure and ethnic code.

    Columns ``site_code``, ``period`` (first day of the month, datetime64[s]), ``measure_code``,
    ``ethnic_category`` (the code), ``numerator``, ``denominator`` (int64); ordered by the profiles'
    order, month, measures.csv order and the ethnic sort order.
    """
    cube = _generate(profiles, months, seed)
    n_s, n_m, n_k, n_e = cube.num.shape
    per_site = n_m * n_k * n_e
    periods = np.array([np.datetime64(m, "s") for m in cube.months], dtype="datetime64[s]")
    return pd.DataFrame(
        {
            "site_code": pd.array(np.repeat(np.array(cube.sites, dtype=object), per_site), dtype="string"),
            "period": np.tile(np.repeat(periods, n_k * n_e), n_s),
            "measure_code": pd.array(
                np.tile(np.repeat(np.array(cube.measures, dtype=object), n_e), n_s * n_m), dtype="string"
            ),
            "ethnic_category": pd.array(
                np.tile(np.array(cube.ethnic_codes, dtype=object), n_s * n_m * n_k), dtype="string"
            ),
            "numerator": cube.num.reshape(-1),
            "denominator": cube.den.reshape(-1),
        }
    )


# --------------------------------------------------------------------------------------------
# File styles
# --------------------------------------------------------------------------------------------

_MONTH_ABBR = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NAME = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True)
class FileStyle:
    """How one file is spelled. Every combination used here is accepted by the data contract."""

    name: str
    fmt: str = "csv"  # csv | xlsx
    headers: tuple[str, ...] = CANONICAL_HEADERS
    period: str = "iso_month"  # iso_month | iso_date | dmy | mon_yyyy | month_yyyy | excel_date
    excel_date_format: str = "mmm-yy"
    ethnic: str = "code"  # code | label | upper_squeezed | lower_spaced | padded
    unknown: str = "code"  # how 99 is written: code | label | blank | unknown
    measure_lower: bool = False
    thousands: bool = False  # numbers >= 1000 as "1,234"
    bom: bool = False
    crlf: bool = False
    extra_column: str | None = None
    sheet: str = "first"  # xlsx: "data" (after a cover sheet) | "first"
    cover_sheet: str | None = None
    trailing_sheet: str | None = None
    data_sheet_name: str = "Sheet1"
    title_rows: int = 0
    number_format: str | None = None


_H_REPORTING = ("Site", "Reporting Period", "Indicator", "Ethnic Group", "Events", "Population")
_H_ORG = ("org_code", "Month", "Measure", "Ethnicity", "Num", "Denom")

STYLES: dict[str, FileStyle] = {
    s.name: s
    for s in (
        FileStyle("canonical"),
        FileStyle(
            "csv_bom_labels",
            headers=_H_REPORTING,
            period="dmy",
            ethnic="label",
            unknown="label",
            thousands=True,
            bom=True,
            crlf=True,
        ),
        FileStyle(
            "csv_org_blank",
            headers=_H_ORG,
            period="mon_yyyy",
            ethnic="upper_squeezed",
            unknown="blank",
            measure_lower=True,
            extra_column="notes",
        ),
        FileStyle(
            "csv_provider_notes",
            headers=("Provider Code", "Period Start", "Measure", "Ethnic Code", "Count", "Total"),
            period="iso_date",
            extra_column="notes",
        ),
        FileStyle(
            "csv_hyphen_lower",
            headers=("Site-Code", "Reporting-Period", "Indicator", "Ethnic-Category", "Events", "Population"),
            period="month_yyyy",
            ethnic="lower_spaced",
            unknown="unknown",
            thousands=True,
            bom=True,
        ),
        FileStyle(
            "xlsx_data_sheet",
            fmt="xlsx",
            period="excel_date",
            excel_date_format="mmm-yy",
            sheet="data",
            cover_sheet="About",
            data_sheet_name="data",
        ),
        FileStyle(
            "xlsx_titled",
            fmt="xlsx",
            headers=_H_REPORTING,
            period="mon_yyyy",
            ethnic="label",
            unknown="blank",
            title_rows=2,
            data_sheet_name="Return",
            trailing_sheet="Notes",
        ),
        FileStyle(
            "xlsx_data_titled",
            fmt="xlsx",
            headers=tuple(h.upper() for h in CANONICAL_HEADERS),
            period="excel_date",
            excel_date_format="dd/mm/yyyy",
            ethnic="padded",
            unknown="label",
            sheet="data",
            cover_sheet="Instructions",
            data_sheet_name="data",
            title_rows=1,
            number_format="#,##0",
        ),
        FileStyle("xlsx_plain", fmt="xlsx", headers=_H_ORG, period="iso_month", data_sheet_name="Sheet1"),
    )
}

_C = "canonical"
STYLE_CYCLE: tuple[str, ...] = (
    _C,
    "csv_bom_labels",
    _C,
    "xlsx_data_sheet",
    _C,
    "csv_org_blank",
    _C,
    "xlsx_titled",
    _C,
    "csv_provider_notes",
    _C,
    "xlsx_data_titled",
    _C,
    "csv_hyphen_lower",
    _C,
    "xlsx_plain",
    _C,
    _C,
    _C,
    _C,
)


def style_for(site_code: str, month: date, variants: bool = True) -> FileStyle:
    """The style of a site-month's file: STYLE_CYCLE[(crc32(site) + 12*year + month - 1) % 20]."""
    if not variants:
        return STYLES[_C]
    return STYLES[STYLE_CYCLE[(_key(site_code) + _month_index(month)) % len(STYLE_CYCLE)]]


def _period_text(month: date, how: str) -> str:
    if how == "iso_month":
        return f"{month.year:04d}-{month.month:02d}"
    if how == "iso_date":
        return f"{month.year:04d}-{month.month:02d}-01"
    if how == "dmy":
        return f"01/{month.month:02d}/{month.year:04d}"
    if how == "mon_yyyy":
        return f"{_MONTH_ABBR[month.month]}-{month.year}"
    if how == "month_yyyy":
        return f"{_MONTH_NAME[month.month]} {month.year}"
    raise ValueError(how)


def _ethnic_texts(style: FileStyle, ref: Reference, codes: Sequence[str]) -> list[str | None]:
    """How each ethnic code is written in a file of this style (None = empty cell)."""
    out: list[str | None] = []
    for code in codes:
        if code == UNKNOWN_CODE and style.unknown == "blank":
            out.append(None)
            continue
        if style.ethnic == "code":
            if code == UNKNOWN_CODE and style.unknown != "code":
                out.append(ref.ethnic_labels[code] if style.unknown == "label" else "Unknown")
            else:
                out.append(code)
            continue
        label = ref.ethnic_labels[code]
        if code == UNKNOWN_CODE and style.unknown == "unknown":
            label = "Unknown"
        if style.ethnic == "upper_squeezed":
            label = label.upper().replace(" - ", "-")
        elif style.ethnic == "lower_spaced":
            label = label.lower().replace(" ", "  ")
        elif style.ethnic == "padded":
            label = f" {label} "
        out.append(label)
    return out


def _number_text(value: int, thousands: bool) -> str:
    return f"{value:,}" if thousands else str(value)


_NOTE = "small number, check before publishing"


def _note(denominator: int) -> str:
    return _NOTE if 0 < denominator < 5 else ""


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def arrival_time(site_code: str, month: date) -> datetime:
    """When a site-month's file plausibly arrives (UTC): around the 10th of the next month."""
    h = zlib.crc32(f"{site_code}|{month:%Y-%m}".encode())
    first_next = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    day = first_next + timedelta(days=9 + (h % 6) - 2)
    return datetime(day.year, day.month, day.day, 8 + (h >> 3) % 10, (h >> 8) % 60, (h >> 14) % 60, tzinfo=UTC)


def month_range(start: date, end: date) -> list[date]:
    """First days of the months from start to end, both included."""
    first, last = _month_index(start), _month_index(end)
    if last < first:
        raise ValueError(f"end {end} is before start {start}")
    return [date(i // 12, i % 12 + 1, 1) for i in range(first, last + 1)]


def _canonical_text(site: str, month: date, prefixes: list[str], num: list[int], den: list[int]) -> str:
    lead = f"{site},{month.year:04d}-{month.month:02d},"
    body = "\n".join([f"{lead}{pre}{n},{d}" for pre, n, d in zip(prefixes, num, den)])
    return ",".join(CANONICAL_HEADERS) + "\n" + body + "\n"


def _variant_rows(
    style: FileStyle,
    site: str,
    month: date,
    measures: Sequence[str],
    ethnic: list[str | None],
    num: list[int],
    den: list[int],
    for_excel: bool,
) -> list[list]:
    if style.period == "excel_date":
        period: object = datetime(month.year, month.month, 1)
    else:
        period = _period_text(month, style.period)
    rows = []
    n_e = len(ethnic)
    for i, (n, d) in enumerate(zip(num, den)):
        measure = measures[i // n_e]
        row = [site, period, measure.lower() if style.measure_lower else measure, ethnic[i % n_e]]
        if for_excel:
            row += [n, d]
        else:
            row += [_number_text(n, style.thousands), _number_text(d, style.thousands)]
            if row[3] is None:
                row[3] = ""
        if style.extra_column:
            row.append(_note(d))
        rows.append(row)
    return rows


def _write_csv_variant(path: Path, style: FileStyle, rows: list[list]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n" if style.crlf else "\n")
    header = list(style.headers) + ([style.extra_column] if style.extra_column else [])
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8-sig" if style.bom else "utf-8"))


class _FixedTimeZip(zipfile.ZipFile):
    """A ZipFile whose entries all carry one timestamp, so that a workbook's bytes are reproducible."""

    fixed_time: tuple[int, int, int, int, int, int] = (2024, 1, 1, 0, 0, 0)

    def writestr(self, zinfo_or_arcname, data, compress_type=None, compresslevel=None):
        if not isinstance(zinfo_or_arcname, zipfile.ZipInfo):
            info = zipfile.ZipInfo(zinfo_or_arcname, date_time=self.fixed_time)
            info.compress_type = self.compression
            info.external_attr = 0o600 << 16
            zinfo_or_arcname = info
        super().writestr(zinfo_or_arcname, data, compress_type, compresslevel)

    def write(self, filename, arcname=None, compress_type=None, compresslevel=None):
        self.writestr(arcname or os.path.basename(filename), Path(filename).read_bytes())


def _write_xlsx(path: Path, style: FileStyle, site: str, month: date, rows: list[list], when: datetime) -> None:
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook()
    wb.remove(wb.active)
    if style.cover_sheet:
        cover = wb.create_sheet(style.cover_sheet)
        cover.append(["LAN maternity equity return"])
        cover.append(
            [f"The return is on the '{style.data_sheet_name}' sheet: one row per measure and ethnic category."]
        )
    ws = wb.create_sheet(style.data_sheet_name)
    titles = [
        "NHS Race and Health Observatory LAN: monthly maternity return",
        f"Site {site}, {_MONTH_NAME[month.month]} {month.year}",
    ]
    for line in titles[: style.title_rows]:
        ws.append([line])
    ws.append(list(style.headers) + ([style.extra_column] if style.extra_column else []))
    first_data = style.title_rows + 2
    for row in rows:
        ws.append(row)
    last = ws.max_row
    if style.period == "excel_date":
        for (cell,) in ws.iter_rows(min_row=first_data, max_row=last, min_col=2, max_col=2):
            cell.number_format = style.excel_date_format
    if style.number_format:
        for cells in ws.iter_rows(min_row=first_data, max_row=last, min_col=5, max_col=6):
            for cell in cells:
                cell.number_format = style.number_format
    if style.trailing_sheet:
        wb.create_sheet(style.trailing_sheet).append(["Definitions: see the LAN measure set v1."])
    stamp = when.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    wb.properties.creator = f"{site} maternity analyst"
    wb.properties.created = stamp
    wb.properties.modified = stamp
    buf = io.BytesIO()
    archive = _FixedTimeZip(buf, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    archive.fixed_time = stamp.timetuple()[:6]
    ExcelWriter(wb, archive).save()
    path.write_bytes(buf.getvalue())


def write_returns(
    dest: Path,
    profiles: Sequence[SiteProfile] | None = None,
    start: date = DEFAULT_START,
    end: date = DEFAULT_END,
    seed: int = DEFAULT_SEED,
    variants: bool = True,
    set_mtime: bool = True,
) -> list[Path]:
    """Write one file per site-month into ``dest`` (created if missing); returns the paths written.

    Paths are in profile order, then month order. ``variants=False`` writes every file as the
    canonical CSV. ``set_mtime`` sets each file's modification time to ``arrival_time``.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    profiles = list(profiles) if profiles is not None else default_profiles()
    codes = [p.site_code for p in profiles]
    if len(set(codes)) != len(codes):
        raise ValueError("each profile must have its own site_code")
    ref = load_reference()
    months = month_range(start, end)
    cube = _generate(profiles, months, seed)
    prefixes = [f"{m},{e}," for m in cube.measures for e in cube.ethnic_codes]
    n_cells = len(prefixes)
    num_all = cube.num.reshape(len(profiles), len(months), n_cells)
    den_all = cube.den.reshape(len(profiles), len(months), n_cells)
    ethnic_cache: dict[str, list[str | None]] = {}
    now = time.time()
    written: list[Path] = []
    for s, site in enumerate(cube.sites):
        for t, month in enumerate(cube.months):
            style = style_for(site, month, variants)
            path = dest / f"{site}_{month.year:04d}-{month.month:02d}.{style.fmt}"
            num = num_all[s, t].tolist()
            den = den_all[s, t].tolist()
            when = arrival_time(site, month)
            if style.name == _C:
                path.write_bytes(_canonical_text(site, month, prefixes, num, den).encode("utf-8"))
            else:
                if style.name not in ethnic_cache:
                    ethnic_cache[style.name] = _ethnic_texts(style, ref, cube.ethnic_codes)
                rows = _variant_rows(
                    style, site, month, cube.measures, ethnic_cache[style.name], num, den, for_excel=style.fmt == "xlsx"
                )
                if style.fmt == "xlsx":
                    _write_xlsx(path, style, site, month, rows, when)
                else:
                    _write_csv_variant(path, style, rows)
            if set_mtime:
                stamp = min(when.timestamp(), now)
                os.utime(path, (stamp, stamp))
            written.append(path)
    return written


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _parse_month(text: str) -> date:
    try:
        year, month = text.strip()[:7].split("-")
        return date(int(year), int(month), 1)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM, got {text!r}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ingest.sample_data", description="Write deterministic sample LAN monthly returns."
    )
    parser.add_argument("dest", type=Path, help="folder to write the files into (created if missing)")
    parser.add_argument(
        "--sites", type=int, default=None, help="write N synthetic sites S001..SNNN instead of the ten LAN sites"
    )
    parser.add_argument("--start", type=_parse_month, default=DEFAULT_START, help="first month, YYYY-MM (2023-01)")
    parser.add_argument("--end", type=_parse_month, default=DEFAULT_END, help="last month, YYYY-MM (2024-12)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed ({DEFAULT_SEED})")
    parser.add_argument("--plain", action="store_true", help="canonical CSV only (no file variants)")
    parser.add_argument("--no-mtime", action="store_true", help="leave file modification times alone")
    args = parser.parse_args(argv)
    if args.sites is not None and args.sites < 1:
        parser.error("--sites must be >= 1")
    if args.end < args.start:
        parser.error("--end is before --start")
    profiles = synthetic_profiles(args.sites) if args.sites else default_profiles()
    began = time.perf_counter()
    paths = write_returns(
        args.dest, profiles, args.start, args.end, args.seed, variants=not args.plain, set_mtime=not args.no_mtime
    )
    took = time.perf_counter() - began
    n_xlsx = sum(p.suffix == ".xlsx" for p in paths)
    print(
        f"wrote {len(paths)} files ({len(paths) - n_xlsx} csv, {n_xlsx} xlsx) for {len(profiles)} sites x "
        f"{len(paths) // max(1, len(profiles))} months to {args.dest} in {took:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())


# --------------------------------------------------------------------------------------------
# Monthly reports (data contract, "The monthly report"): synthetic PDSA cycles for 2024
# --------------------------------------------------------------------------------------------

REPORT_YEAR = 2024
REPORT_HEADERS = ("site_code", "period", "measure_code", "change_idea", "pdsa_stage", "narrative")
# (measure or None for the site's work as a whole, change idea, what it is) to choose from
_CHANGES: tuple[tuple[str | None, str, str], ...] = (
    ("PPH1500", "Quantitative blood loss measurement at every birth", "weighing swabs and drapes after every birth"),
    ("PPH1500", "Haemorrhage risk assessment on admission in labour", "a risk assessment on the labour ward board"),
    ("PTB37", "Smoking cessation referral at booking", "an opt-out referral to the stop smoking service"),
    ("PTB34", "Continuity of carer for women at risk of preterm birth", "a named midwife team for high-risk women"),
    (
        "MHBOOK",
        "Mental health questions at booking with an interpreter",
        "booking appointments with a live interpreter",
    ),
    ("MHREFER", "Direct referral to the perinatal mental health team", "a direct referral form for midwives"),
    ("GDMOGTT", "OGTT reminders in the woman's own language", "text reminders for OGTT appointments in ten languages"),
    ("GDMDIAG", "Early OGTT for women with a previous GDM", "offering the OGTT at 16 weeks as well as at 28"),
    (None, "Ethnicity recording at booking: staff huddles", "five-minute huddles on recording ethnicity at booking"),
    (None, "Co-production with the Maternity and Neonatal Voices Partnership", "listening events with local women"),
)
_STAGE_TEXT = {
    "plan": "Plan: we will test {what}. We predict more Black and Asian women will benefit within three months; "
    "we will audit {k} records a week.",
    "do": "Do: started on {day} {month_name} on ward {ward}; {staff} staff briefed, tested with {k} women in the "
    "first week.",
    "study": "Study: {pct}% of eligible women received the change in an audit of {k} records; the run chart has not "
    "yet shifted.",
    "act": "Act: staff asked for a shorter form; changes agreed at the {day} {month_name} governance meeting.",
    "adopt": "Adopt: the change is now standard practice across {beds} beds; we will keep auditing monthly.",
    "adapt": "Adapt: {pct}% uptake on day shifts but lower at night, so we are testing a night-shift version.",
    "abandon": "Abandon: uptake stayed at {pct}% and midwives found it added work; we stop and try another idea.",
}


def report_rows(site_code: str, month: date) -> list[list[str]]:
    """The synthetic monthly report of a site for a month of 2024 (empty for other years): three PDSA cycles
    starting in January, May and September, one stage a month (plan, do, study, act, then adopt, adapt or
    abandon), chosen and worded deterministically from the site code."""
    if month.year != REPORT_YEAR:
        return []
    h = zlib.crc32(site_code.encode())
    picks = [_CHANGES[(h + 3 * i) % len(_CHANGES)] for i in range(3)]
    rows = []
    for i, (measure, idea, what) in enumerate(picks):
        step = month.month - (1 + 4 * i)
        if not 0 <= step <= 4:
            continue
        stage = ("plan", "do", "study", "act")[step] if step < 4 else ("adopt", "adapt", "abandon")[(h >> i) % 3]
        r = zlib.crc32(f"{site_code}|{month:%Y-%m}|{i}".encode())
        narrative = _STAGE_TEXT[stage].format(
            what=what,
            k=10 + r % 40,
            day=1 + r % 27,
            month_name=_MONTH_NAME[month.month],
            ward=1 + r % 12,
            staff=5 + r % 30,
            pct=40 + r % 55,
            beds=12 + r % 30,
        )
        rows.append(
            [site_code, f"{month:%Y-%m}", measure or "", idea, stage.capitalize() if r % 2 else stage, narrative]
        )
    return rows


def _add_report_sheet(path: Path, rows: list[list[str]], when: datetime) -> None:
    from openpyxl import load_workbook
    from openpyxl.writer.excel import ExcelWriter

    wb = load_workbook(path)
    ws = wb.create_sheet("report")
    ws.append(list(REPORT_HEADERS))
    for row in rows:
        ws.append(row)
    stamp = when.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    wb.properties.created = stamp
    wb.properties.modified = stamp
    buf = io.BytesIO()
    archive = _FixedTimeZip(buf, "w", zipfile.ZIP_DEFLATED, allowZip64=True)
    archive.fixed_time = stamp.timetuple()[:6]
    ExcelWriter(wb, archive).save()
    path.write_bytes(buf.getvalue())


def write_reports(dest: Path, profiles: Sequence[SiteProfile] | None = None, set_mtime: bool = True) -> list[Path]:
    """Write the sample monthly reports of 2024 into ``dest``, where ``write_returns`` put the returns: as a
    ``report`` sheet in a site-month's workbook where the return is an .xlsx, else as its own
    ``<SITE>_<YYYY-MM>_report.csv``. Returns the paths written or changed. Deterministic."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    profiles = list(profiles) if profiles is not None else default_profiles()
    now = time.time()
    written = []
    for profile in profiles:
        site = profile.site_code
        for month in month_range(date(REPORT_YEAR, 1, 1), date(REPORT_YEAR, 12, 1)):
            rows = report_rows(site, month)
            if not rows:
                continue
            when = arrival_time(site, month)
            workbook = dest / f"{site}_{month:%Y-%m}.xlsx"
            if workbook.exists():
                _add_report_sheet(workbook, rows, when)
                path = workbook
            else:
                when += timedelta(minutes=5)
                path = dest / f"{site}_{month:%Y-%m}_report.csv"
                buf = io.StringIO()
                csv.writer(buf, lineterminator="\n").writerows([list(REPORT_HEADERS), *rows])
                path.write_bytes(buf.getvalue().encode("utf-8"))
            if set_mtime:
                stamp = min(when.timestamp(), now)
                os.utime(path, (stamp, stamp))
            written.append(path)
    return written


def sample_clock(due_day: int, end: date = DEFAULT_END) -> date:
    """The date a sample LAN_HOME's overdue returns are judged on: the due date of its last month, so that
    every sample month is due (and loaded) and no month after the sample is ever overdue."""
    return date(end.year + end.month // 12, end.month % 12 + 1, due_day)


def seed_lan_home(settings) -> tuple[list[Path], list[Path]]:
    """What `make run` puts in a new LAN_HOME (ingest.settings.Settings): the sample returns and reports in
    landing/, and the SAMPLE_DATA marker with the sample's clock (see sample_clock). Returns (returns, reports)."""
    settings.make_folders()
    returns = write_returns(settings.landing)
    reports = write_reports(settings.landing)
    settings.sample_marker.write_text(
        "This LAN_HOME was seeded with synthetic sample returns (ingest/sample_data.py); its releases say so.\n"
        "Overdue returns are judged on the sample's own date (the environment's LAN_RUN_DATE wins):\n"
        f"LAN_RUN_DATE={sample_clock(settings.due_day):%Y-%m-%d}\n"
    )
    return returns, reports
