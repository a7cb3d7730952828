"""HEPData export of limits with the ecosystem's own tools (hepdata_lib, hepdata-validator).

:func:`write_hepdata` turns a recast limits file (``na64stat recast`` /
``couplings.json``) into a HEPData submission: ``submission.yaml`` plus one
table per coupling, the mass as the independent variable (GeV) and the
observed limit and each expected band (-2..+2 sigma) as their own dependent
columns with qualifiers (the run's confidence level, band, setup, beam). Each
table carries HEPData's keywords: the reaction (``E- PB --> E- PB A'``), the
observable (``UL``) and the centre-of-mass energy of the beam particle on a
target nucleon (``cmenergies``; the beam energy itself is the ``Beam``
qualifier). The pyhf likelihood (``bkgonly.json`` + ``patchset.json``), where
given, is attached as an additional resource of type ``HistFactory``, as
HEPData expects of full likelihoods (a ``.tar.gz`` of the two files, read
with pyhf first). The folder is validated with
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
from na64stat.results.recast import RecastPoint, RecastResult

__all__ = ["write_hepdata", "validate_hepdata", "COUPLING_NAMES", "LIKELIHOOD_ARCHIVE"]

#: File name of the attached pyhf likelihood (bkgonly.json + patchset.json).
LIKELIHOOD_ARCHIVE = "likelihood.tar.gz"
#: Nucleon mass [GeV] (the proton's) of the centre-of-mass energy keyword (beam particle on a target
#: nucleon).
_NUCLEON_MASS_GEV = 0.93827
#: HEPData's name and the mass [GeV] of each beam particle.
_BEAM = {"electron": ("E-", 0.000511), "muon": ("MU-", 0.10566)}

#: HEPData variable names (LaTeX) of the recast couplings.
COUPLING_NAMES: dict[str, str] = {
    "epsilon": "$\\epsilon$",
    "epsilon2": "$\\epsilon^2$",
    "e_mu": "$g_{Z'}$",
    "y": "$y$",
}
#: The columns of each table: the limit (:meth:`RecastPoint.limit`) and its label.
_COLUMNS = (
    ("observed", "Observed"),
    ("median", "Expected"),
    ("-1sigma", "Expected -1 sigma"),
    ("+1sigma", "Expected +1 sigma"),
    ("-2sigma", "Expected -2 sigma"),
    ("+2sigma", "Expected +2 sigma"),
)


def validate_hepdata(folder: str | os.PathLike[str]) -> None:
    """Validate a submission folder with the HEPData validator; raise InputError with its
    messages.
    """
    from hepdata_validator.full_submission_validator import FullSubmissionValidator

    validator = FullSubmissionValidator()
    if not validator.validate(directory=str(folder)):
        messages: list[str] = []
        for path, errors in validator.get_messages().items():
            messages.extend(f"{Path(path).name}: {e.message}" for e in errors)
        raise InputError(f"HEPData submission {folder} is not valid: {'; '.join(messages)[:800]}")


def write_hepdata(
    couplings: RecastResult | Mapping[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    couplings_to_export: Sequence[str] = ("epsilon",),
    title: str = "na64stat limits",
    description: str | None = None,
    mass_name: str = "$m_{A'}$",
    setup: str | None = None,
    source: str = "the couplings file",
    references: Sequence[str] = (),
    confidence_level: float | None = None,
    likelihood: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a validated HEPData submission for the limits in ``couplings`` into ``out_dir``.

    The y table's independent variable is m_chi (m_A' divided by the
    couplings file's ``settings.mass_ratio``, default 3), with alpha_D and
    m_A'/m_chi as qualifiers, as y is drawn; the other tables use
    ``mass_name`` (m_A'). ``references`` (journal / arXiv citations) go into
    the submission comment and each table's description.

    ``couplings`` is a :class:`~na64stat.results.recast.RecastResult`, or the content of a recast
    file (``{"points": {key: {"observed": {...}, "expected_median": {...}, ...}}}``, checked as a
    file). Returns the folder. A point without a limit in some column (NaN / None)
    gets HEPData's ``-`` there (tables are rectangular).

    ``confidence_level`` is that of the limits: by default the couplings
    file's ``settings.confidence_level`` (``na64stat recast`` copies it from
    the limits file); a file without one needs it given, and a given one must
    agree with the file's. ``setup`` (a predefined setup's name) gives the
    beam, its energy and the target of the keywords. ``likelihood`` is a
    folder with the ``bkgonly.json`` and ``patchset.json`` of the limits, to
    attach.
    """
    from hepdata_lib import Submission

    if not isinstance(couplings, RecastResult):
        couplings = _read_couplings(couplings, source)
    _check_limits(couplings.points, source)
    unknown = [c for c in couplings_to_export if c not in COUPLING_NAMES]
    if unknown:
        raise InputError(f"cannot export coupling(s) {unknown}; known: {', '.join(COUPLING_NAMES)}")
    ordered = couplings.by_mass()
    settings = couplings.settings
    cl = _confidence_level(confidence_level, settings.get("confidence_level"), source)
    description = description or f"{_percent(cl)} CL upper limits computed with na64stat (CLs)."
    cited = "" if not references else " References: " + "; ".join(references) + "."
    options: dict[str, Any] = {
        "title": title,
        "mass_name": mass_name,
        "setup": setup,
        "cl": cl,
        "beam": _beam(setup),
        "alpha_d": float(settings.get("alpha_d") or 0.1),
        "ratio": float(settings.get("mass_ratio") or 3.0),
        "description": description,
        "cited": cited,
    }
    submission = Submission()
    submission.comment = description + cited
    with tempfile.TemporaryDirectory() as archive_dir:
        if likelihood is not None:  # copied into the submission when its files are written, below
            archive = _likelihood_archive(Path(likelihood), Path(archive_dir) / LIKELIHOOD_ARCHIVE)
            submission.add_additional_resource(
                "The pyhf likelihood of these limits: the background-only workspace (bkgonly.json) "
                "and one signal patch per point (patchset.json), for 'pyhf patchset apply' "
                "and 'pyhf cls'." + cited,
                str(archive),
                copy_file=True,
                file_type="HistFactory",
            )
        for coupling in couplings_to_export:
            submission.add_table(_table(coupling, ordered, **options))
        return _write_validated(submission, out_dir)


