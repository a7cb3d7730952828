"""Physics processes of the NA64 setups: rates per particle on target and truth samplers.

Every process has a rate per particle on target (EOT for electron beams, MOT
for muon beams) and a sampler that draws the *truth* of ``n`` events: the
energy each detector receives and what escapes. Rare tails that can reach a
signal region (neutral hadrons escaping the HCAL, a fake SRD tag, a track
mis-measured by the spectrometer, an HCAL gap) are decided by
:meth:`~na64stat.simulation.sampling.Draw.bernoulli` draws, enhanced and
weighted in MC and physical in real-style data, so a laptop-sized MC sample
represents 1e11 - 1e12 particles on target honestly.

Sources. The NA64 review (arXiv:2003.07257) names the backgrounds (sec. 4.1: hadron
contamination pi/e <~ 1e-2 suppressed by the SRD by ~2 orders of magnitude;
sec. 5.2: muon low-energy tail, HCAL non-hermeticity, photonuclear reactions
and tridents at the <~ 1e-12 level). Individual rates and tail probabilities
below are DOCUMENTED CHOICES of this project, of the order NA64 reports (the
NA64e signal-box background for 2.84e11 EOT comes out at a few tenths of an
event, the NA64mu one for 1.98e10 MOT at ~0.1), not published numbers.

Signal processes are built per mass by :func:`signal_process` from the
physics module: the rate is eq. (57) per particle on target at a reference
coupling, and the boson energy fraction is sampled from dsigma/dx (eq. 22),
for electron beams on the shower electrons' energy spectrum. For muon beams
the x spectrum follows the setup's cross section: with
``Setup.cross_section = "etl"`` (the NA64mu default) the exact-tree-level
spectrum of :mod:`na64stat.physics.etl`, the same table the rate uses, so the
generated x distribution and the yield above any cut agree; with ``"ww"`` the
Weizsacker-Williams shape of eq. (22).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy.special import gammainc

from na64stat.core.errors import InputError, PhysicsError
from na64stat.physics.annihilation import (
    annihilation_events_per_pot,
    positron_annihilation_nodes,
    resonance_energy_gev,
)
from na64stat.physics.constants import LEAD, M_E_GEV, M_MU_GEV
from na64stat.physics.decays import decay_length_cm, width_aprime_to_ee_gev
from na64stat.physics.etl import sigma_etl_pb
from na64stat.physics.models import get_model, model_names
from na64stat.physics.production import dsigma_dx_iww_pb, x_range
from na64stat.physics.setups import Setup
from na64stat.physics.visible import VISIBLE_RUNS
from na64stat.physics.yields import (
    annihilation_events_per_alpha_x,
    electron_emission_spectrum,
    events_per_alpha_x,
    invisible_alpha_x_per_coupling2,
)
from na64stat.simulation.detectors import Detector
from na64stat.simulation.sampling import Draw
from na64stat.simulation.setups import get_simulation_setup

__all__ = [
    "Process",
    "BACKGROUNDS",
    "SignalModel",
    "SignalProduction",
    "signal_process",
    "get_process",
    "backgrounds",
    "truth_branch_types",
    "new_truth",
    "VISIBLE_GEOMETRY_CM",
]

Sampler = Callable[[Draw, Detector, bool], dict[str, np.ndarray]]
#: A registered signal model's name (:func:`na64stat.physics.models.model_names`).
SignalModel = str
#: A signal production channel alone (:func:`signal_process`): ``"bremsstrahlung"`` (A' / Z'
#: radiated by the beam lepton or, for electron beams, the shower e+ / e-) or ``"annihilation"``
#: (resonant e+ e- -> A' of shower positrons, electron beams; :mod:`na64stat.physics.annihilation`).
SignalProduction = Literal["bremsstrahlung", "annihilation"]

#: Visible mode geometry [cm]: that of the 2017 run (100 GeV, the setup's beam) of
#: :data:`na64stat.physics.visible.VISIBLE_RUNS`, one source for the simulation and
#: the yields: the W/Sc WCAL with its veto W2 (``veto_end_cm``), then the decay volume up
#: to the S4 counter (``s4_cm - veto_end_cm``, darkcast's 4 x the shielding in 2017); the
#: ECAL follows S4.
VISIBLE_GEOMETRY_CM: dict[str, float] = {
    "wcal_length": VISIBLE_RUNS["2017"].veto_end_cm,
    "decay_volume_length": VISIBLE_RUNS["2017"].s4_cm - VISIBLE_RUNS["2017"].veto_end_cm,
}

_PB_ECAL_LAMBDA_INT = (
    1.0  # nuclear interaction lengths of the 40 X0 Pb/Sc ECAL (choice, ~22 cm Pb + Sc)
)
# of the W/Sc WCAL (na64stat.physics.visible: 35 x 3 mm W, lambda_I = 9.95 cm, + 35 x 2 mm
# scintillator,
# lambda_I ~ 77 cm, PDG): 1.06 + 0.09
_W_DUMP_LAMBDA_INT = 1.15
_PS_DEPTH = 0.1  # preshower share of the ECAL depth (4 of 40 X0)


@dataclass(frozen=True)
class Process:
    """One source of events in a setup.

    Attributes
    ----------
    name:
        Identifier (file names, the ``--process`` option, metadata).
    setup:
        Setup the process belongs to.
    code:
        Integer stored in the ``true_process`` branch (0 is the signal).
    rate_per_pot:
        Expected occurrences per particle on target (EOT or MOT).
    triggerable_fraction:
        Probability that an occurrence lies in the part of phase space that can
        fire the physics trigger; 0 for full-energy showers (the trigger sits
        >= 20 sigma away). Real-style data generate only that part, with rate
        ``rate_per_pot * triggerable_fraction``.
    description:
        What the process is and where its numbers come from.
    sampler:
        ``sampler(draw, detector, triggerable_only)`` -> truth arrays.
    metadata:
        Extra facts stored in the files (mass, model, reference coupling).
    """

    name: str
    setup: str
    code: int
    rate_per_pot: float
    triggerable_fraction: float
    description: str
    sampler: Sampler = field(repr=False)
    metadata: dict[str, object] = field(default_factory=dict)

    def sample(
        self, draw: Draw, detector: Detector, *, triggerable_only: bool = False
    ) -> dict[str, np.ndarray]:
        """Truth arrays for ``draw.n`` events of this process (``true_process`` set)."""
        truth = self.sampler(draw, detector, triggerable_only)
        truth["true_process"] = np.full(draw.n, self.code, dtype=np.int32)
        return truth


# ---------------------------------------------------------------------------
# truth layout and shared responses


def truth_branch_types(detector: Detector) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Truth branch name -> (dtype, per-event shape) for a setup's MC files."""
    types: dict[str, tuple[str, tuple[int, ...]]] = {
        "true_process": ("i4", ()),
        "true_beam_energy": ("f4", ()),
        "true_e_ecal": ("f4", ()),
        "true_ps_fraction": ("f4", ()),
        "true_shower_width": ("f4", ()),
        "true_e_hcal": ("f4", (detector.hcal_modules,)),
        "true_e_veto": ("f4", ()),
        "true_e_missing": ("f4", ()),
        "true_x": ("f4", ()),
        "true_mass": ("f4", ()),
        "true_track_scale": ("f4", ()),
    }
    if detector.beam == "electron":
        types["true_srd"] = ("f4", (3,))
    else:
        types["true_p_out"] = ("f4", ())
        types["true_p_out_scale"] = ("f4", ())
        types["true_n_out"] = ("i4", ())
    if detector.physics.mode == "visible":
        types.update(
            dict.fromkeys(
                ("true_e_wcal", "true_e_w2", "true_e_v2", "true_e_s4", "true_decay_z"), ("f4", ())
            )
        )
    return types


