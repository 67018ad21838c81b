"""Readable quality reports, built with no internet access.

* ``build_data_docs``: Great Expectations' own HTML Data Docs (index, one page per validation
  result, one per suite) from the validation results of ``expectations.validate``. GX's pages load
  Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega from CDNs and its logo from S3, and the
  GX package ships none of them; so every remote ``<link>``/``<script>``/``<img>`` and CSS ``url()``
  is removed and each page instead loads two small local files written into ``static/offline/``:
  a stylesheet covering the Bootstrap classes the pages use and a script standing in for the few
  jQuery/Bootstrap/bootstrap-table calls they make (tables, tabs, collapsibles, row links).
  GX's own static files (logo, favicon, fonts) are copied by GX and used from there.
* ``validations_from_results``: GX validation results again from a results frame read back from
  the warehouse (``raw.data_quality_results`` / ``marts.fct_data_quality_results``), by running
  the same suites over frames rebuilt from the stored observed values and figures.
* ``write_quality_report``: both of the above and the summary below under one folder.
* ``write_completeness_summary``: one self-contained HTML page per site (completeness by month x
  measure coloured against the threshold, a matplotlib chart embedded as PNG, the differential
  flags) and an index page, from the results frame of ``validate_quality``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

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
from expectations.validate import gx_context, run_suite  # noqa: E402


def quality_dir(publish: Path) -> Path:
    """Where the quality reports go under the publish folder (``Settings.publish``)."""
    return Path(publish) / "quality"


def gx_docs_dir(publish: Path) -> Path:
    """GX Data Docs: ``<publish>/quality/gx``."""
    return quality_dir(publish) / "gx"


def completeness_dir(publish: Path) -> Path:
    """The completeness summary: ``<publish>/quality/completeness``."""
    return quality_dir(publish) / "completeness"


#: How many unexpected values/rows a Data Docs page lists per expectation (the full lists live in
#: the Problems and the results table; pages with a million rows would not open).
DOCS_UNEXPECTED_SAMPLE = 20

_REMOTE = r"""["']?\s*(?:https?:)?//"""
_REMOTE_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*" + _REMOTE + r"[^>]*>", re.I)
_REMOTE_SCRIPT = re.compile(r"<script\b[^>]*\bsrc\s*=\s*" + _REMOTE + r"[^>]*>\s*</script>", re.I)
_REMOTE_IMG = re.compile(r"(<img\b[^>]*\bsrc\s*=\s*)([\"'])((?:https?:)?//[^\"']*)\2", re.I)
_REMOTE_CSS_URL = re.compile(r"url\(\s*[\"']?(?:https?:)?//[^)]*\)", re.I)
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


def _trim(result: ExpectationValidationResult) -> ExpectationValidationResult:
    """A copy keeping only GX's partial (sample) lists of unexpected values and rows."""
    trimmed = dict(result.result or {})
    for key in ("unexpected_list", "unexpected_index_list", "unexpected_index_query"):
        trimmed.pop(key, None)
    for key in ("partial_unexpected_list", "partial_unexpected_index_list", "partial_unexpected_counts"):
        if isinstance(trimmed.get(key), list):
            trimmed[key] = trimmed[key][:DOCS_UNEXPECTED_SAMPLE]
    return ExpectationValidationResult(
        success=result.success,
        expectation_config=result.expectation_config,
        result=trimmed,
        meta=result.meta,
        exception_info=result.exception_info,
    )


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

    ``validations`` maps a label (the suite name, say) to a result, as
    ``QualityCheck.validations`` does, or is an iterable of results, or one result. ``dest`` is
    owned by this function: its previous index, pages and static files are replaced.
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
        trimmed = ExpectationSuiteValidationResult(
            success=validation.success,
            results=[_trim(r) for r in validation.results],
            suite_name=name,
            suite_parameters=validation.suite_parameters,
            statistics=validation.statistics,
            meta={**(validation.meta or {}), "run_id": run_id},
        )
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=name),
            run_id=run_id,
            batch_identifier=re.sub(r"[^A-Za-z0-9_.-]+", "_", label),
        )
        context.validation_results_store.set(key, trimmed)

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