def _table(
    coupling: str,
    ordered: Sequence[RecastPoint],
    *,
    title: str,
    description: str,
    cited: str,
    mass_name: str,
    alpha_d: float,
    ratio: float,
    cl: float,
    setup: str | None,
    beam: tuple[str, str, float, str] | None,
) -> Any:
    """One hepdata_lib table: the ``coupling`` limits against the mass (against m_chi for y)."""
    from hepdata_lib import Table, Variable

    table = Table(f"Upper limits on {coupling}")
    on_chi = coupling == "y"
    versus = "$m_{\\chi}$" if on_chi else mass_name
    table.description = (
        f"{title}: {_percent(cl)} CL upper limits on {COUPLING_NAMES[coupling]} versus {versus}"
        + (f" for alpha_D = {alpha_d:g} and m_A'/m_chi = {ratio:g}" if on_chi else "")
        + f". {description}{cited}"
    )
    table.location = "na64stat output"
    table.keywords["observables"] = ["UL"]
    table.keywords["phrases"] = [
        "Dark photon",
        "Light dark matter",
        "Missing energy",
        "Upper limit",
    ]
    if beam is not None:
        particle, target, sqrt_s, _ = beam
        boson = "Z'" if coupling == "e_mu" else "A'"
        table.keywords["reactions"] = [f"{particle} {target} --> {particle} {target} {boson}"]
        table.keywords["cmenergies"] = [sqrt_s]
    masses = [p.mass_gev for p in ordered]
    x = Variable(versus, is_independent=True, is_binned=False, units="GeV")
    x.values = [float(f"{m / ratio:.6g}") for m in masses] if on_chi else masses
    table.add_variable(x)
    for which, label in _COLUMNS:
        y = Variable(
            f"{label} {COUPLING_NAMES[coupling]}", is_independent=False, is_binned=False, units=""
        )
        y.values = [_value(p.coupling(coupling, which)) for p in ordered]
        y.add_qualifier("CL", _percent(cl))
        y.add_qualifier("Limit", label)
        if on_chi:
            y.add_qualifier("$\\alpha_D$", f"{alpha_d:g}")
            y.add_qualifier("$m_{A'}/m_{\\chi}$", f"{ratio:g}")
        if setup:
            y.add_qualifier("Setup", setup)
        if beam is not None:
            y.add_qualifier("Beam", beam[3])
        table.add_variable(y)
    return table


