"""Electron and positron track lengths in an electromagnetic shower.

An A' radiated in a thick active target (NA64e ECAL) comes not only from the
beam electron but from every shower electron and positron with enough energy
to pass the missing-energy cut. The yield (eq. 57) then reads

    N = n_EOT * (rho N_A / A) X0 * sum_j T_j * sigma(E_j; E_A' > E_cut),

where T_j is the e+ + e- track length [X0] spent with energy in bin j.

T_j is computed here from the shower equations in Rossi's Approximation A
(complete screening, no ionisation loss: exact enough above ~1 GeV, where the
Pb critical energy of ~7 MeV is irrelevant):

* bremsstrahlung e -> e gamma with photon fraction v, per X0:
  phi0(v) dv = (1/v)(4/3 - 4/3 v + v^2) dv;
* pair production gamma -> e+ e- with electron fraction u, per X0:
  psi0(u) du = (1 - 4/3 u (1 - u)) du, in total 7/9.

Energies are binned uniformly in L = ln(E0/E) from the beam energy down to
``min_energy_gev``; each process shifts a particle by an offset in L that
does not depend on its energy, so the cascade is a linear system
dN/dt = G N with a constant generator G, and the track length over a target
of D radiation lengths is exact: T = int_0^D exp(G t) N0 dt = G^-1 (exp(G D) - 1) N0.
Offsets between bin centres are shared between the two nearest bins so that
the mean energy loss is kept (linear "hat" weights, integrated with
Gauss-Legendre). A seeded Monte-Carlo cascade in the tests checks the result.

Particles that fall below ``min_energy_gev`` leave the system: they cannot
radiate an A' above the cut, and nothing below the cut feeds the region above.

Positrons separately (for resonant annihilation e+ e- -> A', Marsicano et al.,
PRL 121 (2018) 041802, arXiv:1807.05884): in Approximation A electrons and
positrons radiate alike, and every lepton except the primary comes from a
pair, which gives one e- and one e+ with the symmetric psi0(u) = psi0(1 - u).
So the positron track length is exactly half of the secondaries',
T+ = (T_e+e- - T_primary) / 2, where T_primary solves the same equations with
the electron block of G alone (the primary only loses energy, by
bremsstrahlung). The tests check it against a thin-target closed form
(D^3 / 6 times one brems-pair convolution) and a charge-tracking Monte Carlo.

See the physics reference (docs/physics.rst, section "Thick-target yields").

Examples
--------
>>> t = shower_track_length(100.0, 50.0, thickness_x0=40.0)
>>> 0.9 < t.total_electron_x0 < 1.5   # ~ X0 above E0/2 (eq. 57: L^e ~ X0)
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg

from na64stat.core.errors import PhysicsError

__all__ = [
    "TrackLengthSpectrum",
    "shower_track_length",
    "electron_track_by_depth",
    "PAIR_RATE_PER_X0",
]

#: Total pair-production probability per radiation length, int psi0 = 7/9.
PAIR_RATE_PER_X0: float = 7.0 / 9.0

_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(24)


@dataclass(frozen=True)
class TrackLengthSpectrum:
    """Track lengths of shower particles per beam particle, binned in energy.

    Attributes
    ----------
    energy_gev:
        Bin centres [GeV], descending from the beam energy.
    energy_low_gev, energy_high_gev:
        Bin edges [GeV].
    electron_x0:
        e- plus e+ track length in each bin [X0] per beam electron.
    photon_x0:
        Photon track length in each bin [X0] per beam electron.
    positron_x0:
        e+ track length in each bin [X0] per beam electron (part of ``electron_x0``).
    thickness_x0:
        Target thickness [X0] the spectrum was computed for (``inf`` allowed).
    """

    energy_gev: np.ndarray
    energy_low_gev: np.ndarray
    energy_high_gev: np.ndarray
    electron_x0: np.ndarray
    photon_x0: np.ndarray
    positron_x0: np.ndarray
    thickness_x0: float

    @property
    def total_electron_x0(self) -> float:
        """Total e+ e- track length above the threshold [X0]."""
        return float(self.electron_x0.sum())

    def positron_density_per_gev(self, energy_gev: ArrayLike) -> np.ndarray:
        """Differential positron track length dT+/dE [X0 per GeV] at ``energy_gev``.

        Bin contents over bin widths, interpolated linearly in ln E between bin
        centres; zero outside [lowest centre, beam energy].

        >>> t = shower_track_length(100.0, 25.0, 40.0)
        >>> 1e-4 < float(t.positron_density_per_gev(60.0)) < 1e-2
        True
        """
        e = np.asarray(energy_gev, dtype=float)
        density = self.positron_x0 / (self.energy_high_gev - self.energy_low_gev)
        log_e = np.log(np.clip(e, 1e-300, None))
        # np.interp needs ascending abscissae; the bins descend from the beam energy
        value = np.interp(log_e, np.log(self.energy_gev[::-1]), density[::-1], left=0.0, right=0.0)
        return np.where((e >= self.energy_gev[-1]) & (e <= self.energy_gev[0]), value, 0.0)


def _hat_piece(
    density: Callable[[np.ndarray], np.ndarray], offset_index: int, a: float, b: float, h: float
) -> float:
    """int_a^b density(l) * hat(l/h - k) dl with hat = max(0, 1 - |l/h - k|) (Gauss-Legendre)."""
    mid, half = 0.5 * (a + b), 0.5 * (b - a)
    ell = mid + half * _GL_NODES
    hat = 1.0 - np.abs(ell / h - offset_index)
    return half * float(np.sum(_GL_WEIGHTS * density(ell) * hat))


def _hat_integral(
    density: Callable[[np.ndarray], np.ndarray], offset_index: int, h: float
) -> float:
    """Rate into offset ``offset_index`` (in bins): the hat-weighted integral over l >= 0."""
    lower = max((offset_index - 1) * h, 0.0)
    total = _hat_piece(density, offset_index, offset_index * h, (offset_index + 1) * h, h)
    if offset_index * h > lower:
        total += _hat_piece(density, offset_index, lower, offset_index * h, h)
    return total


def _brems_electron_density(w: np.ndarray) -> np.ndarray:
    """Rate per X0 per unit w of an electron losing w = -ln(1 - v) (phi0 dv/dw)."""
    v = -np.expm1(-w)
    return (4.0 / 3.0 - 4.0 / 3.0 * v + v * v) / v * (1.0 - v)


def _brems_photon_density(ell: np.ndarray) -> np.ndarray:
    """Rate per X0 per unit ell of a photon of fraction v = exp(-ell) (phi0 |dv/dell|)."""
    v = np.exp(-ell)
    return 4.0 / 3.0 - 4.0 / 3.0 * v + v * v


def _pair_lepton_density(ell: np.ndarray) -> np.ndarray:
    """Rate per X0 per unit ell of an e- or e+ of fraction u = exp(-ell), both counted."""
    u = np.exp(-ell)
    return 2.0 * (1.0 - 4.0 / 3.0 * u * (1.0 - u)) * u


def _brems_total_rate(h: float) -> float:
    """Rate per X0 at which an electron leaves its bin (offset >= 1 with hat weights).

    int_0^h r(w) w/h dw + int_h^inf r(w) dw; the second part is
    int_{v_h}^1 phi0(v) dv in closed form, v_h = 1 - exp(-h).
    """
    near = _hat_piece(_brems_electron_density, 1, 0.0, h, h)
    v_h = -math.expm1(-h)
    far = -(4.0 / 3.0) * math.log(v_h) - 4.0 / 3.0 + (4.0 / 3.0) * v_h + 0.5 - 0.5 * v_h**2
    return near + far


@lru_cache(maxsize=64)
def _generator(n_bins: int, h: float) -> np.ndarray:
    """Generator G of the binned cascade, state = [electrons (n), photons (n)]."""
    offsets = np.arange(n_bins + 1)
    r_e = np.array(
        [_hat_integral(_brems_electron_density, int(k), h) if k >= 1 else 0.0 for k in offsets]
    )
    r_g = np.array([_hat_integral(_brems_photon_density, int(k), h) for k in offsets])
    r_p = np.array([_hat_integral(_pair_lepton_density, int(k), h) for k in offsets])
    g = np.zeros((2 * n_bins, 2 * n_bins))
    idx = np.arange(n_bins)
    g[idx, idx] = -_brems_total_rate(h)
    g[n_bins + idx, n_bins + idx] = -PAIR_RATE_PER_X0
    for k in range(n_bins):
        src = idx[: n_bins - k]
        dst = src + k
        if k >= 1:
            g[dst, src] += r_e[k]
        g[n_bins + dst, src] += r_g[k]
        g[dst, n_bins + src] += r_p[k]
    return g


def shower_track_length(
    beam_energy_gev: float,
    min_energy_gev: float,
    thickness_x0: float = math.inf,
    n_bins: int = 120,
) -> TrackLengthSpectrum:
    """Differential e+ e- (and photon) track length above ``min_energy_gev``.

    Parameters
    ----------
    beam_energy_gev:
        Energy of the incident electron E0 [GeV]; it enters at depth 0.
    min_energy_gev:
        Lowest energy of interest [GeV] (for A' emission: the missing-energy cut).
    thickness_x0:
        Target thickness in radiation lengths (``math.inf`` for a full dump).
    n_bins:
        Number of bins in ln(E0/E); the result converges as 1/n_bins^2
        (tests check 120 against 480 to better than 0.5%).

    Returns
    -------
    TrackLengthSpectrum
        Track lengths per beam electron [X0] in each energy bin.
    """
    if not (0.0 < min_energy_gev < beam_energy_gev):
        raise PhysicsError(
            f"need 0 < min energy ({min_energy_gev} GeV) < beam energy ({beam_energy_gev} GeV)"
        )
    if not thickness_x0 > 0.0:
        raise PhysicsError(f"target thickness must be positive, got {thickness_x0} X0")
    if n_bins < 4:
        raise PhysicsError(f"n_bins must be at least 4, got {n_bins}")
    return _track_length(
        float(beam_energy_gev), float(min_energy_gev), float(thickness_x0), int(n_bins)
    )


@lru_cache(maxsize=64)
def _track_length(
    beam_energy_gev: float, min_energy_gev: float, thickness_x0: float, n_bins: int
) -> TrackLengthSpectrum:
    """The computation behind :func:`shower_track_length`, cached: a reach over a mass grid asks for
    the same spectrum at every mass (31 masses: 7.9 s -> 0.3 s). The arrays are read-only.
    """
    l_max = math.log(beam_energy_gev / min_energy_gev)
    # Bin j is centred on L = j h; the primary sits on the centre of bin 0 and the
    # lower edge of the last bin is the threshold.
    h = l_max / (n_bins - 0.5)
    g = _generator(n_bins, round(h, 15))
    start = np.zeros(2 * n_bins)
    start[0] = 1.0
    g_primary = g[:n_bins, :n_bins]  # the primary alone: bremsstrahlung losses, no sources
    if math.isinf(thickness_x0):
        track = -linalg.solve(g, start)
        primary = -linalg.solve(g_primary, start[:n_bins])
    else:
        propagated = linalg.expm(g * thickness_x0) @ start
        track = linalg.solve(g, propagated - start)
        primary = linalg.solve(
            g_primary, linalg.expm(g_primary * thickness_x0) @ start[:n_bins] - start[:n_bins]
        )
    centres = np.arange(n_bins) * h
    arrays = (
        beam_energy_gev * np.exp(-centres),
        beam_energy_gev * np.exp(-(centres + 0.5 * h)),
        beam_energy_gev * np.exp(-(centres - 0.5 * h)),
        np.clip(track[:n_bins], 0.0, None),
        np.clip(track[n_bins:], 0.0, None),
        np.clip(0.5 * (track[:n_bins] - primary), 0.0, None),
    )
    for a in arrays:
        a.flags.writeable = False
    return TrackLengthSpectrum(*arrays, thickness_x0=float(thickness_x0))


def electron_track_by_depth(
    beam_energy_gev: float,
    min_energy_gev: float,
    slice_x0: float,
    n_slices: int,
    n_bins: int = 120,
) -> tuple[np.ndarray, np.ndarray]:
    """e+ e- track length per depth slice: where in the target the shower electrons are.

    Slice k covers depths [k, k + 1) * ``slice_x0``; the state is propagated
    slice by slice with one matrix exponential exp(G dz), and the track gained
    in a slice is G^-1 (N(z + dz) - N(z)), so the slices add up exactly to
    :func:`shower_track_length` over ``n_slices * slice_x0``.

    Returns
    -------
    energy_gev, track_x0:
        Bin centres [GeV] (descending, as in :class:`TrackLengthSpectrum`) and
        the track length [X0] per beam electron, shape (n_slices, n_bins).

    >>> e, t = electron_track_by_depth(100.0, 50.0, 0.5, 4)
    >>> bool(abs(t.sum() / shower_track_length(100.0, 50.0, 2.0).total_electron_x0 - 1) < 1e-9)
    True
    """
    if not (0.0 < min_energy_gev < beam_energy_gev):
        raise PhysicsError(
            f"need 0 < min energy ({min_energy_gev} GeV) < beam energy ({beam_energy_gev} GeV)"
        )
    if not (slice_x0 > 0.0 and n_slices >= 1):
        raise PhysicsError(
            f"need a positive slice thickness and at least one slice, got {slice_x0} X0 x "
            f"{n_slices}"
        )
    l_max = math.log(beam_energy_gev / min_energy_gev)
    h = l_max / (n_bins - 0.5)
    g = _generator(int(n_bins), round(h, 15))
    step = linalg.expm(g * slice_x0)
    lu = linalg.lu_factor(g)
    state = np.zeros(2 * n_bins)
    state[0] = 1.0
    tracks = np.empty((n_slices, n_bins))
    for k in range(n_slices):
        new = step @ state
        tracks[k] = np.clip(linalg.lu_solve(lu, new - state)[:n_bins], 0.0, None)
        state = new
    return beam_energy_gev * np.exp(-np.arange(n_bins) * h), tracks