def make_offline(site: Path) -> list[Path]:
    """Rewrite every HTML page under ``site`` so that it loads nothing from the network."""
    site = Path(site)
    offline = site / "static" / "offline"
    offline.mkdir(parents=True, exist_ok=True)
    (offline / "lan-offline.css").write_text(_OFFLINE_CSS, encoding="utf-8")
    (offline / "lan-offline.js").write_text(_OFFLINE_JS, encoding="utf-8")
    images = site / "static" / "images"
    for css in site.rglob("*.css"):  # GX copies its stylesheet templates; pages inline them
        css.write_text(_REMOTE_CSS_URL.sub("none", css.read_text(encoding="utf-8")), encoding="utf-8")
    pages = sorted(site.rglob("*.html"))
    for page in pages:
        root = os.path.relpath(site, page.parent).replace(os.sep, "/")
        root = "" if root == "." else root + "/"
        text = page.read_text(encoding="utf-8")
        text = _REMOTE_LINK.sub("", text)
        text = _REMOTE_SCRIPT.sub("", text)

        def local_image(match: re.Match) -> str:
            name = Path(match.group(3).split("?")[0]).name
            local = f"{root}static/images/{name}" if (images / name).exists() else ""  # noqa: B023 (used within the iteration)
            return f"{match.group(1)}{match.group(2)}{local}{match.group(2)}"

        text = _REMOTE_IMG.sub(local_image, text)
        text = _REMOTE_CSS_URL.sub("none", text)
        text = _LOCAL_STATIC.sub(lambda m: f"{m.group(1)}{root}static/", text)  # noqa: B023 (GX miscounts depth)
        head = (
            f'<link rel="stylesheet" href="{root}static/offline/lan-offline.css">\n'
            f'<script src="{root}static/offline/lan-offline.js"></script>\n'
        )
        text = text.replace("</head>", head + "</head>", 1)
        page.write_text(text, encoding="utf-8")
    return pages


