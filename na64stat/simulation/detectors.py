"""NA64-style detector descriptions: geometry, resolutions, digitisation, trigger.

Generated events carry *truth* (energies deposited in each detector, what
escaped, the beam energy); this module turns truth into what the readout
sees (*reco* branches) and decides whether the missing-energy trigger fired.

Resolutions follow the NA64 review (arXiv:2003.07257, sec. 4.1): ECAL dE/E = 0.1/sqrt(E[GeV]),
HCAL dE/E = 0.6/sqrt(E[GeV]), tracker dP/P ~ 1e-2. Everything else is a
documented choice of this project (attribute docstrings say which), chosen
to be typical of NA64 without being a published number.

Units: energies of calorimeters in GeV, of thin counters (SRD, veto, S4,
W2, V2) in MeV, momenta in GeV/c, lengths in cm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy.special import erf

from na64stat.core.errors import InputError
from na64stat.physics.setups import Setup

__all__ = [
    "Detector",
    "Trigger",
    "Calibration",
    "NOMINAL",
    "ECAL_SHAPE",
    "lateral_fractions",
    "digitize",
    "trigger",
    "reco_branch_types",
]

#: ECAL cell matrix (rows, columns): 6 x 6 shashlik modules (NA64 review sec. 4.1).
ECAL_SHAPE: tuple[int, int] = (6, 6)

#: Two-Gaussian lateral profile of an e-m shower: (weight, sigma [cm]) of
#: core and halo. Choice: ~83% of the energy in the 3.82 cm central cell for a
#: centred electron, ~95% within the Moliere radius of a Pb/Sc shashlik.
EM_LATERAL_PROFILE: tuple[tuple[float, float], ...] = ((0.85, 0.9), (0.15, 3.0))

#: What the physics trigger looks at (:func:`trigger`): ``"ecal_missing_energy"``
#: (preshower fired, ECAL below threshold: NA64e invisible), ``"dump_missing_energy"``
#: (WCAL dump below threshold and an SRD tag: NA64e visible) or ``"muon_momentum"``
#: (soft outgoing muon: NA64mu).
Trigger = Literal["ecal_missing_energy", "dump_missing_energy", "muon_momentum"]
_TRIGGERS: tuple[str, ...] = ("ecal_missing_energy", "dump_missing_energy", "muon_momentum")


@dataclass(frozen=True)
class Detector:
    """Readout of one NA64 setup.

    Attributes
    ----------
    physics:
        The physics setup (:data:`na64stat.physics.setups.SETUPS`): its name,
        beam (``"electron"`` or ``"muon"``), nominal beam energy [GeV] and mode
        are the detector's :attr:`setup`, :attr:`beam`, :attr:`beam_energy_gev`.
    trigger:
        What the physics trigger looks at (:data:`Trigger`).
    beam_energy_spread:
        Relative Gaussian momentum spread of the beam (choice: 1%, H4 line).
    tracker_resolution:
        dP/P of the momentum spectrometers (NA64 review: ~1e-2).
    ecal_stochastic, ecal_cell_noise_gev:
        ECAL a/sqrt(E) term (NA64 review: 0.1) and per-cell electronic noise
        (choice: 5 MeV).
    ecal_cell_cm:
        Transverse size of an ECAL cell [cm] (NA64 shashlik modules: 3.82 cm).
    beam_spot_cm:
        Gaussian width of the beam spot on the ECAL face [cm] (choice).
    hcal_modules, hcal_stochastic, hcal_noise_gev:
        Number of HCAL modules (NA64e: HCAL0-3; NA64mu: 3), the NA64 review's 0.6/sqrt(E),
        and per-module noise (choice: 0.1 GeV).
    hcal_mip_gev:
        Most probable signal of a muon crossing one HCAL module [GeV] (choice).
    ecal_mip_gev:
        Signal of a minimum-ionising particle crossing the whole ECAL, e-m
        scale [GeV] (choice: 22 cm of Pb at 12.7 MeV/cm, ~0.3 GeV).
    counter_mip_mev:
        Signal of one MIP in a thin scintillator counter (veto, S4, V2) [MeV].
    counter_noise_mev:
        Noise of a thin counter [MeV].
    srd_mean_mev:
        Mean synchrotron-radiation signal per SRD counter for a beam electron
        of the nominal energy [MeV]; scales as E^2 (radiated power ~ gamma^2 B^2).
    trigger_ps_min_gev, trigger_energy_max_gev:
        Missing-energy trigger: preshower above the first and active target
        (ECAL, or WCAL for the visible mode) below the second, on the analog sums.
    trigger_p_out_max_gev:
        NA64mu trigger: outgoing muon momentum below this (scattered muon).
    tracking_efficiency:
        Probability that the downstream spectrometer finds a charged track
        (NA64mu ``n_tracks_out``; choice).
    trigger_srd_min_mev:
        The ``"dump_missing_energy"`` trigger also needs this much SRD signal
        (summed over the three counters): the visible-mode choice, where the
        dump alone would trigger on every beam hadron.
    dead_cell:
        ECAL cell (row, column) that is dead in the real-style data (choice).
    """

    physics: Setup
    trigger: Trigger
    beam_energy_spread: float = 0.01
    tracker_resolution: float = 0.01
    ecal_stochastic: float = 0.10
    ecal_cell_noise_gev: float = 0.005
    ecal_cell_cm: float = 3.82
    beam_spot_cm: float = 0.5
    hcal_modules: int = 4
    hcal_stochastic: float = 0.6
    hcal_noise_gev: float = 0.1
    hcal_mip_gev: float = 2.5
    ecal_mip_gev: float = 0.3
    counter_mip_mev: float = 2.0
    counter_noise_mev: float = 0.1
    srd_mean_mev: float = 5.0
    trigger_ps_min_gev: float = 0.3
    trigger_energy_max_gev: float = 80.0
    trigger_p_out_max_gev: float = 100.0
    tracking_efficiency: float = 0.99
    trigger_srd_min_mev: float = 3.0
    dead_cell: tuple[int, int] = (3, 1)
    description: str = ""
    branches: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.trigger not in _TRIGGERS:
            raise InputError(
                f"detector of {self.setup!r}: trigger must be one of {_TRIGGERS}, got "
                f"{self.trigger!r}"
            )

    @property
    def setup(self) -> str:
        """Name of the setup (the registry key, file metadata)."""
        return self.physics.name

    @property
    def beam(self) -> str:
        """``"electron"`` or ``"muon"`` (the physics setup's beam)."""
        return self.physics.beam

    @property
    def beam_energy_gev(self) -> float:
        """Nominal beam energy [GeV] (the physics setup's)."""
        return self.physics.beam_energy_gev


def reco_branch_types(detector: Detector) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Branch name -> (numpy dtype, per-event shape) of the reco branches."""
    shapes: dict[str, tuple[int, ...]] = {
        "srd_e": (3,),
        "ecal_cells": ECAL_SHAPE,
        "hcal_e": (detector.hcal_modules,),
    }
    integers = {"n_tracks_out"}
    return {
        name: ("i4" if name in integers else "f4", shapes.get(name, ()))
        for name in detector.branches
    }


def lateral_fractions(
    x_cm: np.ndarray, y_cm: np.ndarray, width_scale: np.ndarray, cell_cm: float
) -> np.ndarray:
    """Fraction of a shower's energy in each ECAL cell, shape (n, 6, 6).

    The shower centred at (x, y) [cm, origin at the matrix centre] has the
    two-Gaussian profile :data:`EM_LATERAL_PROFILE` with both widths scaled by
    ``width_scale`` (1 for e-m showers, ~2.5 for hadronic ones); energy
    outside the matrix is lost.

    >>> f = lateral_fractions(np.array([0.5 * 3.82]), np.array([0.5 * 3.82]), np.array([1.0]), 3.82)
    >>> round(float(f[0, 3, 3]), 2), round(float(f.sum()), 3)
    (0.83, 1.0)
    """
    rows, cols = ECAL_SHAPE
    edges_x = (np.arange(cols + 1) - cols / 2) * cell_cm
    edges_y = (np.arange(rows + 1) - rows / 2) * cell_cm
    weights = np.array([weight for weight, _ in EM_LATERAL_PROFILE])
    sigmas = np.array([sigma for _, sigma in EM_LATERAL_PROFILE])
    # (component, event, 1): every component at once, summed by one einsum (no per-component n x 6 x
    # 6 temporaries)
    s = (sigmas[:, None] * np.asarray(width_scale, dtype=float)[None, :])[:, :, None] * np.sqrt(2.0)
    px = np.diff(0.5 * erf((edges_x[None, None, :] - np.asarray(x_cm)[None, :, None]) / s), axis=2)
    py = np.diff(0.5 * erf((edges_y[None, None, :] - np.asarray(y_cm)[None, :, None]) / s), axis=2)
    return np.einsum("knr,knc->nrc", weights[:, None, None] * py, px)


@lru_cache(maxsize=8)
def _centroid_table(cell_cm: float) -> tuple[np.ndarray, np.ndarray]:
    """(true x, energy-weighted x centroid) of an e-m shower along one axis [cm], cells of
    ``cell_cm``.

    The profile is a sum of separable Gaussians, so the x centroid depends on x
    only; it is S-shaped within a cell and is inverted by interpolation.
    """
    half = 0.5 * ECAL_SHAPE[1] * cell_cm
    x = np.linspace(-half + 0.5, half - 0.5, 801)
    f = lateral_fractions(x, np.zeros_like(x), np.ones_like(x), cell_cm)
    centres = (np.arange(ECAL_SHAPE[1]) - ECAL_SHAPE[1] / 2 + 0.5) * cell_cm
    column_sums = f.sum(axis=1)
    return x, (column_sums @ centres) / column_sums.sum(axis=1)


def _impact_point(detector: Detector, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shower position [cm] from the cell energies: centroid, corrected for the S-curve."""
    true_x, centroid = _centroid_table(detector.ecal_cell_cm)
    centres = (np.arange(ECAL_SHAPE[1]) - ECAL_SHAPE[1] / 2 + 0.5) * detector.ecal_cell_cm
    positive = np.clip(cells, 0.0, None)
    total = np.maximum(positive.sum(axis=(1, 2)), 1e-9)
    cx = (positive.sum(axis=1) @ centres) / total
    cy = (positive.sum(axis=2) @ centres) / total
    return np.interp(cx, centroid, true_x), np.interp(cy, centroid, true_x)


def _beam_centre(detector: Detector) -> tuple[float, float]:
    """Beam axis on the ECAL face [cm]: the centre of cell (3, 3) (choice)."""
    return 0.5 * detector.ecal_cell_cm, 0.5 * detector.ecal_cell_cm


def _calorimeter(
    rng: np.random.Generator, energy_gev: np.ndarray, stochastic: float, noise_gev: float
) -> np.ndarray:
    """Smear deposits: sigma^2 = stochastic^2 E + noise^2 [GeV]."""
    e = np.clip(energy_gev, 0.0, None)
    return e + rng.standard_normal(e.shape) * np.sqrt(stochastic**2 * e + noise_gev**2)


@dataclass(frozen=True)
class Calibration:
    """Run conditions of real-style data: calibration drifts and a dead cell.

    Attributes
    ----------
    ecal_scale, hcal_scale:
        Multiplicative energy-scale drift of the run (1 = nominal).
    dead_cell:
        ECAL cell (row, column) that reads zero, or None.
    """

    ecal_scale: float = 1.0
    hcal_scale: float = 1.0
    dead_cell: tuple[int, int] | None = None


NOMINAL = Calibration()


def _ecal(
    rng: np.random.Generator, detector: Detector, truth: dict[str, np.ndarray], calib: Calibration
) -> dict[str, np.ndarray]:
    n = truth["true_e_ecal"].shape[0]
    cx, cy = _beam_centre(detector)
    x = cx + detector.beam_spot_cm * rng.standard_normal(n)
    y = cy + detector.beam_spot_cm * rng.standard_normal(n)
    fractions = lateral_fractions(
        np.asarray(x), np.asarray(y), truth["true_shower_width"], detector.ecal_cell_cm
    )
    cells = _calorimeter(
        rng,
        truth["true_e_ecal"][:, None, None] * fractions,
        detector.ecal_stochastic,
        detector.ecal_cell_noise_gev,
    )
    cells *= calib.ecal_scale
    if calib.dead_cell is not None:
        cells[:, calib.dead_cell[0], calib.dead_cell[1]] = 0.0
    total = cells.sum(axis=(1, 2))
    x_hat, y_hat = _impact_point(detector, cells)
    template = lateral_fractions(x_hat, y_hat, np.ones_like(x_hat), detector.ecal_cell_cm)
    expected = np.clip(total, 0.0, None)[:, None, None] * template
    variance = (
        detector.ecal_stochastic**2 * expected
        + detector.ecal_cell_noise_gev**2
        + (0.05 * expected) ** 2
    )
    chi2 = ((cells - expected) ** 2 / variance).sum(axis=(1, 2)) / (cells[0].size - 1)
    return {"ecal_cells": cells, "ecal_e": total, "ecal_chi2": chi2}


def _counter(rng: np.random.Generator, detector: Detector, mev: np.ndarray) -> np.ndarray:
    return mev + detector.counter_noise_mev * rng.standard_normal(mev.shape)


def digitize(
    rng: np.random.Generator,
    detector: Detector,
    truth: dict[str, np.ndarray],
    calibration: Calibration = NOMINAL,
) -> dict[str, np.ndarray]:
    """Reco branches (float32) of ``detector`` from truth arrays of one batch.

    Calorimeters get their stochastic and noise terms, the ECAL its cell
    matrix and a shower-shape chi^2/ndf against the e-m template at the
    reconstructed impact point (model uncertainty 5% per cell), counters their noise, spectrometers
    their dP/P. ``calibration`` applies a run's drifts and dead cell (data).
    """
    out: dict[str, np.ndarray] = {}
    if "ecal_cells" in detector.branches:
        out.update(_ecal(rng, detector, truth, calibration))
    hcal = _calorimeter(
        rng, truth["true_e_hcal"], detector.hcal_stochastic, detector.hcal_noise_gev
    )
    out["hcal_e"] = hcal * calibration.hcal_scale
    out["veto_e"] = _counter(rng, detector, truth["true_e_veto"])
    for name, true_name, scale in (
        ("p_track", "true_beam_energy", "true_track_scale"),
        ("p_in", "true_beam_energy", "true_track_scale"),
        ("p_out", "true_p_out", "true_p_out_scale"),
    ):
        if name in detector.branches:
            p = truth[true_name] * truth[scale]
            out[name] = p * (1.0 + detector.tracker_resolution * rng.standard_normal(p.shape))
    if "n_tracks_out" in detector.branches:
        out["n_tracks_out"] = rng.binomial(
            truth["true_n_out"].astype(np.int64), detector.tracking_efficiency
        )
    if "srd_e" in detector.branches:
        out["srd_e"] = _counter(rng, detector, truth["true_srd"])
    if "ps_e" in detector.branches:
        ps = truth["true_e_ecal"] * truth["true_ps_fraction"]
        out["ps_e"] = (
            _calorimeter(rng, ps, detector.ecal_stochastic, detector.ecal_cell_noise_gev)
            * calibration.ecal_scale
        )
    if "wcal_e" in detector.branches:
        out["wcal_e"] = _calorimeter(
            rng, truth["true_e_wcal"], detector.ecal_stochastic, detector.ecal_cell_noise_gev
        )
        for name in ("w2", "v2", "s4"):
            out[name + "_e"] = _counter(rng, detector, truth["true_e_" + name])
    types = reco_branch_types(detector)
    return {name: np.asarray(out[name], dtype=types[name][0]) for name in detector.branches}


def trigger(
    rng: np.random.Generator, detector: Detector, truth: dict[str, np.ndarray]
) -> np.ndarray:
    """Whether the physics trigger fires, from the analog sums (own noise).

    By ``detector.trigger``:

    * ``"ecal_missing_energy"`` (NA64e invisible): ECAL < 80 GeV (missing
      energy) and preshower > 0.3 GeV.
    * ``"dump_missing_energy"`` (NA64e visible): WCAL < 80 GeV (energy left
      the dump) and SRD sum > 3 MeV.
    * ``"muon_momentum"`` (NA64mu): outgoing-muon momentum (online) < 100 GeV/c.
    """
    if detector.trigger == "muon_momentum":
        p = truth["true_p_out"] * truth["true_p_out_scale"]
        p = p * (1.0 + detector.tracker_resolution * rng.standard_normal(p.shape))
        return p < detector.trigger_p_out_max_gev
    dump = (
        truth["true_e_wcal"] if detector.trigger == "dump_missing_energy" else truth["true_e_ecal"]
    )
    analog = _calorimeter(rng, dump, detector.ecal_stochastic, 0.05)
    fired = analog < detector.trigger_energy_max_gev
    if detector.trigger == "dump_missing_energy":
        fired &= (
            _counter(rng, detector, truth["true_srd"]).sum(axis=1) > detector.trigger_srd_min_mev
        )
    else:
        ps = _calorimeter(
            rng, truth["true_e_ecal"] * truth["true_ps_fraction"], detector.ecal_stochastic, 0.02
        )
        fired &= ps > detector.trigger_ps_min_gev
    return fired