def new_truth(detector: Detector, n: int) -> dict[str, np.ndarray]:
    """Empty truth for ``n`` events: zero deposits, NaN for signal-only fields, unit scales."""
    truth = {
        name: np.zeros((n, *shape)) for name, (_, shape) in truth_branch_types(detector).items()
    }
    for name in ("true_x", "true_mass", "true_decay_z"):
        if name in truth:
            truth[name][:] = np.nan
    for name in ("true_shower_width", "true_track_scale", "true_p_out_scale"):
        if name in truth:
            truth[name][:] = 1.0
    return truth


def _beam(draw: Draw, detector: Detector) -> np.ndarray:
    return detector.beam_energy_gev * (1.0 + detector.beam_energy_spread * draw.normal())


def _em_ps_fraction(draw: Draw, energy_gev: np.ndarray) -> np.ndarray:
    """Share of an e-m shower in the first 4 X0 (preshower), longitudinal Gamma profile.

    dE/dt ~ t^(a-1) e^(-b t), b = 0.5, t_max = (a-1)/b = ln(E/E_c) - 0.5 with
    E_c = 7.4 MeV for Pb (PDG, "Passage of particles through matter"),
    fluctuated by 30%.
    """
    t_max = np.log(np.clip(energy_gev, 0.05, None) / 0.0074) - 0.5
    mean = gammainc(0.5 * t_max + 1.0, 0.5 * 4.0)
    return np.clip(draw.gamma_mean(mean, 11.0), 0.0, 1.0)


def _srd_electron(draw: Draw, detector: Detector, energy_gev: np.ndarray) -> np.ndarray:
    """Synchrotron-radiation signal in the 3 SRD counters [MeV], mean ~ E^2."""
    mean = detector.srd_mean_mev * (np.asarray(energy_gev) / detector.beam_energy_gev) ** 2
    return draw.rng.gamma(6.0, 1.0, (draw.n, 3)) * (mean[:, None] / 6.0)


def _srd_hadron(draw: Draw, fake: np.ndarray) -> np.ndarray:
    """Hadrons radiate no SR (m^-4); a knock-on electron from the vessel window fakes it [MeV]."""
    return draw.rng.exponential(4.0, (draw.n, 3)) * fake[:, None]


def _hcal_shower(draw: Draw, detector: Detector, energy_gev: np.ndarray) -> np.ndarray:
    """Hadronic shower energy shared among the HCAL modules (mostly the first) [GeV]."""
    profile = np.array([0.6, 0.28, 0.09, 0.03])[: detector.hcal_modules]
    shares = draw.rng.dirichlet(20.0 * profile / profile.sum(), draw.n)
    return np.clip(energy_gev, 0.0, None)[:, None] * shares


def _hcal_mips(draw: Draw, detector: Detector, n_muons: np.ndarray) -> np.ndarray:
    """Muons crossing every HCAL module: Gamma(k=8) per muon around the MIP signal [GeV]."""
    k = 8.0 * np.asarray(n_muons, dtype=float)[:, None] * np.ones(detector.hcal_modules)
    return np.where(
        k > 0, draw.rng.gamma(np.where(k > 0, k, 1.0)) * detector.hcal_mip_gev / 8.0, 0.0
    )


def _counter_mips(draw: Draw, detector: Detector, n_mips: np.ndarray) -> np.ndarray:
    """Thin scintillator crossed by ``n_mips`` charged particles [MeV] (Gamma k=4 per MIP)."""
    k = 4.0 * np.asarray(n_mips, dtype=float)
    return np.where(
        k > 0, draw.rng.gamma(np.where(k > 0, k, 1.0)) * detector.counter_mip_mev / 4.0, 0.0
    )


def _rare(
    draw: Draw, probability: float, forced: bool, biased_probability: float = 0.3
) -> np.ndarray:
    """The rare branch of a process: forced on (real data, triggerable part only) or weighted."""
    if forced:
        return np.ones(draw.n, dtype=bool)
    return draw.bernoulli(probability, biased_probability=biased_probability)


def _close(truth: dict[str, np.ndarray], beam: np.ndarray) -> dict[str, np.ndarray]:
    """Set the beam energy and the missing energy from energy conservation (what no detector
    saw).
    """
    truth["true_beam_energy"] = beam
    seen = truth["true_e_ecal"] + truth["true_e_hcal"].sum(axis=1) + truth.get("true_e_wcal", 0.0)
    if "true_p_out" in truth:
        seen = seen + truth["true_p_out"]
    truth["true_e_missing"] = np.clip(beam - seen, 0.0, None)
    return truth


# ---------------------------------------------------------------------------
# NA64e invisible (100 GeV e-, Pb/Sc ECAL active target)


def _e_em_shower(draw: Draw, det: Detector, forced: bool) -> dict[str, np.ndarray]:
    beam = _beam(draw, det)
    t = new_truth(det, draw.n)
    leak = draw.rng.exponential(0.02, draw.n)  # 40 X0 contain the shower; ~20 MeV leaks to HCAL0
    t["true_e_ecal"] = beam - leak
    t["true_e_hcal"][:, 0] = leak
    t["true_ps_fraction"] = _em_ps_fraction(draw, beam)
    t["true_srd"] = _srd_electron(draw, det, beam)
    return _close(t, beam)