_OFFLINE_CSS = """/* Offline stand-in for the Bootstrap 4 / bootstrap-table / Font Awesome classes GX Data Docs use. */
*,*::before,*::after{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;font-size:.95rem;line-height:1.5;color:#212529;background:#fff}
a{color:#0062cc;text-decoration:none}a:hover{text-decoration:underline}
h1,h2,h3,h4,h5,h6,.h6{margin:.4rem 0 .5rem;font-weight:500;line-height:1.2}
.container-fluid{width:100%;padding:0 15px}
.row{display:flex;flex-wrap:wrap;margin:0 -15px}
[class*="col-"]{position:relative;width:100%;padding:0 15px}
@media (min-width:768px){.col-md-2{flex:0 0 16.66%;max-width:16.66%}.col-md-10{flex:0 0 83.33%;max-width:83.33%}
 .col-md-6{flex:0 0 50%;max-width:50%}.col-md-4{flex:0 0 33.33%;max-width:33.33%}.col-md-8{flex:0 0 66.66%;max-width:66.66%}
 .col-md-12{flex:0 0 100%;max-width:100%}.d-md-block{display:block!important}.d-md-inline-flex{display:inline-flex!important}}
.col-12{flex:0 0 100%;max-width:100%}.col-6{flex:0 0 50%;max-width:50%}
.d-none{display:none!important}.d-flex{display:flex!important}.d-block{display:block!important}
.flex-column{flex-direction:column}.align-items-center{align-items:center}.justify-content-center{justify-content:center}
.float-left{float:left}.mr-auto{margin-right:auto}.h-100{height:100%}.invisible{visibility:hidden}
.sticky-top{position:sticky;top:0;z-index:10}.fixed-bottom{position:fixed;bottom:0;left:0;right:0}
.navbar{display:flex;align-items:center;padding:.5rem 1rem;background:#fff}.navbar-brand{display:inline-block;margin-right:1rem}
.border{border:1px solid #dee2e6}.border-bottom{border-bottom:1px solid #dee2e6}.border-info{border-color:#17a2b8}
.rounded{border-radius:.25rem}.rounded-0{border-radius:0}
.card{position:relative;display:flex;flex-direction:column;background:#fff;border:1px solid rgba(0,0,0,.125);border-radius:.25rem;margin-bottom:1rem}
.card-header{padding:.6rem 1.1rem;background:rgba(0,0,0,.03);border-bottom:1px solid rgba(0,0,0,.125)}
.card-body{padding:1rem 1.1rem}.card-text{margin:0}
.table{width:100%;margin-bottom:1rem;border-collapse:collapse;color:#212529}
.table th,.table td{padding:.45rem .6rem;vertical-align:top;border-top:1px solid #dee2e6;text-align:left}
.table thead th{vertical-align:bottom;border-bottom:2px solid #dee2e6}
.table-sm th,.table-sm td{padding:.25rem .4rem}.table-bordered,.table-bordered th,.table-bordered td{border:1px solid #dee2e6}
.table-responsive{display:block;width:100%;overflow-x:auto}
.lan-table th[data-sort]{cursor:pointer;white-space:nowrap}.lan-table tr.lan-link{cursor:pointer}.lan-table tr.lan-link:hover{background:#f1f5fb}
.lan-search{margin:.3rem 0;padding:.25rem .5rem;border:1px solid #ced4da;border-radius:.2rem;min-width:16rem}
.badge{display:inline-block;padding:.25em .45em;font-size:75%;font-weight:700;line-height:1;border-radius:.25rem;color:#fff;background:#6c757d}
.badge-secondary{background:#6c757d}.badge-info{background:#17a2b8}.badge-success{background:#28a745}.badge-danger{background:#dc3545}
.alert{position:relative;padding:.75rem 1.25rem;margin-bottom:1rem;border:1px solid transparent;border-radius:.25rem}
.alert-secondary{background:#e2e3e5;border-color:#d6d8db}.alert-info{background:#d1ecf1;border-color:#bee5eb}.alert-heading{color:inherit}
.close{float:right;background:none;border:0;font-size:1.3rem;cursor:pointer}
.btn{display:inline-block;padding:.3rem .7rem;border:1px solid transparent;border-radius:.25rem;cursor:pointer;font-size:.9rem;background:#e9ecef}
.btn-sm{padding:.2rem .5rem;font-size:.8rem}.btn-primary{background:#007bff;color:#fff}.btn-primary.active{background:#0056b3}
.btn-secondary{background:#6c757d;color:#fff}.btn-group{display:inline-flex}
.nav{display:flex;flex-wrap:wrap;padding:0;margin:0;list-style:none}.nav-tabs{border-bottom:1px solid #dee2e6;display:flex;list-style:none;padding:0;margin:0}
.nav-item{list-style:none}.nav-link{display:block;padding:.5rem 1rem}.nav-tabs .nav-link{border:1px solid transparent;border-top-left-radius:.25rem;border-top-right-radius:.25rem;margin-bottom:-1px}
.nav-tabs .nav-link.active{color:#495057;background:#fff;border-color:#dee2e6 #dee2e6 #fff}.nav-pills .nav-link.active{background:#007bff;color:#fff;border-radius:.25rem}
.tab-content>.tab-pane{display:none}.tab-content>.active{display:block}
.collapse:not(.show){display:none}.fade:not(.show){opacity:1}
.breadcrumb{display:flex;flex-wrap:wrap;padding:.5rem 1rem;margin:0;list-style:none;background:#e9ecef;border-radius:.25rem}
.breadcrumb-item+.breadcrumb-item::before{content:"/";padding:0 .5rem;color:#6c757d}
.list-group{display:flex;flex-direction:column;padding:0;margin:0}.list-group-item{padding:.5rem 1rem;border:1px solid rgba(0,0,0,.125)}
.lead{font-size:1.15rem;font-weight:300}.text-center{text-align:center}.text-danger{color:#dc3545}.text-success{color:#28a745}
.text-muted{color:#6c757d}.bg-light{background:#f8f9fa}
.m-0{margin:0!important}.m-1{margin:.25rem!important}.m-2{margin:.5rem!important}.mt-0{margin-top:0!important}.mt-1{margin-top:.25rem!important}.mt-3{margin-top:1rem!important}
.mb-0{margin-bottom:0!important}.mb-1{margin-bottom:.25rem!important}.mb-2{margin-bottom:.5rem!important}.mb-3{margin-bottom:1rem!important}.mb-4{margin-bottom:1.5rem!important}
.ml-1{margin-left:.25rem!important}.ml-2{margin-left:.5rem!important}.mr-0{margin-right:0!important}.mr-2{margin-right:.5rem!important}
.p-0{padding:0!important}.p-1{padding:.25rem!important}.p-2{padding:.5rem!important}.p-3{padding:1rem!important}.px-0{padding-left:0!important;padding-right:0!important}
.pt-0{padding-top:0!important}.pt-4{padding-top:1.5rem!important}.pb-0{padding-bottom:0!important}.pb-1{padding-bottom:.25rem!important}.pb-4{padding-bottom:1.5rem!important}
.pl-5{padding-left:2rem!important}.pr-3{padding-right:1rem!important}.pr-5{padding-right:2rem!important}
.fas,.far,.fa{font-style:normal;display:inline-block}
.fa-times::before{content:"\\2717";color:#dc3545;font-weight:700}.fa-check::before,.fa-check-circle::before{content:"\\2713";color:#28a745;font-weight:700}
.fa-question-circle::before{content:"?"}.fa-info-circle::before{content:"i"}.fa-exclamation-triangle::before{content:"!"}
.cooltip .top{display:none}.cooltip:hover .top{display:block;position:absolute;background:#fff;border:1px solid #ccc;padding:.4rem;white-space:pre;z-index:20;font-size:.8rem}
.lan-offline-note{font-size:.8rem;color:#6c757d;padding:.3rem 1rem}
"""

