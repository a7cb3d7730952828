"""Thick-target signal yields and background-free reach for NA64-style setups.

Eq. (57) of the review, N = (rho N_A / A) n L sigma epsilon_sel, made precise:

* Electron beams (NA64e): the A' is radiated by every shower e+ / e- with
  enough energy, so L sigma becomes the track-length integral
  sum_j T_j sigma(E_j; E_A' > E_cut) with T_j from
  :func:`~na64stat.physics.shower.shower_track_length` (for 100 GeV and
  E_cut = 50 GeV it is ~0.91 X0: the NA64 review's "L^e ~ X0"). The cross section is
  DMG4's ETL (IWW / K) with the missing-energy acceptance from eq. (22).
  Shower positrons also make the A' by resonant annihilation on atomic
  electrons, e+ e- -> A' (Marsicano et al., PRL 121 (2018) 041802;
  :mod:`~na64stat.physics.annihilation`), added unless
  ``Setup.positron_annihilation`` is False.
* Muon beams (NA64mu): muons do not shower; the Z' is radiated along the
  whole target ("L^mu ~ 40 X0") at the beam energy, with the recoil cut
  p_mu' < p_max, i.e. E_Z' > E0 - p_max.

Yields are linear in the coupling strength alpha_X (invisible decays), so the
functions return events per unit alpha_X, per eps^2 or per g^2; a
background-free 90% CL exclusion needs 2.303 events (-ln 0.1).

Every number that is not physics is a field of the setup
(:class:`~na64stat.physics.setups.Setup`) with its source; nothing depends on
the mass except through the physics and the signal efficiency
(:func:`~na64stat.physics.efficiencies.signal_efficiency`, one per production
channel).

Br(Z' -> invisible) of the L_mu - L_tau Z' follows a named convention
(``branching``: ``"physical"`` by default, or ``"darkcast"``;
:data:`~na64stat.physics.decays.BRANCHING_CONVENTIONS`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from na64stat.core.errors import InputError, PhysicsError
from na64stat.physics import model_widths
from na64stat.physics.annihilation import (
    annihilation_events_per_pot,
    efficiency_by_energy,
    resonance_mass_gev,
)
from na64stat.physics.constants import CL90_EVENTS, M_E_GEV
from na64stat.physics.couplings import y_from_epsilon2
from na64stat.physics.efficiencies import signal_efficiency, simulated_efficiency_table
from na64stat.physics.etl import sigma_etl_pb as etl_table_sigma_pb
from na64stat.physics.models import get_model
from na64stat.physics.production import (
    sigma_etl_pb,
    sigma_iww_dmg4_pb,
    sigma_muon_iww_pb,
    x_shape_fraction,
)
from na64stat.physics.setups import Setup
from na64stat.physics.shower import shower_track_length

__all__ = [
    "events_per_alpha_x",
    "invisible_alpha_x_per_coupling2",
    "events_per_epsilon2",
    "events_per_e_mu2",
    "Reach",
    "background_free_reach",
    "EmissionSpectrum",
    "electron_emission_spectrum",
    "annihilation_events_per_alpha_x",
]

_PB_TO_CM2 = 1e-36


def _electron_sigma_pb(setup: Setup, mass_gev: float, energy_gev: np.ndarray) -> np.ndarray:
    """Cross section [pb] per unit alpha_X for A' energy above the cut, electrons of
    ``energy_gev``.
    """
    if setup.cross_section == "etl-computed":  # the computed ETL x spectrum, not eq. (22)'s shape
        return etl_table_sigma_pb(
            "e", setup.target, mass_gev, energy_gev, setup.missing_energy_cut_gev / energy_gev
        )
    total = (sigma_etl_pb if setup.cross_section == "etl" else sigma_iww_dmg4_pb)(
        mass_gev, energy_gev, 1.0, setup.target
    )
    fraction = x_shape_fraction(
        mass_gev, energy_gev, setup.missing_energy_cut_gev / energy_gev, M_E_GEV
    )
    return total * fraction


@dataclass(frozen=True)
class EmissionSpectrum:
    """Where in an electron shower the boson is radiated, for sampling events.

    Attributes
    ----------
    energy_gev:
        Energy E_j of the radiating shower e+ / e- (bin centres) [GeV].
    events_per_alpha_x:
        Expected events per unit alpha_X from each bin, boson energy above the
        setup's missing-energy cut (exposure and efficiency included).
    """

    energy_gev: np.ndarray
    events_per_alpha_x: np.ndarray


def electron_emission_spectrum(setup: Setup, mass_gev: float) -> EmissionSpectrum:
    """Per shower-energy bin contributions to eq. (57): T_j sigma(E_j; E_X > E_cut).

    The sum over bins is the bremsstrahlung part of :func:`events_per_alpha_x`
    for an electron setup (:func:`annihilation_events_per_alpha_x` is the
    rest); the event generator samples the radiating electron's energy from it.

    >>> from na64stat.physics.setups import get_setup
    >>> s = electron_emission_spectrum(get_setup("na64e-invisible"), 0.01)
    >>> brems = get_setup("na64e-invisible").with_(positron_annihilation=False)
    >>> bool(abs(s.events_per_alpha_x.sum() / events_per_alpha_x(brems, 0.01)[0] - 1) < 1e-12)
    True
    """
    tracks = shower_track_length(
        setup.beam_energy_gev, setup.missing_energy_cut_gev, setup.target_length_x0
    )
    usable = tracks.energy_gev > max(mass_gev, setup.missing_energy_cut_gev) * (1.0 + 1e-9)
    energies = tracks.energy_gev[usable]
    if energies.size == 0:
        return EmissionSpectrum(energies, np.zeros(0))
    sigma = _electron_sigma_pb(setup, mass_gev, energies)
    per_bin = (
        setup.exposure
        * float(signal_efficiency(setup, mass_gev)[0])
        * setup.target.nuclei_per_cm2_per_x0
        * tracks.electron_x0[usable]
        * sigma
        * _PB_TO_CM2
    )
    return EmissionSpectrum(energies, per_bin)


def _annihilation_efficiency(setup: Setup) -> Callable[[np.ndarray], np.ndarray]:
    """The annihilation efficiency of ``setup`` per A' energy, read when first called (a mass
    without annihilation yield needs no table).
    """

    def efficiency(boson_energy_gev: np.ndarray) -> np.ndarray:
        if setup.efficiency is not None:  # an explicit efficiency is one number
            return np.full(np.shape(boson_energy_gev), float(setup.efficiency))
        masses = simulated_efficiency_table(setup.name, "annihilation")[0]
        # the table's rows must reach down to the setup's cut (raises for a lowered cut)
        signal_efficiency(
            setup, resonance_mass_gev(setup.missing_energy_cut_gev - M_E_GEV), "annihilation"
        )
        per_energy = efficiency_by_energy(masses, signal_efficiency(setup, masses, "annihilation"))
        return per_energy(boson_energy_gev)

    return efficiency


def _annihilation_events_per_alpha_x(setup: Setup, mass_gev: float) -> float:
    if setup.beam != "electron" or not setup.positron_annihilation:
        return 0.0
    return setup.exposure * annihilation_events_per_pot(
        mass_gev,
        1.0,
        setup.beam_energy_gev,
        setup.missing_energy_cut_gev,
        setup.target,
        setup.target_length_x0,
        setup.annihilation_sector,
        _annihilation_efficiency(setup),  # per A' energy: the width spreads it
    )


def _electron_events_per_alpha_x(setup: Setup, mass_gev: float) -> float:
    brems = float(electron_emission_spectrum(setup, mass_gev).events_per_alpha_x.sum())
    return brems + _annihilation_events_per_alpha_x(setup, mass_gev)


def annihilation_events_per_alpha_x(setup: Setup, masses_gev: ArrayLike) -> np.ndarray:
    """The resonant-annihilation part of :func:`events_per_alpha_x` (e+ e- -> A', electron beams).

    With ``setup.annihilation_sector`` (default) the finite-width yield: largest
    where the A' energy E_R = (m^2 - 2 m_e^2)/(2 m_e) lies between the
    missing-energy cut and the beam energy (NA64e, 50-100 GeV: 226-320 MeV), with
    Breit-Wigner tails on both sides; with ``None`` the narrow width, 0 outside
    that window. 0 for muon beams and with ``setup.positron_annihilation = False``.
    The efficiency is the annihilation channel's own, as a function of the A'
    energy (the table's ``annihilation_rows``,
    :func:`~na64stat.physics.annihilation.efficiency_by_energy`; the
    bremsstrahlung part has ``signal_efficiency(setup, m)``; an explicit
    ``setup.efficiency`` applies to both).

    >>> from na64stat.physics.setups import get_setup
    >>> s = get_setup("na64e-invisible")
    >>> a = annihilation_events_per_alpha_x(s, [0.1, 0.25, 0.4])
    >>> bool(0 < a[0] < a[1] and 0 < a[2] < a[1])
    True
    >>> n = annihilation_events_per_alpha_x(s.with_(annihilation_sector=None), [0.1, 0.25, 0.4])
    >>> bool(n[0] == 0 and n[1] > 0 and n[2] == 0)
    True
    """
    masses = np.atleast_1d(np.asarray(masses_gev, dtype=float))
    if np.any(~np.isfinite(masses)) or np.any(masses <= 0):
        raise PhysicsError(f"masses must be positive and finite, got {masses_gev!r}")
    return np.array([_annihilation_events_per_alpha_x(setup, float(m)) for m in masses])


def _muon_events_per_alpha_x(setup: Setup, mass_gev: float) -> float:
    x_min = setup.missing_energy_cut_gev / setup.beam_energy_gev
    if setup.cross_section == "etl":
        sigma = float(
            etl_table_sigma_pb("mu", setup.target, mass_gev, setup.beam_energy_gev, x_min)
        )
    else:  # "ww" (and its old name "iww")
        sigma = float(sigma_muon_iww_pb(mass_gev, setup.beam_energy_gev, 1.0, setup.target, x_min))
    return (
        setup.exposure
        * float(signal_efficiency(setup, mass_gev)[0])
        * setup.target.nuclei_per_cm2_per_x0
        * setup.target_length_x0
        * sigma
        * _PB_TO_CM2
    )


def events_per_alpha_x(setup: Setup, masses_gev: ArrayLike) -> np.ndarray:
    """Expected signal events per unit alpha_X (coupling^2 / 4 pi to the beam lepton).

    Invisible decays (Br = 1) and the setup's exposure and efficiency.
    Electron beams: bremsstrahlung on the shower plus, if
    ``setup.positron_annihilation``, resonant e+ e- -> A'
    (:func:`annihilation_events_per_alpha_x`), each channel times its own
    efficiency, eff_brems(m) N_brems + eff_ann(m) N_ann
    (:func:`signal_efficiency`). Returns 0 where the mass cannot be produced
    above the cut.

    >>> from na64stat.physics.setups import get_setup
    >>> n = events_per_alpha_x(get_setup("na64e-invisible"), [0.001, 0.1])
    >>> bool(n[0] > n[1] > 0)
    True
    """
    masses = np.atleast_1d(np.asarray(masses_gev, dtype=float))
    if np.any(~np.isfinite(masses)) or np.any(masses <= 0):
        raise PhysicsError(f"masses must be positive and finite, got {masses_gev!r}")
    per_mass = (
        _electron_events_per_alpha_x if setup.beam == "electron" else _muon_events_per_alpha_x
    )
    out = np.zeros(masses.shape)
    for i, m in enumerate(masses):
        if m >= setup.beam_energy_gev - setup.lepton_mass_gev:
            continue  # kinematically forbidden: no events
        try:
            out[i] = per_mass(setup, float(m))
        except PhysicsError as exc:  # name the setup and mass once (an inner message may already)
            text = str(exc)
            raise PhysicsError(
                text
                if text.startswith(f"setup {setup.name!r}")
                else f"setup {setup.name!r}, mass {m} GeV: {text}"
            ) from exc
    return out


def events_per_epsilon2(setup: Setup, masses_gev: ArrayLike) -> np.ndarray:
    """Expected events per eps^2 for a dark photon decaying invisibly (Br = 1).

    alpha_X = alpha eps^2 for both electron and muon beams (the A' couples to
    every charged lepton with eps e; NA64 review sec. 5.2), so this is
    :func:`events_per_alpha_x` times alpha.

    Parameters
    ----------
    setup : Setup
        Beam, target, missing-energy cut, exposure [EOT or MOT] and signal
        efficiency.
    masses_gev : array_like
        A' masses [GeV].

    Returns
    -------
    numpy.ndarray
        Signal events per unit eps^2 at the setup's exposure, one per mass
        (the expected signal is this times eps^2).

    Examples
    --------
    >>> from na64stat.physics.setups import get_setup
    >>> n = events_per_epsilon2(get_setup("na64e-invisible"), [0.01, 0.1])
    >>> bool(n[0] > n[1] > 0)  # fewer A' at higher mass
    True
    """
    return invisible_alpha_x_per_coupling2(
        "dark_photon", setup.beam, masses_gev
    ) * events_per_alpha_x(setup, masses_gev)


def invisible_alpha_x_per_coupling2(
    model: str, beam: str, masses_gev: ArrayLike, branching: str = "physical"
) -> np.ndarray:
    """alpha_X x Br(invisible) per coupling^2 of the registered model ``model``
    (:mod:`na64stat.physics.models`): what turns events per alpha_X into invisible events per
    coupling^2 (``"dark_photon"``: alpha, Br = 1, both beams; NA64 review sec. 5.2; ``"lmutau"``:
    muon beams 1 / 4 pi, electron beams alpha x the on-shell loop mixing of eq. (54) squared; times
    Br(invisible) under the ``branching`` convention, ``"physical"`` or ``"darkcast"``;
    :func:`na64stat.physics.model_widths.invisible_alpha_x_per_coupling2`).

    >>> import math
    >>> from na64stat.physics.decays import branching_zprime_invisible
    >>> float(invisible_alpha_x_per_coupling2("lmutau", "muon", 0.01)) == float(
    ...     branching_zprime_invisible(0.01)) / (4 * math.pi)
    True
    """
    return model_widths.invisible_alpha_x_per_coupling2(
        get_model(model), beam, masses_gev, branching
    )


def events_per_e_mu2(
    setup: Setup, masses_gev: ArrayLike, branching: str = "physical"
) -> np.ndarray:
    """Expected invisible events per e_mu^2 for the L_mu - L_tau Z'.

    Muon beams couple directly (alpha_X = e_mu^2 / 4 pi); electron beams
    through the loop mixing of eq. (54) evaluated on shell, q^2 = m_Z'^2
    (0.0144 e_mu for m_Z' << m_mu, up to 1.5x that near 2 m_mu). Both include
    Br(Z' -> invisible) under the ``branching`` convention: ``"physical"``
    (default) drops to ~1/2 above 2 m_mu, ``"darkcast"`` stays 1.
    """
    return invisible_alpha_x_per_coupling2(
        "lmutau", setup.beam, masses_gev, branching
    ) * events_per_alpha_x(setup, masses_gev)


@dataclass(frozen=True)
class Reach:
    """Background-free 90% CL reach of a setup (2.303 signal events excluded).

    All arrays are per mass; couplings are upper limits (NaN where no signal
    can be produced).

    Attributes
    ----------
    setup:
        The setup used (exposure and efficiency included).
    mass_gev:
        Boson masses [GeV].
    events_per_epsilon2, events_per_e_mu2:
        Expected events per unit coupling^2 (dark photon; L_mu - L_tau Z').
    epsilon2, epsilon:
        Dark photon (invisible) reach.
    e_mu:
        L_mu - L_tau Z' reach in e_mu (= g_Z').
    y:
        Light dark matter reach in y = eps^2 alpha_D (m_chi/m_A')^4.
    alpha_d, mass_ratio:
        The alpha_D and m_A'/m_chi used for ``y``.
    n_events:
        Events excluded (2.303 at 90% CL without background).
    """

    setup: Setup
    mass_gev: np.ndarray
    events_per_epsilon2: np.ndarray
    events_per_e_mu2: np.ndarray
    epsilon2: np.ndarray
    epsilon: np.ndarray
    e_mu: np.ndarray
    y: np.ndarray
    alpha_d: float
    mass_ratio: float
    n_events: float


def background_free_reach(
    setup: Setup,
    masses_gev: ArrayLike,
    *,
    alpha_d: float = 0.1,
    mass_ratio: float = 3.0,
    n_events: float = CL90_EVENTS,
    branching: str = "physical",
) -> Reach:
    """Coupling reach for ``n_events`` signal events (2.303: 90% CL, no background).

    With no background and no observed event the 90% CL upper limit is
    -ln(0.1) = 2.303 signal events; the reach is the coupling that gives that
    many at the setup's exposure and efficiency: eps^2 = n_events / (events
    per eps^2), and likewise for e_mu (L_mu - L_tau Z') and
    y = eps^2 alpha_D (m_chi / m_A')^4.

    Parameters
    ----------
    setup : Setup
        The experiment (beam, target, cut, exposure [EOT or MOT], efficiency).
    masses_gev : array_like
        A' / Z' masses [GeV].
    alpha_d : float, optional
        Dark coupling alpha_D of the y reach (0.1, the usual benchmark).
    mass_ratio : float, optional
        m_A' / m_chi of the y reach (3, the usual benchmark).
    n_events : float, optional
        Signal events excluded [events]; 2.303 (90% CL, no background).
    branching : {"physical", "darkcast"}, optional
        Br(Z' -> invisible) convention of the e_mu reach.

    Returns
    -------
    Reach
        Per mass: events per eps^2 and per e_mu^2, and the reach in eps^2,
        eps, e_mu and y (NaN where no signal can be produced).

    Examples
    --------
    >>> from na64stat.physics.setups import get_setup
    >>> r = background_free_reach(get_setup("na64e-invisible"), [0.01])
    >>> 1e-6 < float(r.epsilon[0]) < 1e-4
    True
    """
    if setup.mode == "visible":
        raise InputError(
            f"setup {setup.name!r} is a visible-mode setup (A' -> e+ e- behind the dump): it has "
            "no missing-energy reach; its excluded epsilon band is "
            "na64stat.physics.visible.excluded_epsilon_range (na64stat reproduce published prints "
            "it)"
        )
    masses = np.atleast_1d(np.asarray(masses_gev, dtype=float))
    per_eps2 = events_per_epsilon2(setup, masses)
    per_g2 = events_per_e_mu2(setup, masses, branching)
    with np.errstate(divide="ignore"):
        eps2 = np.where(per_eps2 > 0, n_events / np.where(per_eps2 > 0, per_eps2, 1.0), np.nan)
        g2 = np.where(per_g2 > 0, n_events / np.where(per_g2 > 0, per_g2, 1.0), np.nan)
    return Reach(
        setup=setup,
        mass_gev=masses,
        events_per_epsilon2=per_eps2,
        events_per_e_mu2=per_g2,
        epsilon2=eps2,
        epsilon=np.sqrt(eps2),
        e_mu=np.sqrt(g2),
        y=y_from_epsilon2(eps2, alpha_d, mass_ratio),
        alpha_d=alpha_d,
        mass_ratio=mass_ratio,
        n_events=n_events,
    )
