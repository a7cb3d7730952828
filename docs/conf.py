"""Sphinx configuration: API reference from the docstrings (autodoc, autosummary, napoleon for numpy
style).

Build (what .ci/run does, warnings are errors)::

    pip install ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document the checked-out sources (the same tree the tests run)

from na64stat import __version__  # noqa: E402

project = "na64stat"
author = "na64stat developers"
copyright = "na64stat developers, MIT license"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",  # CHANGELOG.md and CONTRIBUTING.md, included as they are
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}

# API reference: one page per module, generated at build time (docs/api/ is not committed)
autosummary_generate = True
autosummary_imported_members = False
autodoc_member_order = "bysource"
autodoc_typehints = (
    "signature"  # types in the signature; the docstrings say what each parameter means
)
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_mock_imports: list[str] = []

napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True

html_theme = "furo"
html_title = f"na64stat {release}"
html_static_path: list[str] = []