def _interaction_depth(draw: Draw, lambdas: float, below: float) -> np.ndarray:
    """Depth of a hadron's first interaction in units of a calorimeter of ``lambdas`` interaction
    lengths.

    Exponential; ``below`` < inf draws it conditional on depth < ``below``.
    """
    top = 1.0 - math.exp(-lambdas * below) if math.isfinite(below) else 1.0
    return -np.log1p(-draw.uniform() * top) / lambdas


#: Triggerable share of the beam hadrons: those interacting in the preshower.
_HADRON_PS_FRACTION = 1.0 - math.exp(-_PB_ECAL_LAMBDA_INT * _PS_DEPTH)


def _e_hadron(draw: Draw, det: Detector, forced: bool) -> dict[str, np.ndarray]:
    beam = _beam(draw, det)
    t = new_truth(det, draw.n)
    fake_tag = _rare(draw, 1e-3, False, 0.3)
    t["true_srd"] = _srd_hadron(draw, fake_tag)
    # interaction point / ECAL depth; only an interaction in the preshower can fire the trigger
    depth = _interaction_depth(draw, _PB_ECAL_LAMBDA_INT, _PS_DEPTH if forced else math.inf)
    interacts = depth < 1.0
    # charge exchange pi- p -> pi0 n with the neutron(s) escaping the 30 lambda HCAL unseen
    cex = interacts & _rare(draw, 3e-7, False, 0.2)
    z_pi0 = draw.uniform(0.05, 1.0)
    deposit = np.where(interacts, draw.uniform(0.1, 0.7) * (1.0 - depth), 0.0) * beam
    e_ecal = np.where(interacts, deposit, det.ecal_mip_gev)
    e_ecal = np.where(cex, z_pi0 * beam, e_ecal)
    t["true_e_ecal"] = e_ecal
    in_ps = interacts & (depth < _PS_DEPTH)
    t["true_ps_fraction"] = np.where(
        in_ps, draw.uniform(0.05, 0.3), _PS_DEPTH * det.ecal_mip_gev / np.maximum(e_ecal, 1e-9)
    )
    t["true_ps_fraction"] = np.where(
        cex, _em_ps_fraction(draw, e_ecal), np.clip(t["true_ps_fraction"], 0.0, 1.0)
    )
    t["true_shower_width"] = np.where(cex, 1.0, np.where(interacts, 2.5, 0.3))
    t["true_e_hcal"] = np.where(cex[:, None], 0.0, _hcal_shower(draw, det, beam - e_ecal))
    t["true_e_veto"] = np.where(
        cex,
        0.0,
        _counter_mips(draw, det, np.where(interacts, draw.rng.poisson(3.0, draw.n) + 1, 1)),
    )
    return _close(t, beam)


def _e_electronuclear(draw: Draw, det: Detector, forced: bool) -> dict[str, np.ndarray]:
    beam = _beam(draw, det)
    t = new_truth(det, draw.n)
    y = draw.power_law(0.1, 1.0, 1.0, biased_index=0.0)  # hadronic energy fraction, dN/dy ~ 1/y
    escape = _rare(draw, 1e-9, False, 0.3)  # leading neutral hadrons escape ECAL + HCAL
    stays = draw.uniform(0.1, 0.4)  # share of the hadronic energy left in the ECAL
    hadronic = y * beam
    t["true_e_ecal"] = (1.0 - y) * beam + np.where(escape, 0.0, stays * hadronic)
    t["true_e_hcal"] = np.where(
        escape[:, None], 0.0, _hcal_shower(draw, det, (1.0 - stays) * hadronic)
    )
    charged = ~escape & draw.bernoulli(0.9)
    t["true_e_veto"] = _counter_mips(
        draw, det, np.where(charged, draw.rng.poisson(2.0, draw.n) + 1, 0)
    )
    t["true_ps_fraction"] = _em_ps_fraction(draw, beam) * beam / np.maximum(t["true_e_ecal"], 1e-9)
    t["true_ps_fraction"] = np.clip(t["true_ps_fraction"], 0.0, 1.0)
    t["true_shower_width"] = 1.0 + 1.5 * np.where(escape, 0.0, stays * hadronic) / np.maximum(
        t["true_e_ecal"], 1e-9
    )
    t["true_srd"] = _srd_electron(draw, det, beam)
    return _close(t, beam)


def _e_dimuon(draw: Draw, det: Detector, forced: bool) -> dict[str, np.ndarray]:
    beam = _beam(draw, det)
    t = new_truth(det, draw.n)
    k = draw.power_law(0.1, 1.0, 1.0)  # hard brems photon, dN/dk ~ 1/k, converting to mu+ mu-
    mip = 2.0 * det.ecal_mip_gev * draw.uniform(0.3, 1.0)  # both muons from the conversion point on
    t["true_e_ecal"] = (1.0 - k) * beam + mip
    t["true_e_hcal"] = _hcal_mips(draw, det, np.full(draw.n, 2))
    t["true_e_veto"] = _counter_mips(draw, det, np.full(draw.n, 2))
    t["true_ps_fraction"] = np.clip(_em_ps_fraction(draw, beam) * beam / t["true_e_ecal"], 0.0, 1.0)
    t["true_srd"] = _srd_electron(draw, det, beam)
    return _close(t, beam)


def _e_beam_tail(draw: Draw, det: Detector, forced: bool) -> dict[str, np.ndarray]:
    energy = draw.uniform(10.0, 95.0)  # degraded electrons that pass the magnets
    t = new_truth(det, draw.n)
    t["true_e_ecal"] = energy
    t["true_ps_fraction"] = _em_ps_fraction(draw, energy)
    t["true_srd"] = _srd_electron(draw, det, energy)
    wrong_track = _rare(draw, 1e-7, False, 0.2)  # a pile-up beam track is associated instead
    t["true_track_scale"] = np.where(wrong_track, det.beam_energy_gev / energy, 1.0)
    return _close(t, energy)


# ---------------------------------------------------------------------------
# NA64mu (160 GeV muons, Pb active target, two spectrometers)


def _mu_out(
    draw: Draw,
    det: Detector,
    t: dict[str, np.ndarray],
    p_out: np.ndarray,
    n_muons_on_axis: np.ndarray,
    gap: np.ndarray,
) -> None:
    """Outgoing muon(s): soft ones (< 100 GeV/c) are bent out of the HCAL acceptance by MS2."""
    t["true_p_out"] = p_out
    t["true_n_out"][:] = 1
    t["true_e_hcal"] = np.where(gap[:, None], 0.0, _hcal_mips(draw, det, n_muons_on_axis))


