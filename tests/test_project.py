"""Project files users rely on: citation metadata, license, declared dependencies, README."""

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

import yaml

from conftest import REPO


def test_citation_cff_is_cff_120_and_cites_the_review():
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors"):
        assert cff[key]
    titles = [ref.get("title", "") for ref in cff.get("references", [])]
    assert "Search for dark sector physics with NA64" in titles


def test_dependencies_are_declared():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = " ".join(meta["dependencies"]).lower()
    for name in ("pyhf", "iminuit", "numpy", "scipy", "uproot", "awkward", "boost-histogram", "hist",
                 "matplotlib", "mplhep", "pyyaml", "click", "dask[distributed]"):
        assert name in declared, name
    assert any("pytest" in d for d in meta["optional-dependencies"]["test"])
    assert meta["requires-python"] == ">=3.10"


def test_readme_quick_start_has_two_commands():
    text = (REPO / "README.md").read_text()
    assert "Quick start" in text
    assert "na64stat run" in text and "pytest" in text
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
