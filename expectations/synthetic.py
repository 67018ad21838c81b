"""Synthetic parsed rows (ROW_DTYPES) at any scale, for tests and the validation benchmark.

``python -m expectations.synthetic --sites 130 --months 60`` times the structural and quality
validation on about a million rows (130 sites x 60 months x 7 measures x 18 categories).
"""

from __future__ import annotations

import argparse
import time
from datetime import date

import numpy as np
import pandas as pd

from ingest.parsed import ROW_DTYPES
from ingest.reference import Reference, load_reference


def synthetic_rows(
    ref: Reference | None = None,
    *,
    sites: int = 10,
    months: int = 12,
    start: date = date(2020, 1, 1),
    seed: int = 0,
    unknown_share: float = 0.05,
) -> pd.DataFrame:
    """One file per site-month (``<SITE>_<YYYY-MM>.csv``), every measure x ethnic category, valid.

    Site codes beyond the reference's ten are synthetic (``S011``...): pass a Reference that
    contains them (see ``synthetic_reference``) when validating structure.
    """
    ref = ref or load_reference()
    rng = np.random.default_rng(seed)
    site_codes = sorted(ref.site_codes)[:sites]
    site_codes += [f"S{i:03d}" for i in range(len(site_codes) + 1, sites + 1)]
    measures = sorted(ref.measure_codes)
    ethnic = list(ref.ethnic_codes)
    month_starts = pd.date_range(pd.Timestamp(start), periods=months, freq="MS").values.astype("datetime64[s]")

    n_site, n_month, n_meas, n_eth = len(site_codes), len(month_starts), len(measures), len(ethnic)
    n = n_site * n_month * n_meas * n_eth
    idx = np.arange(n)
    eth_i = idx % n_eth
    meas_i = (idx // n_eth) % n_meas
    month_i = (idx // (n_eth * n_meas)) % n_month
    site_i = idx // (n_eth * n_meas * n_month)

    known = np.array([c in ref.known_ethnic_codes for c in ethnic])
    base = rng.integers(20, 400, size=n)
    denominator = np.where(known[eth_i], base, np.maximum(1, (base * unknown_share).astype(np.int64)))
    numerator = rng.binomial(denominator, 0.1)

    site_arr = np.array(site_codes, dtype=object)[site_i]
    month_labels = pd.DatetimeIndex(month_starts).strftime("%Y-%m").to_numpy(dtype=object)
    file_name = pd.Series(site_arr + "_" + month_labels[month_i] + ".csv", dtype="string")
    frame = pd.DataFrame(
        {
            "file_name": file_name,
            "source_row": (idx % (n_meas * n_eth)) + 2,
            "site_code": pd.Series(site_arr, dtype="string"),
            "month_start_date": month_starts[month_i],
            "measure_code": pd.Series(np.array(measures, dtype=object)[meas_i], dtype="string"),
            "ethnic_code": pd.Series(np.array(ethnic, dtype=object)[eth_i], dtype="string"),
            "numerator": pd.array(numerator, dtype="Int64"),
            "denominator": pd.array(denominator, dtype="Int64"),
            "extra_columns": pd.Series(pd.NA, index=idx, dtype="string"),
        }
    )
    return frame.astype(ROW_DTYPES)


def synthetic_reference(sites: int, ref: Reference | None = None) -> Reference:
    """The real reference with synthetic site codes added up to ``sites``."""
    ref = ref or load_reference()
    extra = {f"S{i:03d}" for i in range(len(ref.site_codes) + 1, sites + 1)}
    return Reference(
        site_codes=frozenset(ref.site_codes | extra),
        measure_codes=ref.measure_codes,
        ethnic_codes=ref.ethnic_codes,
        ethnic_labels=ref.ethnic_labels,
        ethnic_groups=ref.ethnic_groups,
        known_ethnic_codes=ref.known_ethnic_codes,
    )


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - a benchmark
    from expectations.validate import check_structure, validate_quality

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, default=130)
    parser.add_argument("--months", type=int, default=60)
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    ref = synthetic_reference(args.sites)
    rows = synthetic_rows(ref, sites=args.sites, months=args.months)
    # a few structural failures and some missing numerators, so that GX has something to report
    rows.loc[5, "site_code"] = "NOPE"
    rows.loc[7, "numerator"] = rows.loc[7, "denominator"] + 1
    rows.loc[::97, "numerator"] = pd.NA
    t1 = time.perf_counter()
    problems = check_structure(rows, ref, date.today())
    t2 = time.perf_counter()
    results = validate_quality(rows, ref, 0.9)
    t3 = time.perf_counter()
    print(f"rows: {len(rows):,} (synthesised in {t1 - t0:.2f} s)")
    print(f"check_structure: {t2 - t1:.2f} s, {len(problems)} problems")
    print(
        f"validate_quality: {t3 - t2:.2f} s, {len(results):,} result rows, {int((~results['success']).sum()):,} failed"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
