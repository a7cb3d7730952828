"""A seeded Monte-Carlo of the Approximation-A cascade that keeps each lepton's charge (tests only).

Same physics as ``_shower_mc`` (bremsstrahlung phi0(v) above v_min, softer
emission a continuous loss; pair production psi0(u) at 7/9 per X0, the e+
taking fraction u), written separately so that the positron track length of
:mod:`na64stat.physics.shower` is checked against code that shares nothing
with it, not even the e+ e- symmetry argument it rests on.
"""

from __future__ import annotations

import math

import numpy as np

V_MIN = 1e-4
_BREMS_RATE = (4.0 / 3.0) * (-math.log(V_MIN)) - (4.0 / 3.0) * (1 - V_MIN) + 0.5 * (1 - V_MIN**2)
_SOFT_LOSS = (4.0 / 3.0) * V_MIN - (2.0 / 3.0) * V_MIN**2 + V_MIN**3 / 3.0


def _sample_v(rng: np.random.Generator) -> float:
    while True:
        v = V_MIN ** (1.0 - rng.random())
        if rng.random() * (4.0 / 3.0) <= 4.0 / 3.0 - 4.0 / 3.0 * v + v * v:
            return v


def _sample_u(rng: np.random.Generator) -> float:
    while True:
        u = rng.random()
        if rng.random() <= 1.0 - 4.0 / 3.0 * u * (1.0 - u):
            return u


def positron_track_lengths(
    beam_energy: float, cut: float, thickness: float, n_primaries: int, edges: np.ndarray, seed: int
) -> np.ndarray:
    """e+ track length [X0] per primary e- in energy bins ``edges`` (ascending, GeV)."""
    rng = np.random.default_rng(seed)
    hist = np.zeros(len(edges) - 1)
    for _ in range(n_primaries):
        stack: list[tuple[str, float, float]] = [("e-", beam_energy, 0.0)]
        while stack:
            kind, energy, depth = stack.pop()
            if kind == "g":
                depth += rng.exponential(9.0 / 7.0)
                if depth >= thickness:
                    continue
                u = _sample_u(rng)  # positron fraction
                if u * energy > cut:
                    stack.append(("e+", u * energy, depth))
                if (1.0 - u) * energy > cut:
                    stack.append(("e-", (1.0 - u) * energy, depth))
                continue
            while energy > cut and depth < thickness:
                step = min(rng.exponential(1.0 / _BREMS_RATE), thickness - depth)
                end_energy = energy * math.exp(-_SOFT_LOSS * step)
                lo = max(end_energy, cut)
                if kind == "e+":
                    _deposit(hist, edges, energy, lo, math.log(energy / lo) / _SOFT_LOSS)
                depth += step
                if end_energy <= cut or depth >= thickness:
                    break
                energy = end_energy
                v = _sample_v(rng)
                if v * energy > cut:
                    stack.append(("g", v * energy, depth))
                energy *= 1.0 - v
    return hist / n_primaries


def _deposit(hist: np.ndarray, edges: np.ndarray, e_hi: float, e_lo: float, length: float) -> None:
    if length <= 0.0:
        return
    span = math.log(e_hi / e_lo)
    for i in range(len(hist)):
        a, b = max(edges[i], e_lo), min(edges[i + 1], e_hi)
        if b > a:
            hist[i] += length * (math.log(b / a) / span if span > 0 else 1.0)
