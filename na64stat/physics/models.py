"""Signal models: a registry of vector-portal bosons as frozen records of fermion charges.

A model is what darkcast calls one (Ilten, Soreq, Williams, Xue, JHEP 06 (2018) 004,
arXiv:1801.04847, eq. 2.1): a vector X coupling to each Standard-Model fermion f with
strength g x_f, here written g^2 x_f^2 = 4 pi ``alpha_unit`` x_f^2 so that the charges
stay the familiar numbers:

* ``dark_photon``: coupling epsilon, x_f = Q_f (``alpha_unit`` = alpha: eps e Q_f), with
  dark-sector decays A' -> chi chibar (alpha_D = 0.1, m_A' = 3 m_chi) that dominate;
* ``lmutau``: L_mu - L_tau, coupling g = e_mu, x_mu = x_nu_mu = 1, x_tau = x_nu_tau = -1,
  and the one-loop kinetic mixing with the photon of the NA64 review (arXiv:2003.07257,
  eq. 54) on shell, which gives electrons their coupling;
* ``b_minus_l``: B - L, x = -1 for every lepton and neutrino, 1/3 for every quark;
* ``le_lmu``, ``le_ltau``: L_e - L_mu and L_e - L_tau (x = 1 for e, nu_e; -1 for the other);
* ``protophobic``: the X17 of Feng et al., PRL 117 (2016) 071803: x_u = -1/3, x_d = x_s = 2/3
  (proton charge 2 x_u + x_d = 0), x = -1 for charged leptons, no neutrino charge
  (darkcast's ``protophobic`` model), coupling epsilon as for the dark photon.

The charges are darkcast's ``models/*.py`` (darkcast repository, the models folder) with the
dark photon's e moved into ``alpha_unit``. Neutrinos are left-handed: a vector coupling to one
helicity state, half the width of a massless Dirac fermion (:mod:`na64stat.physics.decays`).

A user adds a model with :func:`register_model` (or :func:`load_models_yaml`)::

    from na64stat.physics.models import VectorModel, register_model
    register_model(VectorModel("lmu", "L_mu", "g_mu", {"mu": 1.0, "nu_mu": 1.0}))

after which every stage (``na64stat combine --model lmu``, ``na64stat recast --model lmu``)
knows it. Widths and branching ratios are in :mod:`na64stat.physics.model_widths`.

>>> get_model("b_minus_l").charge("u"), get_model("dark_photon").charge("e")
(0.3333333333333333, -1.0)
>>> "protophobic" in model_names()
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from na64stat.core.errors import InputError
from na64stat.physics.constants import ALPHA_EM

__all__ = [
    "FERMIONS",
    "GAUGE_ALPHA_UNIT",
    "DarkDecay",
    "VectorModel",
    "register_model",
    "unregister_model",
    "get_model",
    "model_names",
    "load_models_yaml",
    "load_user_models",
    "USER_MODELS_VARIABLE",
]

#: Fermions a model may charge: charged leptons, (left-handed) neutrinos, light quarks.
FERMIONS: tuple[str, ...] = ("e", "mu", "tau", "nu_e", "nu_mu", "nu_tau", "u", "d", "s")
#: alpha per coupling^2 of a gauge coupling g: g^2 / (4 pi).
GAUGE_ALPHA_UNIT: float = 1.0 / (4.0 * math.pi)


@dataclass(frozen=True)
class DarkDecay:
    """Decays of the boson to a dark-sector Dirac fermion pair chi chibar (eq. 8 of
    arXiv:2003.07257).

    Attributes
    ----------
    alpha_d:
        Dark coupling alpha_D (dimensionless).
    mass_ratio:
        m_X / m_chi (dimensionless; above 2 the decay is open).
    """

    alpha_d: float = 0.1
    mass_ratio: float = 3.0


def _lmutau_mixing(mass_gev: ArrayLike) -> np.ndarray:
    """|eps| per unit e_mu on shell (q^2 = m^2), eq. (54) of arXiv:2003.07257."""
    from na64stat.physics.couplings import mixing_from_e_mu

    m = np.asarray(mass_gev, dtype=float)
    return mixing_from_e_mu(1.0, m**2)


def _lmutau_branching(mass_gev: ArrayLike, convention: str) -> np.ndarray:
    """Br(Z' -> invisible) of L_mu - L_tau in closed form (:mod:`na64stat.physics.decays`)."""
    from na64stat.physics.decays import branching_zprime_invisible

    return branching_zprime_invisible(mass_gev, convention)


@dataclass(frozen=True)
class VectorModel:
    """One vector-portal signal model.

    Attributes
    ----------
    name:
        Registry key (what ``--model`` and patch metadata ``signal_model`` say).
    label:
        Plot label, e.g. ``"B - L"``.
    coupling_name:
        Name of its coupling in results (``"epsilon"``, ``"e_mu"``, ``"g_BL"``...).
    charges:
        x_f per fermion of :data:`FERMIONS` (missing: 0).
    alpha_unit:
        alpha per coupling^2 per unit charge: alpha for a coupling epsilon in units of e
        (dark photon), 1 / 4 pi for a gauge coupling g (:data:`GAUGE_ALPHA_UNIT`).
    mixing:
        Kinetic mixing with the photon per unit coupling as a function of the mass [GeV]
        (loop-induced, on shell), or None. It gives fermions without a tree-level charge
        the coupling eps e Q_f; hadronic decays through it are neglected.
    dark_decay:
        Decays to dark-sector states, or None.
    branching:
        Closed-form Br(X -> invisible)(mass [GeV], convention), or None to compute it from
        the widths (:func:`na64stat.physics.model_widths.branching_invisible`).
    description:
        One line: what the model is and where its charges come from.
    """

    name: str
    label: str
    coupling_name: str
    charges: Mapping[str, float] = field(default_factory=dict, hash=False)
    alpha_unit: float = GAUGE_ALPHA_UNIT
    mixing: Callable[[ArrayLike], np.ndarray] | None = None
    dark_decay: DarkDecay | None = None
    branching: Callable[[ArrayLike, str], np.ndarray] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.charges) - set(FERMIONS))
        if unknown:
            raise InputError(
                f"model {self.name!r}: unknown fermions {unknown}; choose from "
                f"{', '.join(FERMIONS)}"
            )
        if not (math.isfinite(self.alpha_unit) and self.alpha_unit > 0):
            raise InputError(f"model {self.name!r}: alpha_unit must be positive")
        if self.dark_decay is not None and not self.dark_decay.alpha_d > 0:
            raise InputError(f"model {self.name!r}: alpha_D must be positive")
        charges = {f: float(self.charges.get(f, 0.0)) for f in FERMIONS}
        object.__setattr__(self, "charges", MappingProxyType(charges))

    def charge(self, fermion: str) -> float:
        """x_f of ``fermion`` (0 where the model does not charge it)."""
        if fermion not in FERMIONS:
            raise InputError(f"unknown fermion {fermion!r}; choose from {', '.join(FERMIONS)}")
        return self.charges[fermion]


