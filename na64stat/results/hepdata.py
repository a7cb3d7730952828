"""HEPData export of limits with the ecosystem's own tools (hepdata_lib, hepdata-validator).

:func:`write_hepdata` turns a recast limits file (``na64stat recast`` /
``couplings.json``) into a HEPData submission: ``submission.yaml`` plus one
table per coupling, the mass as the independent variable (GeV) and the
observed limit and each expected band (-2..+2 sigma) as their own dependent
columns with qualifiers (CL, band, setup). The folder is validated with
``hepdata_validator.FullSubmissionValidator`` and moved into place only when
it is valid, so a failed export leaves nothing behind (hepdata_lib's
``submission.tar.gz``, which it writes into the working directory, is made in
a scratch folder and dropped: ``tar czf`` of the folder gives it).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from na64stat.core.errors import InputError
from na64stat.results.recast import RecastResult

__all__ = ["write_hepdata", "validate_hepdata", "COUPLING_NAMES"]

#: HEPData variable names (LaTeX) of the recast couplings.
COUPLING_NAMES: dict[str, str] = {
    "epsilon": "$\\epsilon$",
    "epsilon2": "$\\epsilon^2$",
    "e_mu": "$g_{Z'}$",
    "y": "$y$",
}
_COLUMNS = (("observed", "Observed"), ("expected_median", "Expected"), ("expected_-1sigma", "Expected -1 sigma"),
            ("expected_+1sigma", "Expected +1 sigma"), ("expected_-2sigma", "Expected -2 sigma"),
            ("expected_+2sigma", "Expected +2 sigma"))


def validate_hepdata(folder: str | os.PathLike[str]) -> None:
    """Validate a submission folder with the HEPData validator; raise InputError with its messages."""
    from hepdata_validator.full_submission_validator import FullSubmissionValidator

    validator = FullSubmissionValidator()
    if not validator.validate(directory=str(folder)):
        messages: list[str] = []
        for path, errors in validator.get_messages().items():
            messages.extend(f"{Path(path).name}: {e.message}" for e in errors)
        raise InputError(f"HEPData submission {folder} is not valid: {'; '.join(messages)[:800]}")


# long (63 lines): the input checks, then one hepdata_lib table per coupling and the atomic write, in sequence
def write_hepdata(
    couplings: RecastResult | Mapping[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    couplings_to_export: Sequence[str] = ("epsilon",),
    title: str = "na64stat limits",
    description: str = "90% CL upper limits computed with na64stat (CLs).",
    mass_name: str = "$m_{A'}$",
    setup: str | None = None,
    source: str = "the couplings file",
    references: Sequence[str] = (),
) -> Path:
    """Write a validated HEPData submission for the limits in ``couplings`` into ``out_dir``.

    The y table's independent variable is m_chi (m_A' divided by the
    couplings file's ``settings.mass_ratio``, default 3), with alpha_D and
    m_A'/m_chi as qualifiers, as y is drawn; the other tables use
    ``mass_name`` (m_A'). ``references`` (journal / arXiv citations) go into
    the submission comment and each table's description.

    ``couplings`` is the content of a recast file: ``{"points": {key: {"observed": {...}, "expected_median": {...}, ...}}}``.
    Returns the folder. A point without a limit in some column (NaN / None)
    gets HEPData's ``-`` there (tables are rectangular).
    """
    from hepdata_lib import Submission, Table, Variable

    if isinstance(couplings, RecastResult):
        couplings = couplings.to_dict()
    points = couplings.get("points") if isinstance(couplings, Mapping) else None
    if not isinstance(points, Mapping) or not points:
        raise InputError(f"{source}: no points to export (write it with 'na64stat recast')")
    _check_points(points, source)
    unknown = [c for c in couplings_to_export if c not in COUPLING_NAMES]
    if unknown:
        raise InputError(f"cannot export coupling(s) {unknown}; known: {', '.join(COUPLING_NAMES)}")
    ordered = sorted(points.values(), key=_mass)
    masses = [_mass(v) for v in ordered]
    raw_settings = couplings.get("settings")
    settings = raw_settings if isinstance(raw_settings, Mapping) else {}
    alpha_d = float(settings.get("alpha_d") or 0.1)
    ratio = float(settings.get("mass_ratio") or 3.0)
    cited = "" if not references else " References: " + "; ".join(references) + "."
    submission = Submission()
    submission.comment = description + cited
    for coupling in couplings_to_export:
        table = Table(f"Upper limits on {coupling}")
        on_chi = coupling == "y"
        versus = "$m_{\\chi}$" if on_chi else mass_name
        table.description = (f"{title}: 90% CL upper limits on {COUPLING_NAMES[coupling]} versus {versus}"
                             + (f" for alpha_D = {alpha_d:g} and m_A'/m_chi = {ratio:g}" if on_chi else "")
                             + f". {description}{cited}")
        table.location = "na64stat output"
        table.keywords["observables"] = ["UL"]
        table.keywords["phrases"] = ["Dark photon", "Light dark matter", "Missing energy", "Upper limit"]
        x = Variable(versus, is_independent=True, is_binned=False, units="GeV")
        x.values = [float(f"{m / ratio:.6g}") for m in masses] if on_chi else masses
        table.add_variable(x)
        for key, label in _COLUMNS:
            y = Variable(f"{label} {COUPLING_NAMES[coupling]}", is_independent=False, is_binned=False, units="")
            y.values = [_value(v.get(key), coupling) for v in ordered]
            y.add_qualifier("CL", "90%")
            y.add_qualifier("Limit", label)
            if on_chi:
                y.add_qualifier("$\\alpha_D$", f"{alpha_d:g}")
                y.add_qualifier("$m_{A'}/m_{\\chi}$", f"{ratio:g}")
            if setup:
                y.add_qualifier("Setup", setup)
            table.add_variable(y)
        submission.add_table(table)
    # absolute before hepdata_lib runs in a scratch working directory (a relative
    # temporary path would then point into the scratch folder)
    target = Path(out_dir).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        # hepdata_lib also writes submission.tar.gz into the working directory: keep it out of the
        # user's folder (and out of the submission, which the validator would reject with it)
        with tempfile.TemporaryDirectory() as scratch, _working_directory(Path(scratch)):
            submission.create_files(str(tmp), validate=False)
        validate_hepdata(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _check_points(points: Mapping[str, Any], source: str) -> None:
    """Every column of every point: None, or an object with a mass in (0, 100] GeV and finite, non-negative couplings."""
    from na64stat.core.checks import check_mass, check_number

    for key, point in points.items():
        where = f"{source}: point {key!r}"
        if not isinstance(point, Mapping):
            raise InputError(f"{where}: expected an object of limits, got {point!r}")
        if not any(isinstance(point.get(k), Mapping) for k in ("observed", "expected_median")):
            raise InputError(f"{where}: has neither an observed nor a median expected limit")
        for column, entry in point.items():
            if entry is None:
                continue
            if not isinstance(entry, Mapping):
                raise InputError(f"{where}: {column} must be an object or null, got {entry!r}")
            check_mass(entry.get("mass_gev"), f"{where}: {column}.mass_gev")
            for name in COUPLING_NAMES:
                if name in entry:
                    check_number(entry[name], f"{where}: {column}.{name}", allow_none=True)


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    """Run a block in ``path`` (process-wide: an export is not run from several threads at once)."""
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _mass(point: Mapping[str, Any]) -> float:
    for key in ("observed", "expected_median"):
        if point.get(key):
            return float(point[key]["mass_gev"])
    raise InputError(f"a limits point has no mass: {point}")


def _value(entry: Mapping[str, Any] | None, coupling: str) -> float | str:
    if not entry or entry.get(coupling) is None or not math.isfinite(float(entry[coupling])):
        return "-"
    return float(f"{float(entry[coupling]):.5g}")
