"""GX Data Docs and the completeness summary: built from validation results, readable offline
with the real libraries GX's pages expect (vendored), never re-validating stored results."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import great_expectations
import pandas as pd
import pytest

from expectations import suites as S
from expectations.data_docs import CDN_FILES, REMOTE_ASSET, VENDOR, build_data_docs, write_completeness_summary
from expectations.validate import run_quality_check, run_structure_check
from ingest.reference import load_reference
from tests.fixtures.synthetic_rows import synthetic_rows

REF = load_reference()
# an asset the browser would fetch: <link href>, <script src>, <img src>, CSS url(), @import
ANY_REMOTE = re.compile(
    r"""<(link|script|img)\b[^>]*\b(href|src)\s*=\s*["']?\s*(https?:)?//"""
    r"""|url\(\s*["']?\s*(https?:)?//|@import[^;]*(https?:)?//""",
    re.I,
)
LOCAL = re.compile(r"""<(?:link|script|img)\b[^>]*\b(?:href|src)\s*=\s*["']([^"'#]+)["']""", re.I)
GX_TEMPLATES = Path(great_expectations.__file__).parent / "render" / "view" / "templates"


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


def test_data_docs_load_the_vendored_libraries_and_nothing_from_the_internet(docs):
    dest, _ = docs
    pages = list(dest.rglob("*.html"))
    assert len(pages) >= 9
    for page in pages:
        text = page.read_text()
        assert not ANY_REMOTE.search(text), (page, ANY_REMOTE.search(text).group(0))
        assert not REMOTE_ASSET.search(text), page
        assert "integrity=" not in text and "crossorigin=" not in text  # a file:// page cannot use them
        loaded = [ref for ref in LOCAL.findall(text) if not ref.startswith("data:")]
        for ref in loaded:  # every local asset a page loads is there
            assert (page.parent / ref.split("?")[0]).resolve().exists(), (page, ref)
        names = {ref.split("static/vendor/")[-1] for ref in loaded if "static/vendor/" in ref}
        for library in (
            "jquery.min.js",
            "bootstrap.min.js",
            "bootstrap.min.css",
            "bootstrap-table.min.js",
            "all.min.css",
        ):
            assert any(n.endswith(library) for n in names), (page, library)
    for css in dest.rglob("*.css"):
        text = css.read_text()
        assert not ANY_REMOTE.search(text), css
        for ref in re.findall(r"url\(\s*[\"']?([^)\"'#?]+)", text):  # Font Awesome's web fonts
            if not ref.startswith("data:"):
                assert (css.parent / ref).resolve().exists(), (css, ref)


def test_every_cdn_file_of_the_gx_templates_is_vendored_with_its_licence():
    """The map covers every remote file GX 1.24.1's templates load, the copies are those exact versions
    (GX's own sha384 integrity hashes where it gives them, the version banners otherwise), each with its licence."""
    templates = "\n".join(p.read_text() for p in GX_TEMPLATES.glob("*.j2"))
    loaded = set(re.findall(r"""<(?:link|script)\b[^>]*\b(?:href|src)="(https?://[^"]+)\"""", templates))
    assert loaded and loaded <= set(CDN_FILES), loaded - set(CDN_FILES)
    for url, integrity in re.findall(r"""src="(https?://[^"]+)" integrity="sha384-([^"]+)\"""", templates):
        digest = base64.b64encode(hashlib.sha384((VENDOR / CDN_FILES[url]).read_bytes()).digest()).decode()
        assert digest == integrity, url
    listed = dict(
        reversed(line.split("  ", 1))
        for line in (VENDOR / "SOURCES.md").read_text().split("```")[1].strip().splitlines()
    )
    files = {p.relative_to(VENDOR).as_posix(): p for p in VENDOR.rglob("*") if p.is_file() and p.name != "SOURCES.md"}
    assert set(files) == set(listed)
    for name, path in files.items():  # unchanged from the npm packages
        assert hashlib.sha256(path.read_bytes()).hexdigest() == listed[name], name
    for url, local in CDN_FILES.items():
        library = local.split("/")[0]
        assert (VENDOR / local).stat().st_size > 200 and any((VENDOR / library).glob("LICENSE*")), library
        if "@" in url or re.search(r"/\d+\.\d+\.\d+/", url) or re.search(r"-\d+\.\d+\.\d+\.min", url):
            version = re.search(r"(\d+\.\d+\.\d+)", url.split("//", 1)[1])
            assert version is None or library.endswith(version.group(1)) or url.endswith(("@5", "@6")), (url, library)


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_vendored_scripts_are_valid_javascript():
    for local in sorted({v for v in CDN_FILES.values() if v.endswith(".js")}):
        subprocess.run(["node", "--check", str(VENDOR / local)], check=True)