_OFFLINE_JS = r"""/* Offline stand-in for the jQuery / Bootstrap / bootstrap-table calls in GX Data Docs pages.
   Supports: $(selector|element|document|function), .ready .each .parent .fadeIn .fadeOut
   .addClass .removeClass .modal .on .data .attr .prepend and .bootstrapTable({columns, data, ...})
   (sortable, searchable plain table; rows link to their page), data-toggle="collapse|tab|buttons". */
(function () {
  "use strict";
  function Q(nodes) { this.nodes = nodes; this.length = nodes.length; }
  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }
  function $(arg) {
    if (typeof arg === "function") { ready(arg); return new Q([]); }
    if (arg instanceof Q) { return arg; }
    if (arg === document || arg === window || (arg && arg.nodeType)) { return new Q([arg]); }
    if (typeof arg === "string") {
      var s = arg.trim();
      if (s.charAt(0) === "<") { var t = document.createElement("template"); t.innerHTML = s; return new Q(Array.prototype.slice.call(t.content.childNodes)); }
      try { return new Q(Array.prototype.slice.call(document.querySelectorAll(s))); } catch (e) { return new Q([]); }
    }
    return new Q([]);
  }
  var P = Q.prototype;
  P.each = function (fn) { this.nodes.forEach(function (n, i) { fn.call(n, i, n); }); return this; };
  P.ready = function (fn) { ready(fn); return this; };
  P.parent = function () { return new Q(this.nodes.map(function (n) { return n.parentElement; }).filter(Boolean)); };
  P.fadeIn = function () { return this.each(function (i, n) { n.style.display = ""; }); };
  P.fadeOut = function () { return this.each(function (i, n) { n.style.display = "none"; }); };
  P.show = P.fadeIn; P.hide = P.fadeOut;
  P.addClass = function (c) { return this.each(function (i, n) { n.classList.add(c); }); };
  P.removeClass = function (c) { return this.each(function (i, n) { n.classList.remove(c); }); };
  P.modal = function () { return this; };
  P.tooltip = P.modal; P.popover = P.modal; P.alert = P.modal;
  P.attr = function (k) { return this.nodes.length ? this.nodes[0].getAttribute(k) : undefined; };
  P.data = function (k) { return this.attr("data-" + k); };
  P.on = function (event, fn) {
    var name = String(event).split(".")[0];
    return this.each(function (i, n) {
      if (event === "click-row.bs.table") { (n.lanRowHandlers = n.lanRowHandlers || []).push(fn); }
      else { n.addEventListener(name, fn); }
    });
  };
  P.prepend = function (html) {
    return this.each(function (i, n) { n.insertAdjacentHTML("afterbegin", String(html)); });
  };
  P.bootstrapTable = function (options) {
    if (!options || typeof options !== "object") { return this; }
    return this.each(function (i, n) { renderTable(n, options); });
  };

  function text(value) { return value === null || value === undefined ? "" : String(value); }
  function renderTable(table, o) {
    var columns = o.columns || [], rows = (o.data || []).slice(), sortKey = null, desc = false;
    table.classList.add("lan-table");
    if (o.sortName) {
      sortKey = o.sortName;
      columns.forEach(function (c) { if (c.field === o.sortName && c.sortName) { sortKey = c.sortName; } });
      desc = o.sortOrder === "desc";
    }
    var search = null;
    if (o.search === "true" || o.search === true) {
      search = document.createElement("input");
      search.type = "search"; search.placeholder = "Search"; search.className = "lan-search";
      table.parentNode.insertBefore(search, table);
      search.addEventListener("input", draw);
    }
    function draw() {
      var needle = search ? search.value.toLowerCase() : "";
      var data = rows.slice();
      if (sortKey) {
        data.sort(function (a, b) {
          var x = a[sortKey], y = b[sortKey];
          var r = (typeof x === "number" && typeof y === "number") ? x - y : text(x).localeCompare(text(y));
          return desc ? -r : r;
        });
      }
      var thead = document.createElement("thead"), tr = document.createElement("tr");
      columns.forEach(function (c) {
        var th = document.createElement("th");
        th.textContent = text(c.title);
        if (c.sortable === "true" || c.sortable === true) {
          th.setAttribute("data-sort", c.sortName || c.field);
          th.textContent += (sortKey === (c.sortName || c.field)) ? (desc ? " \u25BC" : " \u25B2") : "";
          th.addEventListener("click", function () {
            var k = c.sortName || c.field;
            desc = sortKey === k ? !desc : false; sortKey = k; draw();
          });
        }
        tr.appendChild(th);
      });
      thead.appendChild(tr);
      var tbody = document.createElement("tbody");
      data.forEach(function (row) {
        var r = document.createElement("tr");
        columns.forEach(function (c) {
          var td = document.createElement("td");
          td.innerHTML = text(row[c.field]);
          if (c.align) { td.style.textAlign = c.align; }
          r.appendChild(td);
        });
        if (needle && r.textContent.toLowerCase().indexOf(needle) < 0) { return; }
        if (row._table_row_link_path) {
          r.classList.add("lan-link");
          r.setAttribute("data-href", row._table_row_link_path);
          r.addEventListener("click", function (e) {
            if (e.target.closest("a")) { return; }
            var handlers = table.lanRowHandlers || [];
            if (handlers.length) { handlers.forEach(function (h) { h(e, row, new Q([r])); }); }
            else { window.location = row._table_row_link_path; }
          });
        }
        tbody.appendChild(r);
      });
      table.innerHTML = "";
      table.appendChild(thead);
      table.appendChild(tbody);
    }
    draw();
  }

  document.addEventListener("click", function (e) {
    var el = e.target.closest ? e.target.closest("[data-toggle]") : null;
    if (!el) { return; }
    var kind = el.getAttribute("data-toggle");
    var target = el.getAttribute("data-target") || el.getAttribute("href");
    if (kind === "collapse") {
      e.preventDefault();
      var body = target ? document.querySelector(target) : null;
      if (body) { body.classList.toggle("show"); el.setAttribute("aria-expanded", body.classList.contains("show")); }
    } else if (kind === "tab" || kind === "pill") {
      e.preventDefault();
      var list = el.closest("ul, nav");
      if (list) { list.querySelectorAll("[data-toggle]").forEach(function (a) { a.classList.remove("active"); }); }
      el.classList.add("active");
      var pane = target ? document.querySelector(target) : null;
      if (pane && pane.parentElement) {
        Array.prototype.forEach.call(pane.parentElement.children, function (p) { p.classList.remove("active", "show"); });
        pane.classList.add("active", "show");
      }
    } else if (kind === "buttons") {
      var label = e.target.closest("label");
      if (label) { el.querySelectorAll("label").forEach(function (l) { l.classList.remove("active"); }); label.classList.add("active"); }
    }
  });

  window.$ = window.jQuery = $;
  window.vegaEmbed = function (selector) {
    var n = document.querySelector(selector);
    if (n) { n.textContent = "(chart not shown: Data Docs are built to work offline)"; }
    return Promise.resolve();
  };
})();
"""


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


