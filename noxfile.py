"""Development and CI sessions: ``nox -l`` lists them, ``nox -s lint`` runs one.

Each session installs what it needs into a virtual environment of its own under ``.nox/`` (with uv
where it is installed), so any one of them runs alone on a fresh checkout. CI (``.ci/run``) runs
them in the environment it has already built from the ``dev`` and ``docs`` extras, as
``nox --no-venv -s NAME`` (then nothing is installed), except ``lowest``, which needs a fresh
environment. Arguments after ``--`` go to the session's main command (pytest, sphinx-build):
``nox -s tests -- tests/results -n 0``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import nox

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests"]  # what a bare `nox` runs

ROOT = Path(__file__).resolve().parent
BINARY = (".png", ".pdf", ".root", ".npz", ".gz")


def install(session: nox.Session, *args: str) -> None:
    """``session.install``, except under ``--no-venv`` (CI's environment already has everything)."""
    if session.venv_backend != "none":
        session.install(*args)


def tracked_files(*suffixes: str) -> list[str]:
    """The files git tracks (no symbolic links, no binary files), those ending in ``suffixes`` if
    any.
    """
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    files = [f for f in listing.split("\0") if f and not (ROOT / f).is_symlink()]
    files = [f for f in files if not f.endswith(BINARY)]
    return [f for f in files if f.endswith(suffixes)] if suffixes else files


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff (lint and format), codespell, mypy and pre-commit's file checks: CI's step 2a.

    The same checks as ``.pre-commit-config.yaml``, at the same versions (the ``dev`` extra), run
    from PyPI packages on every tracked file. The fixers among them (end of file, trailing
    whitespace) fix the files they fail on, as pre-commit does.
    """
    install(session, "-e", ".[dev]")
    session.run("ruff", "check", "--no-cache", "--output-format", "concise", ".")
    session.run("ruff", "format", "--check", "--no-cache", ".")
    files = tracked_files()
    checks = [
        ("codespell", files),
        ("check-yaml", tracked_files(".yaml", ".yml", ".cff")),
        ("check-toml", tracked_files(".toml")),
        ("check-json", tracked_files(".json")),
        ("check-merge-conflict", files),
        ("check-case-conflict", files),
        ("end-of-file-fixer", files),
        ("trailing-whitespace-fixer", files),
        ("mixed-line-ending --fix=lf", files),
        ("debug-statement-hook", tracked_files(".py")),
    ]
    for command, paths in checks:
        session.log(f"{command} on {len(paths)} tracked files")
        session.run(*command.split(), *paths, log=False)
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """The default tests (what the README's test command runs)."""
    install(session, ".[test]")
    session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def slow(session: nox.Session) -> None:
    """The tests marked slow."""
    install(session, ".[test]")
    session.run("python", "-m", "pytest", "-m", "slow", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def coverage(session: nox.Session) -> None:
    """Every test, default and slow, with branch coverage of na64stat: CI's step 3.

    Settings in ``[tool.coverage]`` of pyproject.toml; the table (files under 100% with their
    missed lines) ends with the TOTAL line that CI prints.
    """
    install(session, ".[test]", "pytest-cov>=5")
    session.run(
        "python", "-m", "pytest", "-m", "slow or not slow", "-p", "no:cacheprovider",
        "--cov", "--cov-report=term-missing:skip-covered", *session.posargs,
    )  # fmt: skip


@nox.session
def docs(session: nox.Session) -> None:
    """The Sphinx documentation, warnings as errors (into docs/_build/html, or the folder given)."""
    install(session, ".[docs]")
    out = session.posargs[0] if session.posargs else "docs/_build/html"
    session.run("sphinx-build", "-W", "--keep-going", "-q", "-b", "html", "docs", out)


@nox.session
def examples(session: nox.Session) -> None:
    """Every script in examples/, each as a user runs it."""
    install(session, ".")
    for script in sorted(ROOT.glob("examples/*.py")):
        session.log(f"examples: {script.name}")
        session.run("python", str(script))


@nox.session(venv_backend="uv")
def lowest(session: nox.Session) -> None:
    """The default tests with the lowest versions pyproject.toml allows for the direct dependencies.

    ``uv pip install --resolution lowest-direct`` in a fresh environment (never ``--no-venv``): the
    lower bounds must be true. The versions installed are listed first. Deprecation warnings are
    shown, not errors, here: the old direct dependencies meet the newest of theirs (matplotlib 3.7
    calls pyparsing 3.3's deprecated camelCase names; mplhep 0.3.40 imports matplotlib.docstring),
    which is no fault of na64stat's; the other tests keep them errors.
    """
    session.install("--resolution", "lowest-direct", ".[test]")
    session.run("uv", "pip", "list", silent=False)
    session.run(
        "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "-W", "default::DeprecationWarning", *session.posargs,
    )  # fmt: skip