def _mu_muon(draw: Draw, det: Detector, forced: bool) -> dict[str, np.ndarray]:
    beam = _beam(draw, det)
    t = new_truth(det, draw.n)
    t["true_e_ecal"] = det.ecal_mip_gev * draw.gamma_mean(1.0, 8.0)
    t["true_e_veto"] = _counter_mips(draw, det, np.ones(draw.n))
    mismeasured = _rare(draw, 1e-4, forced, 0.3)  # MS2 reconstructs a wrong, lower momentum
    t["true_p_out_scale"] = np.where(mismeasured, draw.uniform(0.2, 1.0), 1.0)
    gap = _rare(draw, 1e-7, False, 0.3)  # the muon crosses an HCAL gap (non-hermeticity)
    _mu_out(draw, det, t, beam - t["true_e_ecal"], np.ones(draw.n), gap)
    return _close(t, beam)


def _mu_beam_tail(draw: Draw, det: Detector, forced: bool) -> dict[str, np.ndarray]:
    beam = draw.uniform(40.0, 150.0)  # low-energy muons from pi/K decays in the beam line
    t = new_truth(det, draw.n)
    t["true_e_ecal"] = det.ecal_mip_gev * draw.gamma_mean(1.0, 8.0)
    t["true_e_veto"] = _counter_mips(draw, det, np.ones(draw.n))
    wrong = _rare(draw, 1e-8, False, 0.3)  # MS1 mis-measures the incoming momentum as nominal
    t["true_track_scale"] = np.where(wrong, det.beam_energy_gev / beam, 1.0)
    p_out = beam - t["true_e_ecal"]
    _mu_out(
        draw,
        det,
        t,
        p_out,
        (p_out > det.trigger_p_out_max_gev).astype(float),
        np.zeros(draw.n, bool),
    )
    return _close(t, beam)


def _mu_trident(draw: Draw, det: Detector, forced: bool) -> dict[str, np.ndarray]:
    beam = _beam(draw, det)
    t = new_truth(det, draw.n)
    k = draw.power_law(0.0625, 1.0, 1.0)  # pair energy fraction (> 10 GeV), dN/dk ~ 1/k
    share = draw.uniform(0.1, 0.9)
    p_mu = np.stack([(1.0 - k) * beam, share * k * beam, (1.0 - share) * k * beam], axis=1)
    t["true_e_ecal"] = 3.0 * det.ecal_mip_gev * draw.gamma_mean(1.0, 8.0)
    t["true_e_veto"] = _counter_mips(draw, det, np.full(draw.n, 3))
    on_axis = (p_mu > det.trigger_p_out_max_gev).sum(axis=1)
    _mu_out(draw, det, t, p_mu[:, 0], on_axis, np.zeros(draw.n, bool))
    t["true_n_out"][:] = 3
    t = _close(t, beam)
    t["true_e_missing"][:] = 0.0  # the pair muons are charged and leave through the setup
    return t


def _mu_photonuclear(draw: Draw, det: Detector, forced: bool) -> dict[str, np.ndarray]:
    beam = _beam(draw, det)
    t = new_truth(det, draw.n)
    y = draw.power_law(0.0625, 1.0, 1.0, biased_index=0.0)
    escape = _rare(draw, 1e-8, False, 0.3)  # hadrons are neutral and escape the HCAL
    stays = draw.uniform(0.1, 0.4)
    hadronic = y * beam
    t["true_e_ecal"] = det.ecal_mip_gev + np.where(escape, 0.0, stays * hadronic)
    t["true_shower_width"][:] = 2.5
    t["true_e_veto"] = _counter_mips(
        draw, det, 1 + np.where(escape, 0, draw.rng.poisson(2.0, draw.n))
    )
    p_out = (1.0 - y) * beam
    _mu_out(
        draw,
        det,
        t,
        p_out,
        (p_out > det.trigger_p_out_max_gev).astype(float),
        np.zeros(draw.n, bool),
    )
    t["true_e_hcal"] += np.where(
        escape[:, None], 0.0, _hcal_shower(draw, det, (1.0 - stays) * hadronic)
    )
    return _close(t, beam)


# ---------------------------------------------------------------------------
# NA64e visible (W dump, decay volume, S4, ECAL)


def _vis_em_shower(draw: Draw, det: Detector, forced: bool) -> dict[str, np.ndarray]:
    beam = _beam(draw, det)
    t = new_truth(det, draw.n)
    punch = _rare(draw, 1e-12, forced, 0.3)  # a hard photon punches through the dump
    z = draw.power_law(0.2, 1.0, 2.0)
    converts = punch & draw.bernoulli(1e-3)  # and converts before S4
    t["true_e_wcal"] = beam * np.where(punch, 1.0 - z, 1.0)
    t["true_e_ecal"] = np.where(punch, z * beam, 0.0)
    t["true_e_s4"] = _counter_mips(draw, det, 2 * converts)
    t["true_ps_fraction"] = _em_ps_fraction(draw, np.maximum(t["true_e_ecal"], 0.1))
    t["true_srd"] = _srd_electron(draw, det, beam)
    return _close(t, beam)


def _vis_hadron(draw: Draw, det: Detector, forced: bool) -> dict[str, np.ndarray]:
    beam = _beam(draw, det)
    t = new_truth(det, draw.n)
    t["true_srd"] = _srd_hadron(
        draw, _rare(draw, 1e-3, forced, 0.3)
    )  # the trigger needs an SRD signal
    depth = _interaction_depth(draw, _W_DUMP_LAMBDA_INT, math.inf)
    interacts = depth < 1.0
    wcal = np.where(interacts, draw.uniform(0.2, 0.9) * (1.0 - depth) * beam, 0.1)
    rest = beam - wcal
    charged = np.where(interacts, draw.rng.poisson(2.0, draw.n) + 1, 1)
    t["true_e_wcal"] = wcal
    for name in ("true_e_w2", "true_e_v2", "true_e_s4"):
        t[name] = _counter_mips(draw, det, charged)
    t["true_e_ecal"] = draw.uniform(0.05, 0.5) * rest
    t["true_shower_width"][:] = 2.5
    t["true_e_hcal"] = _hcal_shower(draw, det, rest - t["true_e_ecal"])
    t["true_e_veto"] = _counter_mips(draw, det, charged)
    return _close(t, beam)


