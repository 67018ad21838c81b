"""GX Data Docs and the completeness summary: built from validation results, readable offline."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date

import pandas as pd
import pytest

from expectations import suites as S
from expectations.data_docs import REMOTE_ASSET, build_data_docs, write_completeness_summary
from expectations.synthetic import synthetic_rows
from expectations.validate import run_quality_check, run_structure_check
from ingest.reference import load_reference

REF = load_reference()
# an asset the browser would fetch: <link href>, <script src>, <img src>, CSS url(), @import
ANY_REMOTE = re.compile(
    r"""<(link|script|img)\b[^>]*\b(href|src)\s*=\s*["']?\s*(https?:)?//"""
    r"""|url\(\s*["']?\s*(https?:)?//|@import[^;]*(https?:)?//""",
    re.I,
)
LOCAL = re.compile(r"""<(?:link|script|img)\b[^>]*\b(?:href|src)\s*=\s*["']([^"'#]+)["']""", re.I)


@pytest.fixture(scope="module")
def checks():
    rows = synthetic_rows(REF, sites=3, months=6, unknown_share=1.5)
    rows.loc[3, "site_code"] = "NOPE"
    rows.loc[8, ["numerator", "denominator"]] = [50, 5]
    black = (rows["site_code"] == "BSOL") & rows["ethnic_code"].isin(["M", "N"])
    rows.loc[black, "numerator"] = pd.NA
    structure = run_structure_check(rows, REF, date(2024, 3, 15))
    quality = run_quality_check(rows.drop(index=[3, 8]), REF, 0.9)
    return structure, quality


@pytest.fixture(scope="module")
def docs(checks, tmp_path_factory):
    structure, quality = checks
    dest = tmp_path_factory.mktemp("publish") / "quality" / "gx"
    index = build_data_docs({"structure": structure.validation, **quality.validations}, dest)
    return dest, index


def test_data_docs_are_built_by_gx(docs):
    dest, index = docs
    assert index == dest / "index.html" and index.exists()
    pages = {p.relative_to(dest).parts[:2] for p in dest.rglob("*.html")}
    for suite in (S.STRUCTURE_SUITE, S.COMPLETENESS_SUITE, S.GROUP_DIFFERENTIAL_SUITE, S.MEASURE_DIFFERENTIAL_SUITE):
        assert ("validations", suite) in pages
        assert (dest / "expectations" / f"{suite}.html").exists()
    text = index.read_text()
    assert "bootstrapTable" in text and S.STRUCTURE_SUITE in text
    structure_page = next((dest / "validations" / S.STRUCTURE_SUITE).rglob("*.html")).read_text()
    assert "NOPE" in structure_page  # GX's sample of unexpected values


def test_data_docs_load_nothing_from_the_internet(docs):
    dest, _ = docs
    pages = list(dest.rglob("*.html"))
    assert len(pages) >= 9
    for page in pages:
        text = page.read_text()
        assert not ANY_REMOTE.search(text), (page, ANY_REMOTE.search(text).group(0))
        assert not REMOTE_ASSET.search(text), page
        assert "static/offline/lan-offline.js" in text and "static/offline/lan-offline.css" in text
        for ref in LOCAL.findall(text):  # every local asset a page loads is there
            if not ref.startswith("data:"):
                assert (page.parent / ref.split("?")[0]).resolve().exists(), (page, ref)
    for css in dest.rglob("*.css"):
        assert not ANY_REMOTE.search(css.read_text()), css


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_offline_script_is_valid_javascript(docs):
    dest, _ = docs
    subprocess.run(["node", "--check", str(dest / "static" / "offline" / "lan-offline.js")], check=True)


def test_data_docs_replace_an_earlier_build(docs, checks):
    dest, _ = docs
    structure, _ = checks
    build_data_docs([structure.validation], dest, run_name="second")
    assert not (dest / "validations" / S.COMPLETENESS_SUITE).exists()
    assert not any(ANY_REMOTE.search(p.read_text()) for p in dest.rglob("*.html"))


def test_completeness_summary(checks, tmp_path):
    _, quality = checks
    results = quality.results
    index = write_completeness_summary(results, tmp_path)
    assert index == tmp_path / "index.html"
    text = index.read_text()
    for site in ("BARTS", "BNSSG", "BSOL"):
        assert f'href="site_{site}.html"' in text
        page = (tmp_path / f"site_{site}.html").read_text()
        assert "data:image/png;base64," in page
        assert (tmp_path / f"site_{site}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert not ANY_REMOTE.search(page)
    # unknown_share 1.5: Z and 99 hold about 16 % of the denominator: most months below 90 %
    bsol = (tmp_path / "site_BSOL.html").read_text()
    assert 'class="fail"' in bsol and "Black or Black British" in bsol
    assert not results.loc[results["rule"] == S.ETHNICITY_COMPLETENESS, "success"].all()


def test_quality_report_from_stored_results(checks, tmp_path):
    """As the publish step calls it: results read back from the warehouse (dates as dates, run
    columns added, an older run of the same checks) -> GX Data Docs, summary and an index."""
    from expectations.data_docs import validations_from_results, write_quality_report

    _, quality = checks
    stored = quality.results.assign(run_id="r2", validated_at=pd.Timestamp("2024-04-02"), submission_id="s1")
    older = stored.assign(run_id="r1", validated_at=pd.Timestamp("2024-04-01"), success=True)
    stored = pd.concat([older, stored], ignore_index=True)
    stored["month_start_date"] = stored["month_start_date"].dt.date
    validations = validations_from_results(stored)
    assert set(validations) == {S.COMPLETENESS_SUITE, S.GROUP_DIFFERENTIAL_SUITE, S.MEASURE_DIFFERENTIAL_SUITE}
    # GX, re-run on the stored figures, reaches the stored (newest) verdicts
    for rule, suite in (
        (S.ETHNICITY_COMPLETENESS, S.COMPLETENESS_SUITE),
        (S.DIFFERENTIAL_MISSING_BY_GROUP, S.GROUP_DIFFERENTIAL_SUITE),
    ):
        [result] = validations[suite].results
        newest = quality.results.loc[quality.results["rule"] == rule]
        assert result.result["unexpected_count"] == int((~newest["success"]).sum())
    index = write_quality_report(stored, tmp_path, 0.9)
    assert index == tmp_path / "index.html"
    assert (tmp_path / "gx" / "index.html").exists() and (tmp_path / "completeness" / "index.html").exists()
    assert 'href="gx/index.html"' in index.read_text()
    assert not any(ANY_REMOTE.search(p.read_text()) for p in tmp_path.rglob("*.html"))
