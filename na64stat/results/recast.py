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
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from na64stat.core.checks import check_mass, check_number
from na64stat.core.errors import InputError
from na64stat.inference.scan import ScanResult
from na64stat.physics.couplings import (
    mixing_from_e_mu,
    relic_target_y,
    relic_target_y_full,
    y_from_epsilon2,
)
from na64stat.physics.decays import branching_zprime_invisible, check_branching_convention
from na64stat.physics.longlived import epsilon2_limit_correction
from na64stat.physics.models import get_model, model_names
from na64stat.physics.yields import get_setup

__all__ = [
    "DM_MODELS",
    "epsilon2_from_mu",
    "coupling_from_mu",
    "e_mu_from_epsilon2",
    "alpha_d_excluded_below",
    "Recast",
    "recast_limit",
    "recast_limits_file",
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
        return asdict(self)


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
    setup's beam, else electron."""
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
        Per point key: ``observed`` and ``expected_<band>``, each a
        :meth:`RecastLimit.to_dict` (mu, epsilon2, epsilon, e_mu, y, ...) or None.

    Examples
    --------
    >>> r = RecastResult.from_dict({"settings": {"alpha_d": 0.1}, "points": {"0.01": {"observed": None}}})
    >>> r.to_dict()["points"]["0.01"], r.settings["alpha_d"]
    ({'observed': None}, 0.1)
    """

    settings: Mapping[str, Any]
    points: Mapping[str, Mapping[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """The ``couplings.json`` content."""
        return {
            "settings": dict(self.settings),
            "points": {k: dict(v) for k, v in self.points.items()},
        }

    @classmethod
    def from_dict(cls, content: Mapping[str, Any], source: str = "couplings file") -> RecastResult:
        """Read a ``couplings.json`` content (an :class:`InputError` naming ``source`` when it is not one)."""
        if not isinstance(content, Mapping) or not isinstance(content.get("points"), dict):
            raise InputError(
                f"{source}: not a couplings file (no 'points' object; write one with 'na64stat recast')"
            )
        return cls(settings=dict(content.get("settings", {})), points=content["points"])


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
    """Recast every point of a scan (:class:`~na64stat.inference.scan.ScanResult` or a ``limits.json``
    content), observed and expected limits.

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
    if isinstance(limits, ScanResult):
        limits = limits.to_dict()
    if not isinstance(limits, dict) or not isinstance(limits.get("limits"), dict):
        raise InputError(
            f"{source}: not a limits file (no 'limits' object; write one with 'na64stat limits')"
        )
    if not limits["limits"]:
        raise InputError(f"{source}: no limits points")
    out: dict[str, Any] = {}
    seen: dict[tuple[Any, ...], str] = {}
    for key, record in limits["limits"].items():
        where = f"{source}: point {key!r}"
        if (
            not isinstance(record, dict)
            or not isinstance(record.get("metadata", {}), dict)
            or not isinstance(record.get("expected", {}), dict)
        ):
            raise InputError(
                f"{where}: expected an object with 'observed', 'expected' and 'metadata'"
            )
        meta = record.get("metadata", {})
        mass = meta.get("mass_gev")
        model = signal_model or meta.get("signal_model")
        ref = (
            reference_coupling if reference_coupling is not None else meta.get("reference_coupling")
        )
        recorded = meta.get("reference_coupling")
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
        values = meta.get("values")
        point = (
            (mass, *values) if isinstance(values, list) and len(values) > 1 else (mass,)
        )  # per mass and coupling
        if point in seen:
            raise InputError(
                f"{source}: points {seen[point]!r} and {key!r} are the same signal point "
                f"(mass_gev = {mass:g}{', values ' + str(values) if len(point) > 1 else ''})"
            )
        seen[point] = key
        if model not in model_names():
            raise InputError(
                f"{where}: unknown signal model {model!r}; choose one of {', '.join(model_names())}"
            )
        if "observed" not in record and not record.get("expected"):
            raise InputError(f"{where}: has neither an observed nor an expected limit")
        check_number(record.get("observed"), f"{where}: observed limit", allow_none=True)
        for band, value in record.get("expected", {}).items():
            check_number(value, f"{where}: expected {band} limit", allow_none=True)
        settings: dict[str, Any] = {
            "alpha_d": alpha_d,
            "mass_ratio": mass_ratio,
            "dm_model": dm_model,
            "long_lived": long_lived,
            "branching": branching,
            "signal_branching": str(meta.get("branching", "physical")),
        }
        point_beam = beam or _point_beam(meta)
        values = {
            "observed": record.get("observed"),
            **{f"expected_{k}": v for k, v in record.get("expected", {}).items()},
        }
        out[key] = {
            name: (
                recast_limit(
                    float(mu),
                    float(mass),
                    str(model),
                    float(ref),  # type: ignore[arg-type]  # checked above
                    point_beam,  # type: ignore[arg-type]  # names checked above
                    **settings,
                ).to_dict()
                if mu is not None and math.isfinite(float(mu))
                else None
            )
            for name, mu in values.items()
        }
    confidence_level = limits.get("confidence_level")
    if confidence_level is not None:
        confidence_level = check_number(
            confidence_level, f"{source}: confidence_level", positive=True
        )
        if confidence_level is None or not confidence_level < 1:
            raise InputError(
                f"{source}: confidence_level must be below 1, got {confidence_level!r}"
            )
    return RecastResult(
        {
            "beam": beam,
            "alpha_d": alpha_d,
            "mass_ratio": mass_ratio,
            "dm_model": dm_model,
            "long_lived": long_lived,
            "branching": branching,
            "confidence_level": confidence_level,
        },
        out,
    )