def _vis_neutral(draw: Draw, det: Detector, forced: bool) -> dict[str, np.ndarray]:
    """Electro-nuclear event in the dump whose leading neutral (K0_S) decays in the decay volume."""
    beam = _beam(draw, det)
    t = new_truth(det, draw.n)
    y = draw.power_law(0.2, 1.0, 1.0, biased_index=0.0)
    neutral = y * beam
    charged_mode = draw.bernoulli(0.69)  # K0_S -> pi+ pi- (else pi0 pi0)
    converts = ~charged_mode & _rare(draw, 1e-3, False, 0.3)  # a pi0 photon converts before S4
    t["true_e_wcal"] = beam - neutral
    t["true_e_s4"] = _counter_mips(draw, det, np.where(charged_mode | converts, 2, 0))
    in_ecal = np.where(charged_mode, draw.uniform(0.2, 0.6), 1.0) * neutral
    t["true_e_ecal"] = in_ecal
    t["true_shower_width"] = np.where(charged_mode, 2.5, 1.3)
    t["true_ps_fraction"] = _em_ps_fraction(draw, np.maximum(in_ecal, 0.1))
    t["true_e_hcal"] = _hcal_shower(draw, det, neutral - in_ecal)
    t["true_e_veto"] = _counter_mips(draw, det, np.where(charged_mode, 2, 0))
    t["true_srd"] = _srd_electron(draw, det, beam)
    t["true_decay_z"] = VISIBLE_GEOMETRY_CM["wcal_length"] + draw.uniform(
        0.0, VISIBLE_GEOMETRY_CM["decay_volume_length"]
    )
    return _close(t, beam)


#: One background process of a setup: (name, rate per EOT / MOT, triggerable fraction, sampler,
#: description); see :class:`Process`.
_Spec = tuple[str, float, float, Sampler, str]


def _backgrounds(setup: str, *specs: _Spec) -> tuple[str, dict[str, Process]]:
    """(``setup``, its background processes by name), numbered 1, 2, ... in the order given (the
    truth ``process`` code; 0 is the signal).
    """
    processes = (
        Process(
            name=name,
            setup=setup,
            code=code,
            rate_per_pot=rate,
            triggerable_fraction=triggerable,
            description=description,
            sampler=sampler,
        )
        for code, (name, rate, triggerable, sampler, description) in enumerate(specs, start=1)
    )
    return setup, {p.name: p for p in processes}


#: Background processes per setup (rates per EOT / MOT: documented choices,
#: module docstring). Each beam particle is one occurrence of exactly one
#: process, so the rates of a setup add up to 1 (the em_shower / muon rate is
#: what the others leave).
BACKGROUNDS: dict[str, dict[str, Process]] = dict(
    (
        _backgrounds(
            "na64e-invisible",
            (
                "em_shower",
                0.98848,
                0.0,
                _e_em_shower,
                "ordinary beam-electron showers with the full energy in the ECAL",
            ),
            (
                "hadron",
                1e-2,
                _HADRON_PS_FRACTION,
                _e_hadron,
                "pi- contamination of the beam, pi/e ~ 1e-2 before the SRD (NA64 review sec. 4.1); "
                "SRD fake tag 1e-3; charge exchange with escaping neutrons 3e-7 per "
                "interaction",
            ),
            (
                "electronuclear",
                1e-3,
                1.0,
                _e_electronuclear,
                "electro-nuclear interactions in the ECAL (hadronic energy > 10 GeV, dN/dy ~ 1/y); "
                "neutral hadrons escape ECAL + HCAL with probability 1e-9, else leak into the HCAL",
            ),
            (
                "dimuon",
                2e-5,
                1.0,
                _e_dimuon,
                "gamma -> mu+ mu- in the ECAL (~ (m_e/m_mu)^2 of pair production)",
            ),
            (
                "beam_tail",
                5e-4,
                1.0,
                _e_beam_tail,
                "low-energy beam tail: 10-95 GeV electrons; a wrong (nominal) track 1e-7",
            ),
        ),
        _backgrounds(
            "na64mu-invisible",
            (
                "muon",
                0.99894,
                1e-4,
                _mu_muon,
                "ordinary beam muons crossing the setup; MS2 momentum mis-measurement tail 1e-4, "
                "HCAL gap (non-hermeticity) 1e-7 (NA64 review sec. 5.2)",
            ),
            (
                "beam_tail",
                1e-3,
                1.0,
                _mu_beam_tail,
                "low-energy muon tail of the beam, 40-150 GeV/c; MS1 mis-measures it as nominal "
                "1e-8",
            ),
            (
                "trident",
                1e-5,
                1.0,
                _mu_trident,
                "mu Z -> mu Z mu+ mu- with the pair above 10 GeV",
            ),
            (
                "photonuclear",
                5e-5,
                1.0,
                _mu_photonuclear,
                "muon photonuclear reactions above 10 GeV; all-neutral hadrons escape the HCAL "
                "1e-8",
            ),
        ),
        _backgrounds(
            "na64e-visible",
            (
                "em_shower",
                0.989998,
                1e-12,
                _vis_em_shower,
                "ordinary showers contained in the WCAL; a hard photon punches through 1e-12 and "
                "converts before S4 1e-3",
            ),
            (
                "hadron",
                1e-2,
                1e-3,
                _vis_hadron,
                "pi- contamination of the beam (pi/e ~ 1e-2, NA64 review sec. 4.2); only those "
                "with a fake SRD tag (1e-3) can trigger",
            ),
            (
                "neutral_hadron",
                2e-6,
                1.0,
                _vis_neutral,
                "electro-nuclear events whose leading K0_S decays in the decay volume",
            ),
        ),
    )
)


def get_process(setup: str, name: str) -> Process:
    """A background process by setup and name.

    >>> get_process("na64e-invisible", "hadron").rate_per_pot
    0.01
    """
    try:
        processes = BACKGROUNDS[setup]
    except KeyError:
        raise InputError(f"unknown setup {setup!r}; known: {', '.join(BACKGROUNDS)}") from None
    try:
        return processes[name]
    except KeyError:
        raise InputError(
            f"setup {setup!r} has no process {name!r}; known: signal, {', '.join(processes)}"
        ) from None


def backgrounds(setup: str) -> dict[str, Process]:
    """The background processes of a setup (registry key, as in
    :data:`~na64stat.simulation.setups.SIMULATION_SETUPS`), by process name.

    >>> list(backgrounds("na64mu-invisible"))
    ['muon', 'beam_tail', 'trident', 'photonuclear']
    """
    try:
        return BACKGROUNDS[setup]
    except KeyError:
        raise InputError(f"unknown setup {setup!r}; known: {', '.join(BACKGROUNDS)}") from None


# ---------------------------------------------------------------------------
# signal


