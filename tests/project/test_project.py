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
    for name in (
        "pyhf",
        "iminuit",
        "numpy",
        "scipy",
        "uproot",
        "awkward",
        "boost-histogram",
        "hist",
        "matplotlib",
        "mplhep",
        "pyyaml",
        "click",
        "dask[distributed]",
    ):
        assert name in declared, name
    assert any("pytest" in d for d in meta["optional-dependencies"]["test"])
    assert meta["requires-python"] == ">=3.10"


def test_readme_quick_start_has_two_commands():
    text = (REPO / "README.md").read_text()
    assert "Quick start" in text
    assert "na64stat run" in text and "pytest" in text
    assert (REPO / "LICENSE").read_text().startswith("MIT License")


def test_ci_finds_the_readme_quick_start_commands():
    """.ci/run runs these two lines of the README as printed (parsed by .ci/readme_commands.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "readme_commands", REPO / ".ci" / "readme_commands.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    commands = module.quick_start_commands(REPO / "README.md")
    assert commands["main"].endswith(".venv/bin/na64stat run") and "pip install" in commands["main"]
    assert (
        commands["tests"].endswith(".venv/bin/python -m pytest")
        and '".[test]"' in commands["tests"]
    )


def test_packaging_metadata():
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    project = meta["project"]
    assert project["license"] == "MIT" and not any(
        c.startswith("License ::") for c in project["classifiers"]
    )
    assert "Programming Language :: Python :: 3.11" in project["classifiers"]
    assert any(r.startswith("setuptools>=77") for r in meta["build-system"]["requires"])
    numpy = next(d for d in project["dependencies"] if d.startswith("numpy"))
    assert "<2.4" in numpy  # pyhf 0.7.6 toys and numpy >= 2.4
    data = meta["tool"]["setuptools"]["package-data"]["na64stat"]
    assert (
        "selections/*.yaml" in data
        and "workspaces/*/*.json" in data
        and "workspaces/*/inputs/*" in data
    )
    for link in ("selections", "workspaces"):
        assert (REPO / link).is_symlink() and (REPO / link).resolve() == (
            REPO / "na64stat" / link
        ).resolve()