def _write_validated(submission: Any, out_dir: str | os.PathLike[str]) -> Path:
    """hepdata_lib's files into a scratch folder next to ``out_dir``, validated, then moved into
    place.
    """
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


def _percent(cl: float) -> str:
    """A confidence level as HEPData's qualifiers write it.

    >>> _percent(0.9), _percent(0.95), _percent(0.6827)
    ('90%', '95%', '68.27%')
    """
    return f"{cl * 100:.4g}%"


def _confidence_level(given: float | None, recorded: Any, source: str) -> float:
    """The limits' confidence level: the couplings file's, or the one given (which must then
    agree).
    """
    from na64stat.core.checks import check_number

    for value, what in (
        (given, "confidence level"),
        (recorded, f"{source}: settings.confidence_level"),
    ):
        if value is not None:
            number = check_number(value, what, positive=True)
            if number is None or not number < 1:
                raise InputError(f"{what} must be between 0 and 1, got {value!r}")
    if recorded is None and given is None:
        raise InputError(
            f"{source}: no confidence level in its settings (a couplings file written before "
            "na64stat recorded it): rerun 'na64stat recast' on the limits file, or give it (--cl)"
        )
    if (
        given is not None
        and recorded is not None
        and not math.isclose(float(given), float(recorded), rel_tol=1e-9)
    ):
        raise InputError(
            f"{source}: the limits are at {_percent(float(recorded))} CL, not the "
            f"{_percent(float(given))} given"
        )
    return float(given if given is not None else recorded)


def _beam(setup: str | None) -> tuple[str, str, float, str] | None:
    """HEPData's beam particle, target, centre-of-mass energy per target nucleon [GeV] and a beam
    label of a predefined setup (None for no or an unknown setup).
    """
    if not setup:
        return None
    from na64stat.physics.setups import SETUPS

    if setup not in SETUPS:
        return None
    s = SETUPS[setup]
    particle, mass = _BEAM[s.beam]
    sqrt_s = math.sqrt(mass**2 + _NUCLEON_MASS_GEV**2 + 2 * s.beam_energy_gev * _NUCLEON_MASS_GEV)
    return (
        particle,
        s.target.name.upper(),
        float(f"{sqrt_s:.4g}"),
        f"{s.beam_energy_gev:g} GeV {particle}",
    )


def _likelihood_archive(folder: Path, archive: Path) -> Path:
    """``bkgonly.json`` and ``patchset.json`` of ``folder``, validated with pyhf, as a
    byte-reproducible ``.tar.gz``.
    """
    import gzip
    import io
    import tarfile

    from na64stat.model.workspace import load_patchset, load_workspace

    files = [folder / "bkgonly.json", folder / "patchset.json"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise InputError(
            f"likelihood folder {folder}: no {', '.join(missing)} (the workspace the limits came "
            "from)"
        )
    load_patchset(
        files[1], load_workspace(files[0])
    )  # a likelihood pyhf reads, or an InputError naming the file
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in files:  # fixed names, times and owners: equal workspaces give equal archives
            data = path.read_bytes()
            info = tarfile.TarInfo(path.name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    archive.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
    return archive


def _read_couplings(content: Any, source: str) -> RecastResult:
    """A ``couplings.json`` content, checked as a file (:func:`_check_points`)."""
    points = content.get("points") if isinstance(content, Mapping) else None
    if not isinstance(points, Mapping) or not points:
        raise InputError(f"{source}: no points to export (write it with 'na64stat recast')")
    _check_points(points, source)
    return RecastResult.from_dict(content, source)


def _check_limits(points: Sequence[RecastPoint], source: str) -> None:
    """Some points, each with an observed or a median expected limit."""
    if not points:
        raise InputError(f"{source}: no points to export (write it with 'na64stat recast')")
    for point in points:
        if point.observed is None and point.limit("median") is None:
            raise InputError(
                f"{source}: point {point.key!r}: has neither an observed nor a median expected "
                "limit"
            )


def _check_points(points: Mapping[str, Any], source: str) -> None:
    """Every column of every point: None, or an object with a mass in (0, 100] GeV and finite,
    non-negative couplings.
    """
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


def _value(value: float) -> float | str:
    """A limit as HEPData's table holds it: 5 significant digits, ``-`` where there is none."""
    return float(f"{value:.5g}") if math.isfinite(value) else "-"