def _inverse_cdf_x(
    rng: np.random.Generator,
    u: np.ndarray,
    x_lo: float,
    x_hi: float,
    density: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Invert the CDF of ``density(x)`` on [x_lo, x_hi] in s = -ln(1 - x) (resolves the x -> 1
    peak).
    """
    s = np.linspace(-math.log1p(-x_lo), -math.log1p(-x_hi), 2049)
    x = -np.expm1(-s)
    pdf_s = density(x) * (1.0 - x)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf_s[1:] + pdf_s[:-1]) * np.diff(s))])
    if not cdf[-1] > 0:
        raise PhysicsError("empty energy-fraction spectrum")
    return -np.expm1(-np.interp(u * cdf[-1], cdf, s))


#: Nodes in s = -ln(1 - x) of the tabulated ETL x CDF (as in :func:`_inverse_cdf_x`).
_ETL_CDF_NODES = 2049


@lru_cache(maxsize=2048)  # ~33 kB each; a shower has ~120 energy bins per mass
def _etl_x_cdf(
    lepton: str, target: str, mass_gev: float, beam_energy_gev: float, x_lo: float
) -> tuple[np.ndarray, np.ndarray]:
    """(s = -ln(1 - x) grid, CDF of x on it) of the ETL x spectrum of ``lepton`` ("e" / "mu") above
    ``x_lo``.

    The ETL table holds sigma(x > x_min) [pb / alpha_X] at several cuts
    (:func:`na64stat.physics.etl.sigma_etl_pb`, ``resources/etl_cross_sections.json``,
    integrated by :func:`na64stat.physics.etl.compute_etl`). Since
    d sigma(x > x_min)/d x_min = -dsigma/dx, the complementary CDF of x above a
    generation cut x_lo is exactly S(x) = sigma(x' > x) / sigma(x' > x_lo), so

        F(x) = 1 - sigma_ETL(x' > x) / sigma_ETL(x' > x_lo),   x_lo <= x <= 1 - m_l/E0,

    with no numerical derivative or re-integration: F is the interpolated
    table itself (cubic in x_min between its cuts, linear to 0 above the last
    one), the same numbers the yield reads, so the generated fraction above
    any cut equals the yield's ratio. Cached per (lepton, target, mass, E0,
    x_lo): one table evaluation per point, then every batch only inverts it.

    Units: x dimensionless; ``mass_gev``, ``beam_energy_gev`` in GeV.
    """
    x_hi = 1.0 - (M_MU_GEV if lepton == "mu" else M_E_GEV) / beam_energy_gev
    s = np.linspace(-math.log1p(-x_lo), -math.log1p(-x_hi), _ETL_CDF_NODES)
    above = np.asarray(
        sigma_etl_pb(lepton, target, mass_gev, beam_energy_gev, -np.expm1(-s)), dtype=float
    )
    if not above[0] > 0:
        raise PhysicsError(
            f"empty ETL {lepton} x spectrum for m = {mass_gev} GeV, E0 = {beam_energy_gev} GeV, "
            f"x > {x_lo} (target {target})"
        )
    cdf = 1.0 - above / above[0]
    # The interpolated table falls monotonically (checked in tests); guard the inversion against
    # rounding.
    cdf = np.maximum.accumulate(np.clip(cdf, 0.0, 1.0))
    cdf[-1] = 1.0  # sigma(x > 1 - m_l/E0) = 0 (the table's linear tail ends there)
    return s, cdf


def _etl_x(
    u: np.ndarray, lepton: str, target: str, mass_gev: float, beam_energy_gev: float, x_lo: float
) -> np.ndarray:
    """x = E_X/E of ETL signal by inverse-CDF sampling of :func:`_etl_x_cdf` (u uniform in [0,
    1)).
    """
    s, cdf = _etl_x_cdf(lepton, target, float(mass_gev), float(beam_energy_gev), float(x_lo))
    return -np.expm1(-np.interp(u, cdf, s))


def _electron_signal_energy(
    draw: Draw,
    physics: Setup,
    mass_gev: float,
    e_cut_gev: float,
    production: SignalProduction | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(E_X [GeV] at the nominal beam energy, whether each event is resonant annihilation) on the
    track-length spectrum: x from eq. (22), or from the computed ETL spectrum where the setup's
    ``cross_section`` is ``"etl-computed"`` (:func:`_etl_x`).

    With resonant annihilation on (``Setup.positron_annihilation``), a share
    N_ann / (N_brems + N_ann) of the events, the two channels' yields above
    ``e_cut_gev``, is e+ e- -> A' instead: the A' carries the positron's energy E+ (+ m_e),
    E+ drawn from T+(E+) sigma(E+) with the setup's finite width (:func:`_annihilation_energy`;
    narrow width: E+ = E_R = (m^2 - 2 m_e^2)/(2 m_e)). ``production="annihilation"`` alone keeps
    E_R: it is the per-energy efficiency probe of the table's annihilation rows
    (tools/make_efficiency_table.py). The caller
    scales the bremsstrahlung A' energies with the beam particle's energy (a 1%
    spread), not E_R, which the resonance fixes whatever the beam energy.
    ``production`` picks one channel alone (every event bremsstrahlung, or every
    event resonant); ``None``: the setup's mixture above.
    """
    if production == "annihilation":
        return np.full(draw.n, float(resonance_energy_gev(mass_gev))), np.ones(draw.n, dtype=bool)
    setup = physics.with_(
        missing_energy_cut_gev=e_cut_gev,
        exposure=1.0,
        efficiency=1.0,
        positron_annihilation=physics.positron_annihilation and production is None,
    )
    spectrum = electron_emission_spectrum(setup, mass_gev)
    weights = spectrum.events_per_alpha_x
    bins = draw.choice(weights)
    u = draw.uniform()
    energy_x = np.empty(draw.n)
    for j in np.unique(bins):
        sel = bins == j
        e_j = float(spectrum.energy_gev[j])
        lo, hi = x_range(mass_gev, e_j, M_E_GEV)
        if (
            setup.cross_section == "etl-computed"
        ):  # the computed ETL x spectrum the yield uses (physics.yields)
            x = _etl_x(
                u[sel], "e", setup.target.name, mass_gev, e_j, max(float(lo), e_cut_gev / e_j)
            )
        else:  # "etl" (DMG4's IWW / K) and "iww": the x shape of eq. (22)
            x = _inverse_cdf_x(
                draw.rng,
                u[sel],
                max(float(lo), e_cut_gev / e_j),
                float(hi),
                lambda x: dsigma_dx_iww_pb(x, mass_gev, e_j, 1.0, setup.target),  # noqa: B023 -- called in this iteration
            )
        energy_x[sel] = x * e_j
    resonant = np.zeros(draw.n, dtype=bool)
    annihilation = (
        0.0  # per EOT and unit alpha_X, like the bremsstrahlung weights (exposure = efficiency = 1)
    )
    if setup.positron_annihilation:
        annihilation = annihilation_events_per_pot(
            mass_gev,
            1.0,
            setup.beam_energy_gev,
            e_cut_gev,
            setup.target,
            setup.target_length_x0,
            setup.annihilation_sector,
        )
    if (
        annihilation > 0.0
    ):  # no extra draw otherwise: the bremsstrahlung-only streams stay as they were
        resonant = np.asarray(
            draw.bernoulli(annihilation / (annihilation + float(weights.sum()))), dtype=bool
        )
        energy_x = np.where(
            resonant, _annihilation_energy(draw, setup, mass_gev, e_cut_gev), energy_x
        )
    return energy_x, resonant


