"""Widths, branching ratios and production rates of any registered vector model, from its charges.

For a boson X of mass m coupling with g x_f (alpha_f = ``alpha_unit`` x_f^2 per coupling^2):

* charged leptons, eq. (9) of the NA64 review (arXiv:2003.07257) with eps^2 alpha -> alpha_f:
  Gamma = alpha_f m / 3 (1 + 2 r) sqrt(1 - 4 r), r = m_f^2 / m^2 (darkcast eq. 2.13);
* neutrinos (left-handed, one helicity state): Gamma = alpha_f m / 6 per flavour;
* hadrons: darkcast's vector-meson-dominance widths (Ilten, Soreq, Williams, Xue, JHEP 06 (2018)
  004, eqs. 2.15-2.18): Gamma = alpha_unit m / 3 sum_F [sum_V (R^V Tr(x T_V))^2 R_mu^(F,V)
  + 2 R^omega Tr(x T_omega) R^phi Tr(x T_phi) R_mu^(F,omega phi)], x = diag(x_u, x_d, x_s), with
  darkcast's grids R_mu^F (packaged ``resources/darkcast_vmd.json``, defined up to 2 GeV; the edge
  value beyond, as darkcast does). For the dark photon every (R^V Tr(Q T_V))^2 is 1, so
  Gamma_had = Gamma(A' -> mu mu)|_(m_mu -> 0) x R with R the sum of the grids;
* dark matter, eq. (8): Gamma(X -> chi chibar) = alpha_D m / 3 (1 + 2 r) sqrt(1 - 4 r),
  m_chi = m / ``mass_ratio``, independent of the coupling g.

Br(X -> invisible) = (g^2 Gamma_nu + Gamma_chi) / (g^2 Gamma_SM + Gamma_chi) at coupling g; with
dark decays open it is 1 at g -> 0 (the default). The ``"darkcast"`` convention sets it to 1
(:data:`na64stat.physics.decays.BRANCHING_CONVENTIONS`).

Production by a beam lepton l scales as the squared coupling to it (darkcast's recast rule, its
eq. 3.3): alpha_X per coupling^2 = ``alpha_unit`` x_l^2, alpha for the dark photon.

Widths in GeV per unit coupling^2 unless a coupling is given.

>>> from na64stat.physics.models import get_model
>>> round(float(branching_invisible(get_model("b_minus_l"), 0.01)), 4)   # 3 nu / (3 nu + e+e-)
0.6
>>> float(alpha_x_per_coupling2(get_model("le_ltau"), "muon", 0.01))
0.0
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from numpy.typing import ArrayLike

from na64stat.core.errors import PhysicsError
from na64stat.core.references import load_resource
from na64stat.physics.constants import ALPHA_EM, M_E_GEV, M_MU_GEV, M_TAU_GEV
from na64stat.physics.decays import check_branching_convention, width_to_fermions_gev
from na64stat.physics.models import VectorModel

__all__ = [
    "MESON_GENERATORS",
    "MESON_PREFACTORS",
    "hadronic_width_gev",
    "partial_widths_gev",
    "total_width_gev",
    "branching_invisible",
    "alpha_x_per_coupling2",
    "invisible_alpha_x_per_coupling2",
]

_LEPTON_MASSES_GEV = {"e": M_E_GEV, "mu": M_MU_GEV, "tau": M_TAU_GEV}
_ELECTRIC = {"e": -1.0, "mu": -1.0, "tau": -1.0}
#: Diagonal U(3) generators (u, d, s) of the vector mesons (darkcast eq. A.1, pars.py ``tms``).
MESON_GENERATORS: dict[str, tuple[float, float, float]] = {
    "rho0": (0.5, -0.5, 0.0),
    "omega": (0.5, 0.5, 0.0),
    "phi": (0.0, 0.0, 1.0 / math.sqrt(2.0)),
}
#: Prefactors R^V of each vector contribution (darkcast eq. 2.18, pars.py ``rvs``).
MESON_PREFACTORS: dict[str, float] = {"rho0": 2.0, "omega": 6.0, "phi": 3.0 * math.sqrt(2.0)}


@cache
def _vmd_grids() -> tuple[tuple[tuple[str, ...], np.ndarray, np.ndarray], ...]:
    """(mesons, masses [GeV], R_mu^F) of every final state's grid in
    ``resources/darkcast_vmd.json``.
    """
    grids = load_resource("darkcast_vmd")["grids"]
    return tuple(
        (tuple(mesons.split("_")), np.asarray(g["mass_gev"]), np.asarray(g["r_mu"]))
        for states in grids.values()
        for mesons, g in states.items()
    )


def hadronic_width_gev(model: VectorModel, mass_gev: ArrayLike) -> np.ndarray:
    """Gamma(X -> hadrons) per unit coupling^2 [GeV] from darkcast's VMD grids (eqs. 2.15-2.18).

    Parameters
    ----------
    model : VectorModel
        The model (its u, d, s charges).
    mass_gev : array_like
        Boson masses [GeV].

    Returns
    -------
    numpy.ndarray
        The width per coupling^2 [GeV] (0 below 2 m_pi and for models without quark charges).

    Examples
    --------
    >>> from na64stat.physics.models import get_model
    >>> float(hadronic_width_gev(get_model("le_lmu"), 0.78))
    0.0
    """
    m = np.asarray(mass_gev, dtype=float)
    charges = [model.charge(q) for q in ("u", "d", "s")]
    amplitude = {
        v: MESON_PREFACTORS[v] * sum(t * x for t, x in zip(MESON_GENERATORS[v], charges))
        for v in MESON_GENERATORS
    }
    total = np.zeros(m.shape)
    for mesons, grid_m, grid_r in _vmd_grids():
        weight = math.prod(amplitude[v] for v in mesons)
        weight = weight**2 if len(mesons) == 1 else 2.0 * weight
        if weight != 0.0:
            total = total + weight * np.interp(m, grid_m, grid_r)
    return model.alpha_unit * m / 3.0 * total


_BEAM_LEPTONS = {"electron": "e", "muon": "mu"}


def _lepton_alpha(model: VectorModel, lepton: str, m: np.ndarray) -> np.ndarray:
    """alpha per coupling^2 of a charged lepton: tree-level charge, else the kinetic mixing."""
    x = model.charge(lepton)
    if x != 0.0 or model.mixing is None:
        return np.full(m.shape, model.alpha_unit * x**2)
    return ALPHA_EM * (_ELECTRIC[lepton] * model.mixing(m)) ** 2


def partial_widths_gev(model: VectorModel, mass_gev: ArrayLike) -> dict[str, np.ndarray]:
    """Partial widths per unit coupling^2 [GeV]: ``ee``, ``mumu``, ``tautau``, ``nunu`` (three
    flavours), ``hadrons`` (darkcast's VMD, :func:`hadronic_width_gev`) and ``dark`` (chi chibar,
    coupling-independent).

    Parameters
    ----------
    model : VectorModel
        The registered model (:func:`na64stat.physics.models.get_model`).
    mass_gev : array_like
        Boson masses [GeV].

    Returns
    -------
    dict of str to numpy.ndarray
        Width per channel [GeV]; multiply all but ``dark`` by the coupling squared.

    Examples
    --------
    >>> from na64stat.physics.models import get_model
    >>> w = partial_widths_gev(get_model("le_lmu"), 0.01)
    >>> round(float(w["nunu"] / w["ee"]), 3)   # two neutrinos at m/6 against one e+e- at m/3
    1.0
    """
    m = np.asarray(mass_gev, dtype=float)
    if np.any(~(m > 0)):
        raise PhysicsError(f"boson masses must be positive, got {mass_gev!r} GeV")
    widths = {
        f"{lep}{lep}": width_to_fermions_gev(m, _lepton_alpha(model, lep, m), mass)
        for lep, mass in _LEPTON_MASSES_GEV.items()
    }
    widths["nunu"] = sum(
        (model.alpha_unit * model.charge(nu) ** 2 * m / 6.0 for nu in ("nu_e", "nu_mu", "nu_tau")),
        np.zeros(m.shape),
    )
    widths["hadrons"] = hadronic_width_gev(model, m)
    decay = model.dark_decay
    widths["dark"] = (
        np.zeros(m.shape) if decay is None else _dark_width(m, decay.alpha_d, decay.mass_ratio)
    )
    return widths


def _dark_width(m: np.ndarray, alpha_d: float, mass_ratio: float) -> np.ndarray:
    """Gamma(X -> chi chibar), Dirac chi of mass m / ``mass_ratio`` [GeV] (eq. 8)."""
    r = (1.0 / mass_ratio) ** 2
    phase = np.sqrt(max(1.0 - 4.0 * r, 0.0))
    return alpha_d * m / 3.0 * (1.0 + 2.0 * r) * phase


def total_width_gev(model: VectorModel, mass_gev: ArrayLike, coupling: ArrayLike) -> np.ndarray:
    """Total width [GeV] at ``coupling``: coupling^2 x the Standard-Model channels + the dark one.

    >>> from na64stat.physics.models import get_model
    >>> import math
    >>> w = float(total_width_gev(get_model("le_ltau"), 0.01, 1.0))   # e+e- (m/3) + 2 nu (m/6 each)
    >>> round(w / (0.01 / (4 * math.pi) * 2 / 3), 4)
    1.0
    """
    widths = partial_widths_gev(model, mass_gev)
    g2 = np.asarray(coupling, dtype=float) ** 2
    return g2 * sum(w for k, w in widths.items() if k != "dark") + widths["dark"]


def branching_invisible(
    model: VectorModel,
    mass_gev: ArrayLike,
    convention: str = "physical",
    coupling: ArrayLike = 0.0,
) -> np.ndarray:
    """Br(X -> invisible): neutrinos and dark matter over the total width.

    Parameters
    ----------
    model : VectorModel
        The model; its ``branching`` (a closed form) is used where it has one.
    mass_gev : array_like
        Boson masses [GeV].
    convention : {"physical", "darkcast"}, optional
        ``"physical"``: from the widths; ``"darkcast"``: 1.
    coupling : array_like, optional
        The coupling g (with dark decays the branching depends on it; default the g -> 0 limit).

    Returns
    -------
    numpy.ndarray
        The branching ratio per mass (0 where nothing decays invisibly).
    """
    m = np.asarray(mass_gev, dtype=float)
    if check_branching_convention(convention) == "darkcast":
        return np.ones(m.shape)
    if model.branching is not None:
        return np.asarray(model.branching(m, convention), dtype=float)
    decay = model.dark_decay
    if (
        decay is not None
        and not np.any(np.asarray(coupling, dtype=float))
        and np.all(_dark_width(m, decay.alpha_d, decay.mass_ratio) > 0)
    ):
        return np.ones(m.shape)  # g -> 0: the dark decays are all of the width
    widths = partial_widths_gev(model, m)
    # without dark decays every width scales as g^2: the ratio is independent of g
    g2 = np.asarray(coupling, dtype=float) ** 2 if model.dark_decay is not None else 1.0
    invisible = g2 * widths["nunu"] + widths["dark"]
    total = g2 * sum(w for k, w in widths.items() if k != "dark") + widths["dark"]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, invisible / np.where(total > 0, total, 1.0), 0.0)


def alpha_x_per_coupling2(model: VectorModel, beam: str, mass_gev: ArrayLike) -> np.ndarray:
    """alpha_X per coupling^2 of the boson's coupling to the beam lepton (production, no branching).

    Electron beams: the electron's charge (or the kinetic mixing where it has none); muon beams:
    the muon's. The dark photon gives alpha for both.

    >>> from na64stat.physics.models import get_model
    >>> float(alpha_x_per_coupling2(get_model("dark_photon"), "muon", 0.1)) == ALPHA_EM
    True
    """
    if beam not in _BEAM_LEPTONS:
        raise PhysicsError(f"no production for a {beam!r} beam (beams: electron, muon)")
    m = np.asarray(mass_gev, dtype=float)
    return _lepton_alpha(model, _BEAM_LEPTONS[beam], m)


def invisible_alpha_x_per_coupling2(
    model: VectorModel, beam: str, mass_gev: ArrayLike, convention: str = "physical"
) -> np.ndarray:
    """alpha_X x Br(X -> invisible) per coupling^2: turns events per alpha_X into invisible events
    per coupling^2 (eq. 57 of arXiv:2003.07257 with alpha_X = g^2 x_l^2 / 4 pi).

    >>> from na64stat.physics.models import get_model
    >>> dark_photon = get_model("dark_photon")
    >>> float(invisible_alpha_x_per_coupling2(dark_photon, "electron", 0.01)) == ALPHA_EM
    True
    """
    alpha = alpha_x_per_coupling2(model, beam, mass_gev)
    return alpha * branching_invisible(model, mass_gev, convention)