_LEPTONS_MINUS = dict.fromkeys(("e", "mu", "tau", "nu_e", "nu_mu", "nu_tau"), -1.0)

_REGISTRY: dict[str, VectorModel] = {}


def register_model(model: VectorModel, *, replace: bool = False) -> VectorModel:
    """Add ``model`` to the registry, so that every stage knows its name.

    Parameters
    ----------
    model : VectorModel
        The record (its ``name`` is the key).
    replace : bool, optional
        Replace a registered model of the same name (default: an InputError).

    Returns
    -------
    VectorModel
        ``model``.

    Examples
    --------
    >>> m = register_model(VectorModel("demo_lmu", "L_mu", "g_mu", {"mu": 1.0, "nu_mu": 1.0}))
    >>> get_model("demo_lmu").charge("nu_mu")
    1.0
    >>> unregister_model("demo_lmu")
    """
    if model.name in _REGISTRY and not replace:
        raise InputError(f"model {model.name!r} is already registered (replace=True to replace it)")
    _REGISTRY[model.name] = model
    return model


def unregister_model(name: str) -> None:
    """Remove the model ``name`` from the registry (an InputError if it is not registered)."""
    get_model(name)
    del _REGISTRY[name]


def get_model(name: str | VectorModel) -> VectorModel:
    """The registered model ``name`` (a record is returned as it is); InputError naming the
    choices.
    """
    if isinstance(name, VectorModel):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise InputError(
            f"unknown signal model {name!r}; choose one of {', '.join(_REGISTRY)}"
        ) from None


def model_names() -> tuple[str, ...]:
    """Names of the registered models, shipped ones first."""
    return tuple(_REGISTRY)


