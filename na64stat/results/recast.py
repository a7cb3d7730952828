"""Recasts: an upper limit on the signal strength mu into couplings.

A signal patch is made with a reference coupling (its metadata says which);
invisible yields scale as the coupling squared, so a limit mu_up gives
coupling^2_up = mu_up * coupling_ref^2. From there:

* dark photon, invisible: eps^2 and eps;
* L_mu - L_tau Z' from NA64e: e_mu through the on-shell loop mixing (eq. 54)
  and Br(Z' -> invisible): e_mu^2 = eps^2 / (kappa(m)^2 Br_inv(m));
* L_mu - L_tau Z' from NA64mu: e_mu directly (the signal already includes Br);
* Br(Z' -> invisible) under a named convention (``branching``:
  ``"physical"`` from the widths, the default, or ``"darkcast"`` = 1; see
  :data:`na64stat.physics.decays.BRANCHING_CONVENTIONS`); an ``lmutau`` signal
  made under one convention is recast to another with e_mu x sqrt(Br_made / Br_wanted);
* light dark matter: y = eps^2 alpha_D (m_chi/m_A')^4 and the alpha_D below
  which a thermal relic is excluded; for pseudo-Dirac DM optionally the
  Appendix B long-lived correction eps^2 / P_min (eq. 131).

Examples
--------
>>> round(float(epsilon2_from_mu(2.0, 1e-4)), 12)
2e-08
>>> round(float(e_mu_from_epsilon2(6.93e-6**2, 0.001)) * 1e4, 2)
4.8
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import ArrayLike

from na64stat.core.checks import check_mass, check_number
from na64stat.core.errors import InputError
from na64stat.core.vocabulary import BAND_NAMES
from na64stat.inference.scan import ScanPoint, ScanResult
from na64stat.physics.couplings import (
    mixing_from_e_mu,
    relic_target_y,
    relic_target_y_full,
    y_from_epsilon2,
)
from na64stat.physics.decays import branching_zprime_invisible, check_branching_convention
from na64stat.physics.longlived import epsilon2_limit_correction
from na64stat.physics.models import get_model, model_names
from na64stat.physics.setups import get_setup

__all__ = [
    "DM_MODELS",
    "epsilon2_from_mu",
    "coupling_from_mu",
    "e_mu_from_epsilon2",
    "alpha_d_excluded_below",
    "Recast",
    "recast_limit",
    "recast_limits_file",
    "LIMIT_NAMES",
    "RecastPoint",
    "RecastResult",
]

DM_MODELS = ("scalar", "majorana", "pseudodirac")


def epsilon2_from_mu(mu: ArrayLike, epsilon_ref: float) -> np.ndarray:
    """eps^2 limit from a mu limit on a signal made with eps = ``epsilon_ref``."""
    return np.asarray(mu, dtype=float) * epsilon_ref**2


def coupling_from_mu(mu: ArrayLike, coupling_ref: float) -> np.ndarray:
    """Coupling limit sqrt(mu) * coupling_ref (yield proportional to coupling^2)."""
    return np.sqrt(np.asarray(mu, dtype=float)) * coupling_ref


def e_mu_from_epsilon2(
    epsilon2: ArrayLike, mass_gev: ArrayLike, branching: str = "physical"
) -> np.ndarray:
    """L_mu - L_tau coupling from an NA64e dark-photon eps^2 limit at mass ``mass_gev`` [GeV].

    e_mu^2 = eps^2 / (kappa^2 Br_inv), kappa = ``|eps(e_mu = 1, q^2 = m^2)|`` (eq. 54),
    Br_inv under the ``branching`` convention (``"physical"`` or ``"darkcast"``).
    """
    m = np.asarray(mass_gev, dtype=float)
    br = branching_zprime_invisible(m, branching)
    return np.sqrt(np.asarray(epsilon2, dtype=float) / br) / mixing_from_e_mu(1.0, m**2)


def alpha_d_excluded_below(
    epsilon2_limit: ArrayLike,
    m_chi_gev: ArrayLike,
    dm_model: Literal["scalar", "majorana", "pseudodirac"],
    mass_ratio: float = 3.0,
) -> np.ndarray:
    """alpha_D below which the thermal-relic target of ``dm_model`` is excluded.

    On the relic line y = y_relic: eps^2 = y_relic (m_A'/m_chi)^4 / alpha_D, excluded
    where it exceeds the limit, i.e. for alpha_D < y_relic ratio^4 / eps^2_limit.
    Uses the full relic curves (``resources``) at m_A' = 3 m_chi, the Appendix A
    estimates otherwise (pseudo-Dirac as Dirac there).
    """
    if dm_model not in DM_MODELS:
        raise InputError(
            f"unknown dark-matter model {dm_model!r}; choose one of {', '.join(DM_MODELS)}"
        )
    m = np.asarray(m_chi_gev, dtype=float)
    if math.isclose(mass_ratio, 3.0):
        y_relic = relic_target_y_full(m, dm_model)
    else:
        y_relic = relic_target_y(m, "dirac" if dm_model == "pseudodirac" else dm_model, mass_ratio)
    return y_relic * mass_ratio**4 / np.asarray(epsilon2_limit, dtype=float)


@dataclass(frozen=True)
class Recast:
    """Couplings excluded at one mass (NaN where not applicable)."""

    mass_gev: float
    mu: float
    epsilon2: float
    epsilon: float
    e_mu: float
    y: float
    alpha_d_excluded_below: float
    long_lived_correction: float

    def to_dict(self) -> dict[str, Any]:
        """The entry of ``couplings.json`` (NaN where a coupling does not apply)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> Recast:
        """An entry of ``couplings.json``: a missing or null number is NaN.

        >>> Recast.from_dict({"mass_gev": 0.01, "epsilon": 1e-5}).epsilon2
        nan
        """
        return cls(**{f.name: _float(entry.get(f.name)) for f in fields(cls)})


def _float(value: Any) -> float:
    """A number as a float; NaN for null or anything that is not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)


def recast_limit(
    mu: float,
    mass_gev: float,
    signal_model: str,
    reference_coupling: float,
    beam: Literal["electron", "muon"] = "electron",
    *,
    alpha_d: float = 0.1,
    mass_ratio: float = 3.0,
    dm_model: Literal["scalar", "majorana", "pseudodirac"] = "scalar",
    long_lived: bool = False,
    branching: str = "physical",
    signal_branching: str = "physical",
) -> Recast:
    """All couplings a mu limit implies at ``mass_gev`` [GeV].

    The signal yield scales as the coupling squared, so a limit mu on the
    signal strength of a patch made at coupling g_ref is a limit
    g^2 = mu g_ref^2: eps^2 for a dark photon, e_mu^2 for an L_mu - L_tau Z';
    y = eps^2 alpha_D (m_chi / m_A')^4 and the alpha_D excluded below follow.

    Parameters
    ----------
    mu : float
        Upper limit on the signal strength (dimensionless).
    mass_gev : float
        A' / Z' mass [GeV].
    signal_model : str
        What the signal patch was made with (a registered model,
        :mod:`na64stat.physics.models`): eps for ``dark_photon``, e_mu for
        ``lmutau``; the eps and e_mu readings of other models are NaN (their own
        coupling: :func:`na64stat.results.model_recast.model_limits`).
    reference_coupling : float
        The coupling the patch's signal yields were computed at (eps or e_mu,
        dimensionless; e.g. 1e-4).
    beam : {"electron", "muon"}, optional
        How a dark-photon limit converts to e_mu: through the loop mixing for
        electrons; directly for an ``lmutau`` signal.
    alpha_d : float, optional
        Dark coupling alpha_D of the y limit.
    mass_ratio : float, optional
        m_A' / m_chi of the y and alpha_D limits.
    dm_model : {"scalar", "majorana", "pseudodirac"}, optional
        Dark-matter type of the alpha_D limit.
    long_lived : bool, optional
        Apply the Appendix B factor 1/P_min (pseudo-Dirac chi2 decays) to eps^2.
    branching : str, optional
        Br(Z' -> invisible) convention of the e_mu result (``"physical"`` or
        ``"darkcast"``).
    signal_branching : str, optional
        The convention an ``lmutau`` signal was made with.

    Returns
    -------
    Recast
        mu and the excluded eps^2, eps, e_mu, y and alpha_D (NaN where a
        coupling does not apply), and the long-lived correction used.

    Examples
    --------
    >>> r = recast_limit(2.0, 0.01, "dark_photon", 1e-4)
    >>> r.epsilon2, round(r.y / r.epsilon2 * 81, 3)
    (2e-08, 0.1)
    """
    if signal_model == "dark_photon":
        eps2 = float(epsilon2_from_mu(mu, reference_coupling))
        correction = epsilon2_limit_correction() if long_lived else 1.0
        eps2 *= correction
        e_mu = (
            float(e_mu_from_epsilon2(eps2, mass_gev, branching)) if beam == "electron" else math.nan
        )
    elif signal_model == "lmutau":
        made = float(branching_zprime_invisible(mass_gev, signal_branching))
        wanted = float(branching_zprime_invisible(mass_gev, branching))
        e_mu = float(coupling_from_mu(mu, reference_coupling)) * math.sqrt(made / wanted)
        eps2, correction = math.nan, 1.0
    else:
        get_model(signal_model)  # an InputError naming the registered models
        eps2, correction, e_mu = math.nan, 1.0, math.nan
    y = float(y_from_epsilon2(eps2, alpha_d, mass_ratio)) if math.isfinite(eps2) else math.nan
    alpha_limit = (
        float(alpha_d_excluded_below(eps2, mass_gev / mass_ratio, dm_model, mass_ratio))
        if math.isfinite(eps2)
        else math.nan
    )
    return Recast(
        mass_gev=mass_gev,
        mu=mu,
        epsilon2=eps2,
        epsilon=math.sqrt(eps2) if math.isfinite(eps2) else math.nan,
        e_mu=e_mu,
        y=y,
        alpha_d_excluded_below=alpha_limit,
        long_lived_correction=correction,
    )


def _point_beam(meta: dict[str, Any]) -> str:
    """The beam a limit point was made with: its ``beam`` (combined workspaces: ``"mixed"`` when
    several beams contribute, which has no e_mu reading of a dark-photon limit), else its
    setup's beam, else electron.
    """
    if "beam" in meta:
        return str(meta["beam"])
    return get_setup(str(meta["setup"])).beam if "setup" in meta else "electron"


def check_recast_settings(
    alpha_d: float, mass_ratio: float, reference_coupling: float | None = None
) -> None:
    """alpha_D > 0, m_A'/m_chi > 0 and a positive reference coupling, each finite."""
    check_number(alpha_d, "--alpha-d", positive=True)
    check_number(mass_ratio, "--mass-ratio", positive=True)
    if reference_coupling is not None:
        check_number(reference_coupling, "--reference-coupling", positive=True)


#: What a recast point holds: the observed limit or one of the expected bands (:data:`BAND_NAMES`).
LIMIT_NAMES: tuple[str, ...] = ("observed", *BAND_NAMES)


@dataclass(frozen=True)
class RecastPoint:
    """The couplings excluded at one scan point: observed and per expected band.

    Attributes
    ----------
    key:
        The point's key (that of ``limits.json``: the mass in GeV as ``%.6g``, else the patch name).
    mass_gev:
        The A' / Z' mass [GeV].
    observed:
        The couplings of the observed limit (None where the scan found none).
    expected:
        Those of each expected band, in :data:`~na64stat.core.vocabulary.BAND_NAMES` order (None
        where missing).

    Examples
    --------
    >>> p = RecastPoint("0.01", 0.01, recast_limit(2.0, 0.01, "dark_photon", 1e-4), (None,) * 5)
    >>> p.coupling("epsilon2"), p.coupling("epsilon2", "median"), list(p.to_dict())[:2]
    (2e-08, nan, ['observed', 'expected_-2sigma'])
    """

    key: str
    mass_gev: float
    observed: Recast | None
    expected: tuple[Recast | None, ...]

    def limit(self, which: str = "observed") -> Recast | None:
        """The couplings of ``which``: ``"observed"`` or a band name (``"median"``, ``"-1sigma"``,
        ...).
        """
        if which == "observed":
            return self.observed
        return self.expected[BAND_NAMES.index(which)]

    def coupling(self, name: str, which: str = "observed") -> float:
        """Coupling ``name`` (a :class:`Recast` field: ``"epsilon"``, ``"y"``, ``"mu"``, ...) of
        ``which`` (:meth:`limit`); NaN where there is no limit.
        """
        limit = self.limit(which)
        return math.nan if limit is None else float(getattr(limit, name))

    def to_dict(self) -> dict[str, Any]:
        """The point's entry in ``couplings.json``: ``observed`` and ``expected_<band>``, each an
        object or None.
        """
        limits = (self.observed, *self.expected)
        return {
            ("observed" if name == "observed" else f"expected_{name}"): (
                None if limit is None else limit.to_dict()
            )
            for name, limit in zip(LIMIT_NAMES, limits)
        }

    @classmethod
    def from_dict(cls, key: str, content: Mapping[str, Any]) -> RecastPoint:
        """A point of ``couplings.json``; its mass is that of its observed (else median expected)
        limit.
        """

        def read(name: str) -> Recast | None:
            entry = content.get(name)
            return Recast.from_dict(entry) if isinstance(entry, Mapping) else None

        observed = read("observed")
        expected = tuple(read(f"expected_{b}") for b in BAND_NAMES)
        known = observed or expected[BAND_NAMES.index("median")]
        return cls(key, math.nan if known is None else known.mass_gev, observed, expected)


@dataclass(frozen=True)
class RecastResult:
    """Limits of a scan in the couplings: the content of ``couplings.json``.

    Attributes
    ----------
    settings:
        How they were recast (``beam``, ``alpha_d``, ``mass_ratio``,
        ``dm_model``, ``long_lived``, ``branching``) and the confidence level of
        the limits (``confidence_level``, from the limits file; None where it has none).
    points:
        One :class:`RecastPoint` per scan point, in the scan's order.

    Examples
    --------
    >>> r = RecastResult.from_dict({"settings": {"alpha_d": 0.1},
    ...                             "points": {"0.01": {"observed": None}}})
    >>> r.to_dict()["points"]["0.01"]["observed"], r.settings["alpha_d"]
    (None, 0.1)
    """

    settings: Mapping[str, Any]
    points: tuple[RecastPoint, ...]

    def by_mass(self) -> list[RecastPoint]:
        """The points sorted by mass."""
        return sorted(self.points, key=lambda p: p.mass_gev)

    def to_dict(self) -> dict[str, Any]:
        """The ``couplings.json`` content."""
        return {
            "settings": dict(self.settings),
            "points": {p.key: p.to_dict() for p in self.points},
        }

    @classmethod
    def from_dict(cls, content: Mapping[str, Any], source: str = "couplings file") -> RecastResult:
        """Read a ``couplings.json`` content (an :class:`InputError` naming ``source`` when it is
        not one).
        """
        if not isinstance(content, Mapping) or not isinstance(content.get("points"), dict):
            raise InputError(
                f"{source}: not a couplings file (no 'points' object; write one with 'na64stat "
                "recast')"
            )
        settings = content.get("settings")
        return cls(
            settings=dict(settings) if isinstance(settings, Mapping) else {},
            points=tuple(
                RecastPoint.from_dict(str(k), v if isinstance(v, Mapping) else {})
                for k, v in content["points"].items()
            ),
        )


def _check_limits_content(content: Any, source: str) -> None:
    """A ``limits.json`` content as a file must be: a ``limits`` object of points, each an object
    with ``observed`` and/or ``expected`` limits (non-negative numbers or null) and ``metadata``,
    and a confidence level in (0, 1) where it has one.
    """
    if not isinstance(content, dict) or not isinstance(content.get("limits"), dict):
        raise InputError(
            f"{source}: not a limits file (no 'limits' object; write one with 'na64stat limits')"
        )
    for key, record in content["limits"].items():
        where = f"{source}: point {key!r}"
        if (
            not isinstance(record, dict)
            or not isinstance(record.get("metadata", {}), dict)
            or not isinstance(record.get("expected", {}), dict)
        ):
            raise InputError(
                f"{where}: expected an object with 'observed', 'expected' and 'metadata'"
            )
        if "observed" not in record and not record.get("expected"):
            raise InputError(f"{where}: has neither an observed nor an expected limit")
        check_number(record.get("observed"), f"{where}: observed limit", allow_none=True)
        for band, value in record.get("expected", {}).items():
            check_number(value, f"{where}: expected {band} limit", allow_none=True)
    confidence_level = content.get("confidence_level")
    if confidence_level is not None:
        confidence_level = check_number(
            confidence_level, f"{source}: confidence_level", positive=True
        )
        if confidence_level is None or not confidence_level < 1:
            raise InputError(
                f"{source}: confidence_level must be below 1, got {confidence_level!r}"
            )


@dataclass(frozen=True)
class _Signal:
    """What a scan point's signal was made with (checked): its mass [GeV], model, reference coupling
    and beam.
    """

    mass_gev: float
    model: Literal["dark_photon", "lmutau"]
    reference_coupling: float
    beam: Literal["electron", "muon"]
    branching: str


def _signal(
    point: ScanPoint,
    where: str,
    signal_model: str | None,
    reference_coupling: float | None,
    beam: str | None,
) -> _Signal:
    """The signal of ``point`` from its patch metadata, or the options where given (InputErrors
    naming ``where``).
    """
    meta = point.metadata
    mass = meta.get("mass_gev")
    model = signal_model or meta.get("signal_model")
    recorded = meta.get("reference_coupling")
    ref = reference_coupling if reference_coupling is not None else recorded
    if (
        reference_coupling is not None
        and isinstance(recorded, (int, float))
        and not isinstance(recorded, bool)
        and not math.isclose(float(recorded), reference_coupling, rel_tol=1e-9)
    ):
        raise InputError(
            f"{where}: its signal was made at reference coupling {recorded:g} (patch metadata), "
            f"not {reference_coupling:g}: leave out --reference-coupling (normalised workspaces "
            "have one per mass)"
        )
    if mass is None or model is None or ref is None:
        raise InputError(
            f"{where}: needs mass_gev, signal_model and reference_coupling "
            "(in its patch metadata or as options)"
        )
    mass = check_mass(mass, f"{where}: mass_gev")
    ref = check_number(ref, f"{where}: reference_coupling", positive=True)
    if model not in model_names():
        raise InputError(
            f"{where}: unknown signal model {model!r}; choose one of {', '.join(model_names())}"
        )
    return _Signal(
        mass,
        cast(Literal["dark_photon", "lmutau"], model),
        cast(float, ref),
        # "mixed" (combined beams) too: recast_limit gives no e_mu for any beam but "electron"
        cast(Literal["electron", "muon"], beam or _point_beam(dict(meta))),
        str(meta.get("branching", "physical")),
    )


def _signal_point(point: ScanPoint, mass: float) -> tuple[Any, ...]:
    """What makes two scan points the same signal: the mass, and the patch's ``values`` where it has
    several (per mass and coupling).
    """
    values = point.metadata.get("values")
    return (mass, *values) if isinstance(values, list) and len(values) > 1 else (mass,)


def recast_limits_file(
    limits: ScanResult | Mapping[str, Any],
    *,
    signal_model: str | None = None,
    reference_coupling: float | None = None,
    beam: str | None = None,
    alpha_d: float = 0.1,
    mass_ratio: float = 3.0,
    dm_model: str = "scalar",
    long_lived: bool = False,
    source: str = "limits file",
    branching: str = "physical",
) -> RecastResult:
    """Recast every point of a scan (:class:`~na64stat.inference.scan.ScanResult` or a
    ``limits.json`` content, checked as a file), observed and expected limits.

    Each point needs ``mass_gev`` in its patch metadata; ``signal_model`` and
    ``reference_coupling`` come from the metadata (keys ``signal_model``,
    ``reference_coupling``) unless given here; ``beam`` defaults to the beam of
    the metadata's ``setup`` (na64stat workspaces carry it), else electron.
    ``branching`` is the Br(Z' -> invisible) convention of the e_mu results;
    an ``lmutau`` signal's own convention is its metadata's ``branching``
    (default ``"physical"``).
    """
    check_recast_settings(alpha_d, mass_ratio, reference_coupling)
    check_branching_convention(branching)
    if not isinstance(limits, ScanResult):
        _check_limits_content(limits, source)
        limits = ScanResult.from_dict(limits, source)
    if not limits.points:
        raise InputError(f"{source}: no limits points")
    options: dict[str, Any] = {
        "alpha_d": alpha_d,
        "mass_ratio": mass_ratio,
        "dm_model": dm_model,
        "long_lived": long_lived,
        "branching": branching,
    }
    out = []
    seen: dict[tuple[Any, ...], str] = {}
    for point in limits.points:
        where = f"{source}: point {point.key!r}"
        signal = _signal(point, where, signal_model, reference_coupling, beam)
        same = _signal_point(point, signal.mass_gev)
        if same in seen:
            values = point.metadata.get("values")
            raise InputError(
                f"{source}: points {seen[same]!r} and {point.key!r} are the same signal point "
                f"(mass_gev = {signal.mass_gev:g}"
                f"{', values ' + str(values) if len(same) > 1 else ''})"
            )
        seen[same] = point.key
        out.append(_recast_point(point, signal, options))
    return RecastResult(
        {"beam": beam, **options, "confidence_level": _confidence_level(limits.confidence_level)},
        tuple(out),
    )


def _confidence_level(value: Any) -> float | None:
    """A scan's confidence level, None where it has none (NaN or null)."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _recast_point(point: ScanPoint, signal: _Signal, options: Mapping[str, Any]) -> RecastPoint:
    """The couplings of each limit of ``point`` (None where the limit on mu is not finite)."""

    def recast(mu: float) -> Recast | None:
        if not math.isfinite(mu):
            return None
        return recast_limit(
            float(mu),
            signal.mass_gev,
            signal.model,
            signal.reference_coupling,
            signal.beam,
            signal_branching=signal.branching,
            **options,
        )

    limit = point.limit
    return RecastPoint(
        point.key,
        signal.mass_gev,
        recast(limit.observed),
        tuple(recast(mu) for mu in limit.expected),
    )