def test_data_docs_replace_an_earlier_build(docs, checks):
    dest, _ = docs
    structure, _ = checks
    build_data_docs([structure.validation], dest, run_name="second")
    assert not (dest / "validations" / S.COMPLETENESS_SUITE).exists()
    assert not any(ANY_REMOTE.search(p.read_text()) for p in dest.rglob("*.html"))


def test_completeness_summary(checks, tmp_path):
    _, quality = checks
    results = quality.results
    index, written = write_completeness_summary(results, tmp_path)
    assert index == tmp_path / "index.html" and written == 3
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


def test_quality_report_from_stored_results(checks, tmp_path, monkeypatch):
    """As the publish step calls it: results read back from the warehouse (dates as dates, run
    columns added, an older run of the same checks) -> GX Data Docs, summary and an index, without
    running GX's validation again; every failing value named by site, month and measure."""
    from great_expectations.datasource.fluent.interfaces import Batch

    from expectations.data_docs import validations_from_results, write_quality_report

    _, quality = checks
    stored = quality.results.assign(run_id="r2", validated_at=pd.Timestamp("2024-04-02"), submission_id="s1")
    older = stored.assign(run_id="r1", validated_at=pd.Timestamp("2024-04-01"), success=True)
    stored = pd.concat([older, stored], ignore_index=True)
    stored["month_start_date"] = stored["month_start_date"].dt.date
    monkeypatch.setattr(Batch, "validate", lambda *a, **k: pytest.fail("stored results were validated again"))
    validations = validations_from_results(stored)
    assert set(validations) == {S.COMPLETENESS_SUITE, S.GROUP_DIFFERENTIAL_SUITE, S.MEASURE_DIFFERENTIAL_SUITE}
    # the stored (newest) verdicts, each failing value with its site, month and measure or group
    for rule, suite in (
        (S.ETHNICITY_COMPLETENESS, S.COMPLETENESS_SUITE),
        (S.DIFFERENTIAL_MISSING_BY_GROUP, S.GROUP_DIFFERENTIAL_SUITE),
    ):
        [result] = validations[suite].results
        newest = quality.results.loc[quality.results["rule"] == rule]
        failed = newest.loc[~newest["success"]]
        assert result.result["unexpected_count"] == len(failed) > 0
        by = "measure_code" if rule == S.ETHNICITY_COMPLETENESS else "ethnic_group"
        named = {next(iter(e.values())) for e in result.result["unexpected_index_list"]}
        assert named == {f"{r.site_code} {r.month_start_date:%Y-%m} {r[by]}" for _, r in failed.iterrows()}
    report = write_quality_report(stored, tmp_path, 0.9)
    assert report.rebuilt and report.index == tmp_path / "index.html"
    assert (tmp_path / "gx" / "index.html").exists() and (tmp_path / "completeness" / "index.html").exists()
    assert 'href="gx/index.html"' in report.index.read_text()
    assert not any(ANY_REMOTE.search(p.read_text()) for p in tmp_path.rglob("*.html"))
    [page] = (tmp_path / "gx" / "validations" / S.COMPLETENESS_SUITE).rglob("*.html")
    text = page.read_text()
    assert "Data asset: None" not in text and "Data asset:" in text and "site, month, measure" in text
    failed_completeness = quality.results.loc[
        (quality.results["rule"] == S.ETHNICITY_COMPLETENESS) & ~quality.results["success"]
    ]
    worst = failed_completeness.loc[failed_completeness["observed_value"].idxmin()]
    assert f"{worst.site_code} {worst.month_start_date:%Y-%m} {worst.measure_code}" in text

    # unchanged stored results: nothing is rebuilt; one site's results changed: only its page is
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.html")}
    again = write_quality_report(stored.sample(frac=1, random_state=1), tmp_path, 0.9)
    assert not again.rebuilt and {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.html")} == mtimes
    changed = stored.copy()
    changed.loc[(changed["site_code"] == "BSOL") & (changed["run_id"] == "r2"), "observed_value"] *= 0.5
    third = write_quality_report(changed, tmp_path, 0.9)
    assert third.rebuilt and third.site_pages_written == 1
    assert (tmp_path / "completeness" / "site_BARTS.html").stat().st_mtime_ns == mtimes[
        tmp_path / "completeness" / "site_BARTS.html"
    ]