def _from_mapping(raw: Mapping[str, Any], where: str) -> VectorModel:
    """A :class:`VectorModel` from one YAML entry (keys as the record's, ``coupling_unit``
    ``epsilon`` or ``gauge``, ``dark_decay`` a mapping or absent).
    """
    unit = raw.get("coupling_unit", "gauge")
    if unit not in ("epsilon", "gauge"):
        raise InputError(f"{where}: coupling_unit must be epsilon or gauge, got {unit!r}")
    decay = raw.get("dark_decay")
    try:
        return VectorModel(
            name=str(raw["name"]),
            label=str(raw.get("label", raw["name"])),
            coupling_name=str(raw.get("coupling_name", "g")),
            charges={str(k): float(v) for k, v in dict(raw.get("charges", {})).items()},
            alpha_unit=ALPHA_EM if unit == "epsilon" else GAUGE_ALPHA_UNIT,
            dark_decay=DarkDecay(**dict(decay)) if decay else None,
            description=str(raw.get("description", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{where}: not a model ({exc})") from None


def load_models_yaml(path: str | Path, *, replace: bool = False) -> list[VectorModel]:
    """Register every model of a YAML file (a list of mappings, or ``models:`` holding one).

    Example entry::

        - name: lmu
          label: L_mu
          coupling_name: g_mu
          coupling_unit: gauge          # or epsilon (alpha per coupling^2 = alpha)
          charges: {mu: 1, nu_mu: 1}
          dark_decay: {alpha_d: 0.1, mass_ratio: 3}   # optional
    """
    import yaml

    content = yaml.safe_load(Path(path).read_text())
    entries = content.get("models") if isinstance(content, Mapping) else content
    if not isinstance(entries, list):
        raise InputError(f"{path}: expected a list of models")
    return [
        register_model(_from_mapping(entry, f"{path}: model {i}"), replace=replace)
        for i, entry in enumerate(entries)
        if isinstance(entry, Mapping) or _not_mapping(path, i)
    ]


#: Environment variable naming YAML files of user models (separated by ``os.pathsep``) that the
#: command line registers before it reads ``--model`` (:func:`load_user_models`).
USER_MODELS_VARIABLE = "NA64STAT_MODELS"


def load_user_models() -> list[VectorModel]:
    """Register the models of the YAML files named by :data:`USER_MODELS_VARIABLE` (none if unset).

    A file already loaded replaces its models (loading twice is harmless).
    """
    import os

    paths = [p for p in os.environ.get(USER_MODELS_VARIABLE, "").split(os.pathsep) if p]
    return [m for path in paths for m in load_models_yaml(path, replace=True)]


def _not_mapping(path: str | Path, index: int) -> bool:
    raise InputError(f"{path}: model {index} is not a mapping")


for _model in (
    VectorModel(
        "dark_photon",
        "dark photon",
        "epsilon",
        {"e": -1.0, "mu": -1.0, "tau": -1.0, "u": 2 / 3, "d": -1 / 3, "s": -1 / 3},
        alpha_unit=ALPHA_EM,
        dark_decay=DarkDecay(0.1, 3.0),
        description="A' with kinetic mixing epsilon, x_f = Q_f, decaying to dark matter chi chibar",
    ),
    VectorModel(
        "lmutau",
        "L_mu - L_tau",
        "e_mu",
        {"mu": 1.0, "nu_mu": 1.0, "tau": -1.0, "nu_tau": -1.0},
        mixing=_lmutau_mixing,
        branching=_lmutau_branching,
        description="gauged L_mu - L_tau Z', electrons through the mu-tau loop mixing (eq. 54)",
    ),
    VectorModel(
        "b_minus_l",
        "B - L",
        "g_BL",
        {**_LEPTONS_MINUS, "u": 1 / 3, "d": 1 / 3, "s": 1 / 3},
        description="gauged B - L (darkcast models/B-L_boson.py)",
    ),
    VectorModel(
        "le_lmu",
        "L_e - L_mu",
        "g_emu",
        {"e": 1.0, "nu_e": 1.0, "mu": -1.0, "nu_mu": -1.0},
        description="gauged L_e - L_mu (darkcast models/Le-Lmu_boson.py)",
    ),
    VectorModel(
        "le_ltau",
        "L_e - L_tau",
        "g_etau",
        {"e": 1.0, "nu_e": 1.0, "tau": -1.0, "nu_tau": -1.0},
        description="gauged L_e - L_tau (darkcast models/Le-Ltau_boson.py)",
    ),
    VectorModel(
        "protophobic",
        "protophobic X",
        "epsilon",
        {"e": -1.0, "mu": -1.0, "tau": -1.0, "u": -1 / 3, "d": 2 / 3, "s": 2 / 3},
        alpha_unit=ALPHA_EM,
        description="protophobic X17 (Feng et al., PRL 117 (2016) 071803; darkcast "
        "models/protophobic.py), no neutrino charge",
    ),
):
    register_model(_model)
