"""The signal-model registry and the widths from the charges, against closed forms."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from na64stat.core.errors import InputError
from na64stat.core.references import load_resource
from na64stat.physics.constants import ALPHA_EM, M_E_GEV, M_MU_GEV, M_TAU_GEV
from na64stat.physics.couplings import mixing_from_e_mu
from na64stat.physics.decays import (
    branching_zprime_invisible,
    width_zprime_to_leptons_gev,
    width_zprime_to_neutrinos_gev,
)
from na64stat.physics.model_widths import (
    alpha_x_per_coupling2,
    branching_invisible,
    invisible_alpha_x_per_coupling2,
    partial_widths_gev,
)
from na64stat.physics.models import (
    GAUGE_ALPHA_UNIT,
    VectorModel,
    get_model,
    load_models_yaml,
    model_names,
    register_model,
    unregister_model,
)
from na64stat.physics.yields import invisible_alpha_x_per_coupling2 as yields_per_coupling2

SHIPPED = ("dark_photon", "lmutau", "b_minus_l", "le_lmu", "le_ltau", "protophobic")
MASSES = np.array([0.005, 0.05, 0.3, 1.0, 4.0])
G = 1e-3  # a coupling for the closed forms


def _fermion_width(g2_over_4pi: float, m: np.ndarray, mf: float) -> np.ndarray:
    """g^2 x^2 m / (12 pi) (1 + 2 r) sqrt(1 - 4 r): arXiv:2003.07257 eq. (9), darkcast eq.
    (2.13).
    """
    r = (mf / m) ** 2
    return np.where(
        4 * r < 1,
        g2_over_4pi * m / 3 * (1 + 2 * r) * np.sqrt(np.clip(1 - 4 * r, 0, None)),
        0.0,
    )


def test_shipped_models_are_registered_with_their_charges():
    assert set(SHIPPED) <= set(model_names())
    assert get_model("b_minus_l").charge("d") == pytest.approx(1 / 3, rel=1e-15)
    assert get_model("b_minus_l").charge("nu_tau") == -1.0
    proton = 2 * get_model("protophobic").charge("u") + get_model("protophobic").charge("d")
    assert abs(proton) < 1e-15  # Feng et al., PRL 117 (2016) 071803: no coupling to protons
    assert get_model("protophobic").charge("nu_e") == 0.0
    assert get_model("le_ltau").charge("mu") == 0.0
    assert get_model("dark_photon").alpha_unit == ALPHA_EM


@pytest.mark.parametrize("name", SHIPPED)
def test_charged_lepton_widths_match_the_closed_form(name):
    model = get_model(name)
    widths = partial_widths_gev(model, MASSES)
    for lepton, mass, key in (("mu", M_MU_GEV, "mumu"), ("tau", M_TAU_GEV, "tautau")):
        expected = _fermion_width(model.alpha_unit * model.charge(lepton) ** 2, MASSES, mass)
        np.testing.assert_allclose(widths[key] * G**2, expected * G**2, rtol=1e-12, atol=0)
    if model.mixing is None:
        expected = _fermion_width(model.alpha_unit * model.charge("e") ** 2, MASSES, M_E_GEV)
        np.testing.assert_allclose(widths["ee"], expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", SHIPPED)
def test_neutrino_widths_one_helicity_per_flavour(name):
    model = get_model(name)
    charges2 = sum(model.charge(nu) ** 2 for nu in ("nu_e", "nu_mu", "nu_tau"))
    expected = model.alpha_unit * 4 * math.pi * charges2 * MASSES / (24 * math.pi)
    np.testing.assert_allclose(partial_widths_gev(model, MASSES)["nunu"], expected, rtol=1e-12)


def test_lmutau_from_its_charges_equals_the_closed_form_widths():
    """L_mu - L_tau without its closed-form branching: the charges and the loop mixing alone."""
    generic = dataclasses.replace(get_model("lmutau"), branching=None)
    widths = partial_widths_gev(generic, MASSES)
    np.testing.assert_allclose(
        widths["nunu"], width_zprime_to_neutrinos_gev(MASSES, 1.0), rtol=1e-12
    )
    np.testing.assert_allclose(
        widths["ee"] + widths["mumu"] + widths["tautau"],
        width_zprime_to_leptons_gev(MASSES, 1.0),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        branching_invisible(generic, MASSES), branching_zprime_invisible(MASSES), rtol=1e-12
    )


def _grid_sum(coefficients: dict[str, float], m: np.ndarray) -> np.ndarray:
    """sum over darkcast's packaged grids of coefficient(mesons) x R_mu^F(m), linear
    interpolation.
    """
    grids = load_resource("darkcast_vmd")["grids"]
    return sum(
        coefficients[mesons] * np.interp(m, g["mass_gev"], g["r_mu"])
        for states in grids.values()
        for mesons, g in states.items()
    )


def test_hadronic_widths_from_darkcasts_vmd_table():
    """Gamma_had = alpha_unit m / 3 sum_F c_F R_mu^F with the (R^V Tr(x T_V))^2 of darkcast eq. 2.18
    worked out by hand: dark photon rho, omega, phi 1 each and omega-phi interference 2 x 1 x (-1);
    B - L rho 0 (isoscalar), omega (6 x 1/3)^2 = 4, phi (3 sqrt2 x 1/(3 sqrt2))^2 = 1, interference
    4.
    """
    m = np.array([0.3, 0.6, 0.775, 1.02, 1.6, 2.5])
    dark_photon = {"rho0": 1.0, "omega": 1.0, "phi": 1.0, "omega_phi": -2.0}
    b_minus_l = {"rho0": 0.0, "omega": 4.0, "phi": 1.0, "omega_phi": 4.0}
    np.testing.assert_allclose(
        partial_widths_gev(get_model("dark_photon"), m)["hadrons"],
        ALPHA_EM * m / 3 * _grid_sum(dark_photon, m),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        partial_widths_gev(get_model("b_minus_l"), m)["hadrons"],
        GAUGE_ALPHA_UNIT * m / 3 * _grid_sum(b_minus_l, m),
        rtol=1e-12,
    )
    assert np.all(partial_widths_gev(get_model("lmutau"), m)["hadrons"] == 0.0)


def test_dark_photon_hadronic_width_against_the_measured_r_ratio():
    """R = Gamma_had / (alpha m / 3) against the PDG 2012 R compilation
    (rpp2012-hadronicrpp_page1001, 'EXCLSUM 07' points: 1.27602 at 0.60, 2.68093 at 0.66, 4.73600 at
    0.70 GeV). darkcast's VMD fit
    is a fit to exclusive e+e- data, not to this compilation: 10% allowed (it is 4-5% off here).
    """
    m = np.array([0.60, 0.66, 0.70])
    pdg = np.array([1.27602, 2.68093, 4.73600])
    r = partial_widths_gev(get_model("dark_photon"), m)["hadrons"] / (ALPHA_EM * m / 3)
    np.testing.assert_allclose(r, pdg, rtol=0.10)


def test_invisible_branching_ratios():
    m = np.array([0.01, 0.15, 1.0])
    # dark photon: chi chibar dominate as coupling -> 0
    assert np.all(branching_invisible(get_model("dark_photon"), m) == 1.0)
    # B - L below 2 m_mu: 3 neutrinos (m/6 each) against e+e- (m/3): 3/5
    assert float(branching_invisible(get_model("b_minus_l"), 0.01)) == pytest.approx(0.6, rel=1e-4)
    # L_e - L_mu above 2 m_mu: 2 nu (m/6) against e+e- and mu+mu- (m/3 each, phase space)
    mu = _fermion_width(1.0, np.array([1.0]), M_MU_GEV)[0] / (1 / 3)
    assert float(branching_invisible(get_model("le_lmu"), 1.0)) == pytest.approx(
        1 / 3 / (1 / 3 + 1 / 3 + mu / 3), rel=1e-4
    )
    assert np.all(branching_invisible(get_model("protophobic"), m) == 0.0)
    assert np.all(branching_invisible(get_model("protophobic"), m, "darkcast") == 1.0)


def test_production_scales_with_the_beam_lepton_charge_squared():
    m = np.array([0.01, 0.5])
    for name in ("b_minus_l", "le_lmu", "le_ltau"):
        model = get_model(name)
        for beam, lepton in (("electron", "e"), ("muon", "mu")):
            expected = model.charge(lepton) ** 2 / (4 * math.pi)
            np.testing.assert_allclose(alpha_x_per_coupling2(model, beam, m), expected, rtol=1e-15)
    assert np.all(alpha_x_per_coupling2(get_model("le_ltau"), "muon", m) == 0.0)


def test_dark_photon_and_lmutau_rates_unchanged():
    """The registry reproduces the former closed forms bit for bit (the shipped workspaces)."""
    m = np.array([0.001, 0.05, 0.2255, 1.0])
    for beam in ("electron", "muon"):
        assert np.all(yields_per_coupling2("dark_photon", beam, m) == ALPHA_EM)
    muon = np.full(m.shape, 1.0 / (4.0 * math.pi)) * branching_zprime_invisible(m)
    electron = ALPHA_EM * mixing_from_e_mu(1.0, m**2) ** 2 * branching_zprime_invisible(m)
    np.testing.assert_array_equal(yields_per_coupling2("lmutau", "muon", m), muon)
    np.testing.assert_array_equal(yields_per_coupling2("lmutau", "electron", m), electron)
    np.testing.assert_array_equal(
        yields_per_coupling2("lmutau", "muon", m, "darkcast"), np.full(m.shape, 1 / (4 * math.pi))
    )


def test_user_models_in_python_and_yaml(tmp_path):
    model = register_model(VectorModel("test_lmu", "L_mu", "g_mu", {"mu": 1.0, "nu_mu": 1.0}))
    try:
        assert "test_lmu" in model_names()
        assert float(invisible_alpha_x_per_coupling2(model, "electron", 0.01)) == 0.0
        assert float(branching_invisible(model, 0.01)) == pytest.approx(1.0, rel=1e-12)
        with pytest.raises(InputError, match="already registered"):
            register_model(model)
    finally:
        unregister_model("test_lmu")
    path = tmp_path / "models.yaml"
    path.write_text(
        "models:\n  - name: test_dm\n    coupling_unit: epsilon\n    charges: {e: -1, mu: -1}\n"
        "    dark_decay: {alpha_d: 0.5, mass_ratio: 3}\n"
    )
    (loaded,) = load_models_yaml(path)
    try:
        assert get_model("test_dm").alpha_unit == ALPHA_EM
        assert float(branching_invisible(loaded, 0.1)) == 1.0
    finally:
        unregister_model("test_dm")


def test_unknown_names_are_input_errors():
    with pytest.raises(InputError, match="unknown signal model 'nope'"):
        get_model("nope")
    with pytest.raises(InputError, match="unknown fermions"):
        VectorModel("x", "x", "g", {"top": 1.0})