def write_completeness_summary(results: pd.DataFrame, dest: Path) -> Path:
    """Write ``dest/index.html`` and ``dest/site_<SITE>.html`` (+ ``.png`` chart, also embedded)
    from a ``validate_quality`` results frame; return the index path. When the frame holds several
    submissions of a site-month, the newest (``validated_at``, else the last row) is shown."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    results = latest_results(results)
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
        measures = list(values.columns)
        png = _chart_png(site, values, threshold)
        (dest / f"site_{_safe(site)}.png").write_bytes(png)
        body = []
        for month, row in values.iterrows():
            cells = "".join(
                f'<td class="{_cell_class(row[m], bool(success.at[month, m]) if pd.notna(success.at[month, m]) else True, threshold)}">'
                f"{_pct(row[m])}</td>"
                for m in measures
            )
            body.append(f"<tr><th class=l>{pd.Timestamp(month):%Y-%m}</th>{cells}</tr>")
        site_flags = flags.loc[flags["site_code"] == site]
        flagged_months = sc.loc[~sc["success"].astype(bool), "month_start_date"].nunique()
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
        (dest / f"site_{_safe(site)}.html").write_text(page, encoding="utf-8")
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
    return path


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


def validations_from_results(results: pd.DataFrame) -> dict[str, ExpectationSuiteValidationResult]:
    """Run the quality suites again, in GX, over frames rebuilt from a results frame: the observed
    value and the figures in ``details`` are all the suites look at, so GX reaches the stored
    verdicts and can render them. Thresholds are the ones stored with the results."""
    frame = latest_results(results)
    plan = [
        (
            S.ETHNICITY_COMPLETENESS,
            "completeness",
            "measure_code",
            lambda t: S.completeness_suite(t),
            S.DEFAULT_COMPLETENESS_THRESHOLD,
        ),
        (
            S.DIFFERENTIAL_MISSING_BY_GROUP,
            "missing_gap",
            "ethnic_group",
            lambda t: S.group_differential_suite(t),
            S.GROUP_MISSING_MARGIN,
        ),
        (
            S.MEASURE_COMPLETENESS_OUTLIER,
            "shortfall",
            "measure_code",
            lambda t: S.measure_differential_suite(t),
            S.MEASURE_OUTLIER_MARGIN,
        ),
    ]
    context = gx_context()
    validations: dict[str, ExpectationSuiteValidationResult] = {}
    for rule, observed, by, make_suite, default in plan:
        part = frame.loc[frame["rule"] == rule].reset_index(drop=True)
        if part.empty:
            continue
        rebuilt = _details_frame(part["details"]).drop(columns=[observed], errors="ignore")
        rebuilt.insert(0, "check_id", range(len(part)))
        rebuilt.insert(1, "site_code", part["site_code"].astype("string").to_numpy())
        rebuilt.insert(2, "period", pd.DatetimeIndex(part["month_start_date"]).strftime("%Y-%m"))
        rebuilt.insert(3, by, part[by].astype("string").to_numpy())
        rebuilt[observed] = part["observed_value"].astype("float64").to_numpy()
        for needed in ("n_missing", "n_other_measures"):  # row-condition columns
            if needed in rebuilt.columns:
                rebuilt[needed] = rebuilt[needed].fillna(0).astype("int64")
        suite = make_suite(_most_common(part["threshold"], default))
        validations[suite.name] = run_suite(rebuilt, suite, ["check_id", "site_code", "period", by], context)
    return validations


def write_quality_report(results: pd.DataFrame, dest: Path, threshold: float | None = None) -> Path:
    """``dest/gx/`` (GX Data Docs, offline), ``dest/completeness/`` (per-site summary) and
    ``dest/index.html`` linking both, from a results frame as stored in the warehouse. Return the
    index. ``threshold`` is shown when the results carry none."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    latest = latest_results(results)
    if threshold is not None and not latest["threshold"].notna().any():
        latest["threshold"] = float(threshold)
    validations = validations_from_results(latest)
    docs = build_data_docs(validations, dest / "gx") if validations else None
    summary = write_completeness_summary(latest, dest / "completeness")
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
            "&ndash; the suites and every validation result</li>"
        )
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>LAN data quality</title><style>{_PAGE_CSS}</style></head><body>
<h1>LAN data quality</h1>
<p class="lede">{len(latest):,} checks on the current submissions, {failed:,} failed.
Completeness threshold {shown:.0%}.</p>
<ul>{"".join(links)}</ul>
<p class="muted">Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC}.</p>
</body></html>"""
    index = dest / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