def _annihilation_energy(draw: Draw, setup: Setup, mass_gev: float, e_cut_gev: float) -> np.ndarray:
    """A' energies [GeV] of resonant-annihilation events: E+ + m_e with the positron energy E+
    drawn from T+(E+) sigma(E+) above the cut (the finite-width yield's quadrature nodes,
    :func:`~na64stat.physics.annihilation.positron_annihilation_nodes`, ~16 per track-length
    bin); E_R with ``setup.annihilation_sector = None`` (narrow width).
    """
    if setup.annihilation_sector is None:
        return np.full(draw.n, float(resonance_energy_gev(mass_gev)))
    nodes = positron_annihilation_nodes(
        mass_gev,
        1.0,
        setup.beam_energy_gev,
        e_cut_gev,
        setup.target_length_x0,
        setup.annihilation_sector,
    )
    return nodes.energy_gev[draw.choice(nodes.weight)] + M_E_GEV


def _signal_sampler(
    mass_gev: float, coupling: float, cut: float, production: SignalProduction | None = None
) -> Sampler:
    """Truth sampler of the signal; ``cut`` is the generation cut as a fraction of the beam energy,
    ``production`` one channel alone (``None``: the setup's channels,
    :func:`_electron_signal_energy`).
    """

    def sample(draw: Draw, det: Detector, forced: bool) -> dict[str, np.ndarray]:
        beam = _beam(draw, det)
        t = new_truth(det, draw.n)
        t["true_mass"][:] = mass_gev
        if det.beam == "muon":
            lo, hi = x_range(mass_gev, det.beam_energy_gev, M_MU_GEV)
            if (
                det.physics.cross_section == "etl"
            ):  # the spectrum the rate uses (physics.yields, muon beams)
                x = _etl_x(
                    draw.uniform(),
                    "mu",
                    det.physics.target.name,
                    mass_gev,
                    det.beam_energy_gev,
                    max(float(lo), cut),
                )
            else:  # "ww" / "iww": Weizsacker-Williams, eq. (22)
                x = _inverse_cdf_x(
                    draw.rng,
                    draw.uniform(),
                    max(float(lo), cut),
                    float(hi),
                    lambda x: dsigma_dx_iww_pb(
                        x, mass_gev, det.beam_energy_gev, 1.0, LEAD, M_MU_GEV, x_dependent_tmin=True
                    ),
                )
            energy_x = x * beam
            t["true_e_ecal"] = det.ecal_mip_gev * draw.gamma_mean(1.0, 8.0)
            t["true_e_veto"] = _counter_mips(draw, det, np.ones(draw.n))
            p_out = beam - energy_x - t["true_e_ecal"]
            _mu_out(
                draw,
                det,
                t,
                p_out,
                (p_out > det.trigger_p_out_max_gev).astype(float),
                np.zeros(draw.n, bool),
            )
        else:
            energy_x, resonant = _electron_signal_energy(
                draw, det.physics, mass_gev, cut * det.beam_energy_gev, production
            )
            energy_x = np.where(resonant, energy_x, energy_x * beam / det.beam_energy_gev)
            t["true_srd"] = _srd_electron(draw, det, beam)
            if det.physics.mode == "visible":
                _visible_decay(draw, det, t, beam, energy_x, mass_gev, coupling)
            else:
                t["true_e_ecal"] = beam - energy_x
                t["true_ps_fraction"] = (
                    _em_ps_fraction(draw, beam) * beam / np.maximum(t["true_e_ecal"], 1e-9)
                )
                t["true_ps_fraction"] = np.clip(t["true_ps_fraction"], 0.0, 1.0)
        t["true_x"] = energy_x / beam
        return _close(t, beam)

    return sample


def _visible_decay(
    draw: Draw,
    det: Detector,
    t: dict[str, np.ndarray],
    beam: np.ndarray,
    energy_x: np.ndarray,
    mass_gev: float,
    epsilon: float,
) -> None:
    """A' -> e+ e- forced to decay between the dump and S4, weighted by that probability (eq. 118).

    With decay length lambda (lab frame), the rest of the dump L_d = L_WCAL - z_prod and the decay
    volume D, the probability is P = exp(-L_d/lambda) (1 - exp(-D/lambda)) and the decay point is
    the exponential truncated to [L_WCAL, L_WCAL + D]: z = L_WCAL - lambda ln(1 - u (1 -
    exp(-D/lambda))). The limits are taken explicitly: lambda = inf (no open decay channel, m < 2
    m_e: width 0) gives P = 0 and z uniform in the volume (lambda -> inf of z: L_WCAL + u D); lambda
    = 0 (boson at rest) gives P = 0 and z = L_WCAL (unless L_d = 0 as well, where P = 0 too).
    """
    length = decay_length_cm(width_aprime_to_ee_gev(mass_gev, epsilon), mass_gev, energy_x)
    z_prod = np.minimum(
        draw.gamma_mean(2.0 * VISIBLE_RUNS["2017"].wcal_cm_per_x0, 2.0),
        VISIBLE_GEOMETRY_CM["wcal_length"],
    )
    rest = VISIBLE_GEOMETRY_CM["wcal_length"] - z_prod  # >= 0 [cm]
    volume = VISIBLE_GEOMETRY_CM["decay_volume_length"]
    finite = np.isfinite(length) & (length > 0)
    safe = np.where(finite, length, 1.0)
    # P = exp(-rest/lambda) (1 - exp(-D/lambda)); 0 in both limits lambda = 0 and lambda = inf
    p_in = np.where(finite, np.exp(-rest / safe) * -np.expm1(-volume / safe), 0.0)
    u = draw.uniform()
    # truncated exponential on [L_WCAL, L_WCAL + D]; offset -> u D as lambda -> inf, -> 0 as lambda
    # -> 0
    offset = np.where(
        finite,
        -safe * np.log1p(u * np.expm1(-volume / safe)),
        np.where(np.isinf(length), u * volume, 0.0),
    )
    draw.weight *= p_in
    t["true_decay_z"] = VISIBLE_GEOMETRY_CM["wcal_length"] + offset
    t["true_e_wcal"] = beam - energy_x
    t["true_e_s4"] = _counter_mips(draw, det, np.full(draw.n, 2))
    t["true_e_ecal"] = energy_x
    t["true_shower_width"][:] = 1.1
    t["true_ps_fraction"] = _em_ps_fraction(draw, energy_x)


