"""The whole Dagster asset graph, snapshotted: every asset's key, group, kinds and upstream keys, and every
asset check. A change to the graph must be deliberate: regenerate the snapshot with
`LAN_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest tests/test_asset_graph.py` and review its diff."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def graph_snapshot(defs) -> dict:
    """The asset graph as plain, sorted data."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "materializable": node.is_materializable,
            "kinds": sorted(node.kinds),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "checks": sorted(c.name for c in node.check_keys),
        }
    return {"assets": assets, "jobs": sorted(j.name for j in defs.resolve_all_job_defs())}


def test_the_asset_graph_is_the_snapshot(defs):
    actual = graph_snapshot(defs)
    if os.environ.get("LAN_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n")
    expected = json.loads(SNAPSHOT.read_text())
    assert actual == expected, "the asset graph changed: review and regenerate the snapshot (see the docstring)"


@pytest.fixture(scope="module")
def defs(tmp_path_factory):
    from tests.test_definitions import load_definitions

    with pytest.MonkeyPatch.context() as patch:
        yield load_definitions(tmp_path_factory.mktemp("graph_home"), patch)
