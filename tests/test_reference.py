"""The reference lists: dbt_project/reference holds shared/reference's files unchanged (SHA256SUMS was taken
from them), and LAN_REFERENCE_DIR can extend them."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from ingest.reference import load_reference, squash
from ingest.settings import REFERENCE_DIR

NAMES = ("lan_sites.csv", "ethnic_category.csv", "measures.csv")


@pytest.mark.parametrize("name", NAMES)
def test_reference_file_is_the_shared_one_unchanged(name):
    sums = dict(line.split()[::-1] for line in (REFERENCE_DIR / "SHA256SUMS").read_text().splitlines())
    assert hashlib.sha256((REFERENCE_DIR / name).read_bytes()).hexdigest() == sums[name]


def test_reference_lists_as_the_parser_sees_them():
    ref = load_reference()
    assert len(ref.site_codes) == 10 and "BARTS" in ref.site_codes
    assert len(ref.measure_codes) == 7
    assert ref.ethnic_codes[0] == "A" and ref.ethnic_codes[-1] == "99"
    assert ref.known_ethnic_codes == frozenset(ref.ethnic_codes) - {"Z", "99"}
    lookup = ref.ethnic_lookup()
    assert lookup[squash("black or black british - AFRICAN")] == "N"
    assert lookup[squash("Not stated")] == "Z" and lookup[squash("unknown")] == "99" and lookup[""] == "99"


def test_a_longer_site_list_from_lan_reference_dir(tmp_path, monkeypatch):
    for name in NAMES:
        shutil.copyfile(REFERENCE_DIR / name, tmp_path / name)
    with (tmp_path / "lan_sites.csv").open("a") as f:
        f.write("S001,Synthetic Trust,Some ICS,London\n")
    monkeypatch.setenv("LAN_REFERENCE_DIR", str(tmp_path))
    assert "S001" in load_reference().site_codes
    monkeypatch.delenv("LAN_REFERENCE_DIR")
    assert "S001" not in load_reference().site_codes
