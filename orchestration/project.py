"""The dbt project, in its own module so that Dagster code and scripts share one DbtProject.

`dbt_project` is made on first use: `make run` checks the parse fingerprint (prepare) and parses only when it
changed, so it imports dagster-dbt (about 2 s and 85 MB, in a process that lasts the whole run) only then."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster_dbt import DbtProject

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
# The dbt of the environment running us (the project's .venv), not whatever is first on PATH.
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))

# Where `dbt parse` writes the manifest the definitions load, relative to dbt_project/ (default target). The test
# suite gives each parallel pytest worker its own folder under target/, so that one worker's runs never read a
# manifest another's `dbt parse` is rewriting.
TARGET_PATH_VARIABLE = "LAN_DBT_TARGET_PATH"
TARGET_PATH = os.environ.get(TARGET_PATH_VARIABLE) or "target"
MANIFEST_PATH = DBT_PROJECT_DIR.joinpath(TARGET_PATH, "manifest.json")  # DbtProject's manifest_path, without it

# Folders of the project that dbt writes, not the project's own files.
GENERATED = {"target", "logs", "dbt_packages"}
ENV_VAR = re.compile(r"env_var\(\s*['\"](\w+)['\"]")


def project_fingerprint(project_dir: Path) -> str:
    """sha256 of what `dbt parse` reads: every file of the project but hidden and generated ones (path and bytes),
    the versions of dbt-core and dbt-duckdb, and the value of every environment variable the project's files name
    (profiles.yml's, where the warehouse is and DuckDB's memory, change the connection, not the manifest)."""
    digest = hashlib.sha256()
    names: set[str] = set()
    for path in sorted(project_dir.rglob("*")):
        relative = path.relative_to(project_dir)
        if not path.is_file() or relative.parts[0] in GENERATED or path.name.startswith("."):
            continue
        data = path.read_bytes()
        digest.update(f"{relative.as_posix()}\0{len(data)}\0".encode() + data)
        if relative.name != "profiles.yml":  # the connection's settings: the same manifest whatever they are
            names.update(ENV_VAR.findall(data.decode("utf-8", errors="replace")))
    versions = {package: version(package) for package in ("dbt-core", "dbt-duckdb")}
    settings = {name: os.environ.get(name) for name in sorted(names)}
    digest.update(json.dumps([versions, settings], sort_keys=True).encode())
    return digest.hexdigest()


@cache
def _dbt_project() -> DbtProject:
    from dagster_dbt import DbtProject

    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=TARGET_PATH)


def __getattr__(name: str):
    """`dbt_project`, the one DbtProject, made (and dagster-dbt imported) on first use."""
    if name != "dbt_project":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _dbt_project()


def prepare(project: DbtProject | None = None) -> None:
    """The project's preparer (`dbt parse`), only when its inputs changed since the manifest was written
    (project_fingerprint, kept beside the manifest); `project` defaults to dbt_project. Otherwise dbt would start,
    load and check its partial-parse state to write the same manifest: about 5 s of every `make run` and `make ui`
    (README "Performance")."""
    project_dir = Path(project.project_dir) if project is not None else DBT_PROJECT_DIR
    manifest = project.manifest_path if project is not None else MANIFEST_PATH
    stamp = manifest.with_name("manifest.fingerprint")
    fingerprint = project_fingerprint(project_dir)
    if manifest.is_file() and stamp.is_file() and stamp.read_text() == fingerprint:
        return
    project = project if project is not None else _dbt_project()
    project.preparer.prepare(project)
    partial = stamp.with_name(f".{stamp.name}.part")
    partial.write_text(fingerprint)
    os.replace(partial, stamp)
