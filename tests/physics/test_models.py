"""The signal-model registry and the widths from the charges, against closed forms."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from na64stat.core.errors import InputError
from na64stat.physics.constants import ALPHA_EM, M_E_GEV, M_MU_GEV, M_TAU_GEV
from na64stat.physics.couplings import mixing_from_e_mu
from na64stat.physics.decays import (
    branching_zprime_invisible,
    width_zprime_to_leptons_gev,
    width_zprime_to_neutrinos_gev,
)
from na64stat.physics.model_widths import (
    QUARK_MASSES_GEV,
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
    """g^2 x^2 m / (12 pi) (1 + 2 r) sqrt(1 - 4 r): arXiv:2003.07257 eq. (9), darkcast eq. (2.13)."""
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


def test_hadronic_widths_are_the_parton_level_r_ratio():
    """Dark photon: Gamma_had / Gamma(mu mu, m_mu -> 0) = R = 3 sum_q Q_q^2 (1 + 2 r_q) sqrt(1 - 4 r_q);
    B - L: 3 x 3 (1/3)^2 with the same phase space; nothing below 2 x 0.33 GeV."""
    m = np.array([0.5, 2.0, 10.0])
    pointlike = ALPHA_EM * m / 3
    charges = {"u": 2 / 3, "d": -1 / 3, "s": -1 / 3}
    r_ratio = sum(
        3 * q**2 * _fermion_width(1.0, m, QUARK_MASSES_GEV[f]) / (m / 3) for f, q in charges.items()
    )
    hadrons = partial_widths_gev(get_model("dark_photon"), m)["hadrons"]
    np.testing.assert_allclose(hadrons, pointlike * r_ratio, rtol=1e-12)
    assert hadrons[0] == 0.0
    assert hadrons[2] / pointlike[2] == pytest.approx(2.0, rel=0.01)  # R -> 2 far above threshold
    bl = partial_widths_gev(get_model("b_minus_l"), m)["hadrons"]
    assert bl[2] / (GAUGE_ALPHA_UNIT * m[2] / 3) == pytest.approx(1.0, rel=0.01)


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