def _annihilation_rate(
    setup: str, physics: Setup, mass_gev: float, per_g2: np.ndarray, coupling: float
) -> float:
    """The annihilation-only signal rate per particle on target at ``coupling`` (``per_g2``:
    alpha_X x Br_inv per coupling^2); an :class:`InputError` for a muon beam, or where the A' energy
    E_R is not between the generation cut (``physics.missing_energy_cut_gev``) and the beam energy.
    """
    if physics.beam != "electron":
        raise InputError(
            f"setup {setup!r}: resonant annihilation needs an electron beam, not {physics.beam!r}"
        )
    per_alpha_x = annihilation_events_per_alpha_x(
        physics.with_(positron_annihilation=True), [mass_gev]
    )
    rate = float((per_g2 * per_alpha_x)[0]) * coupling**2
    e_r = float(resonance_energy_gev(mass_gev))
    cut_gev = physics.missing_energy_cut_gev
    if not (rate > 0.0 and cut_gev < e_r + M_E_GEV and e_r < physics.beam_energy_gev):
        # the annihilation-only probe puts every A' at E_R (the efficiency table's rows)
        raise InputError(
            f"setup {setup!r}: no resonant annihilation at m = {mass_gev} GeV: its A' energy "
            f"E_R = {e_r:.4g} GeV is not between the generation "
            f"cut {cut_gev:g} GeV and the beam energy {physics.beam_energy_gev:g} GeV"
        )
    return rate


def signal_process(
    setup: str,
    mass_gev: float,
    coupling: float = 1e-4,
    model: SignalModel | None = None,
    *,
    production: SignalProduction | None = None,
) -> Process:
    """The signal of boson mass ``mass_gev`` at a reference coupling.

    ``model``: a registered model (:mod:`na64stat.physics.models`), e.g.
    ``"dark_photon"`` (coupling = epsilon; default for electron setups) or
    ``"lmutau"`` (coupling = e_mu = g_Z'; default for NA64mu). The
    rate per particle on target is eq. (57) with efficiency 1 and the boson
    above the setup's generation cut
    (:attr:`~na64stat.simulation.setups.Generation.signal_cut_fraction`) of the beam energy
    (invisible decays, Br_inv included; visible mode: production, the decay probability enters
    the event weights).

    ``production`` (keyword): ``None`` (default) generates the setup's channels
    together (electron beams: bremsstrahlung plus, if
    ``Setup.positron_annihilation``, resonant annihilation, mixed by their
    yields); ``"bremsstrahlung"`` or ``"annihilation"`` one channel alone, with
    that channel's rate (the registries are not changed: the choice lives in
    the process). The annihilation-only process is named
    ``signal_m<MeV>MeV_annihilation``, so it never matches the ``signal_m*MeV``
    samples of the model stage; the bremsstrahlung-only one keeps the plain
    name ``signal_m<MeV>MeV`` and so its random stream: it is the signal the
    setup generates with ``Setup.positron_annihilation = False`` (and, for
    muon beams, the setup's whole signal), event for event; its metadata
    records ``production``. ``"annihilation"`` needs an electron beam and a
    mass whose A' energy E_R = (m^2 - 2 m_e^2) / (2 m_e) lies between the
    generation cut and the beam energy (an :class:`InputError` otherwise).

    >>> p = signal_process("na64e-invisible", 0.01, 1e-4)
    >>> p.code, p.metadata["model"], 1e-12 < p.rate_per_pot < 1e-9
    (0, 'dark_photon', True)
    >>> a = signal_process("na64e-invisible", 0.25, 1e-4, production="annihilation")
    >>> a.name, a.metadata["production"]
    ('signal_m250MeV_annihilation', 'annihilation')
    """
    if not (np.isfinite(mass_gev) and mass_gev > 0):
        raise InputError(f"signal mass must be positive, got {mass_gev!r} GeV")
    if not (np.isfinite(coupling) and coupling > 0):
        raise InputError(f"reference coupling must be positive, got {coupling!r}")
    record = get_simulation_setup(setup)
    det = record.detector
    model = model or ("lmutau" if det.beam == "muon" else "dark_photon")
    if model not in model_names() or (record.physics.mode == "visible" and model != "dark_photon"):
        raise InputError(f"setup {setup!r}: unsupported signal model {model!r}")
    cut_gev = record.signal_cut_gev
    if mass_gev >= det.beam_energy_gev - cut_gev:
        raise InputError(
            f"setup {setup!r}: mass {mass_gev} GeV cannot carry {cut_gev} GeV of missing energy"
        )
    if production not in (None, "bremsstrahlung", "annihilation"):
        raise InputError(
            f"setup {setup!r}: unknown signal production {production!r} "
            "(None, 'bremsstrahlung' or 'annihilation')"
        )
    physics = record.physics.with_(missing_energy_cut_gev=cut_gev, exposure=1.0, efficiency=1.0)
    per_g2 = invisible_alpha_x_per_coupling2(model, det.beam, [mass_gev])
    if production == "annihilation":
        rate = _annihilation_rate(setup, physics, mass_gev, per_g2, coupling)
    else:
        if production == "bremsstrahlung":
            physics = physics.with_(positron_annihilation=False)
        rate = float((per_g2 * events_per_alpha_x(physics, [mass_gev]))[0]) * coupling**2
    coupling_name = get_model(model).coupling_name
    channel = f" ({production} only)" if production else ""
    return Process(
        name=f"signal_m{mass_gev * 1e3:g}MeV"
        + ("_annihilation" if production == "annihilation" else ""),
        setup=setup,
        code=0,
        rate_per_pot=rate,
        triggerable_fraction=1.0,
        description=f"{model} signal{channel}, m = {mass_gev} GeV, {coupling_name} = {coupling:g}, "
        f"boson energy > {cut_gev:g} GeV",
        sampler=_signal_sampler(
            mass_gev, coupling, record.generation.signal_cut_fraction, production
        ),
        metadata={
            "mass_gev": mass_gev,
            "model": model,
            "coupling_name": coupling_name,
            "coupling": coupling,
            "generation_cut_gev": cut_gev,
            **({"production": production} if production else {}),
        },
    )
