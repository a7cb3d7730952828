"""An independent, seeded Monte-Carlo of the Approximation-A cascade (for tests only).

Samples every bremsstrahlung emission with photon fraction v > v_min from
phi0(v) = (1/v)(4/3 - 4/3 v + v^2) and every pair conversion from
psi0(u) = 1 - 4/3 u(1-u) (rate 7/9 per X0); softer emissions are a
continuous loss. Each lepton keeps its charge (the e+ of a pair takes the
fraction u), so the e+ track length alone is counted directly, without the
e+ e- symmetry argument :mod:`na64stat.physics.shower` rests on. It shares no
code with ``na64stat.physics.shower``.
"""

from __future__ import annotations

import math

import numpy as np

V_MIN = 1e-4
_BREMS_RATE = (4.0 / 3.0) * (-math.log(V_MIN)) - (4.0 / 3.0) * (1 - V_MIN) + 0.5 * (1 - V_MIN**2)
_SOFT_LOSS = (4.0 / 3.0) * V_MIN - (2.0 / 3.0) * V_MIN**2 + V_MIN**3 / 3.0


def _sample_v(rng: np.random.Generator) -> float:
    while True:
        v = V_MIN ** (1.0 - rng.random())  # density ~ 1/v on [V_MIN, 1]
        if rng.random() * (4.0 / 3.0) <= 4.0 / 3.0 - 4.0 / 3.0 * v + v * v:
            return v


def _sample_u(rng: np.random.Generator) -> float:
    while True:
        u = rng.random()
        if rng.random() <= 1.0 - 4.0 / 3.0 * u * (1.0 - u):
            return u


def electron_track_lengths(
    beam_energy: float, cut: float, thickness: float, n_primaries: int, edges: np.ndarray, seed: int
) -> np.ndarray:
    """e+ e- track length [X0] per primary in energy bins ``edges`` (ascending, GeV)."""
    return _track_lengths(beam_energy, cut, thickness, n_primaries, edges, seed, ("e-", "e+"))


def positron_track_lengths(
    beam_energy: float, cut: float, thickness: float, n_primaries: int, edges: np.ndarray, seed: int
) -> np.ndarray:
    """e+ track length [X0] per primary e- in energy bins ``edges`` (ascending, GeV)."""
    return _track_lengths(beam_energy, cut, thickness, n_primaries, edges, seed, ("e+",))


def _track_lengths(
    beam_energy: float,
    cut: float,
    thickness: float,
    n_primaries: int,
    edges: np.ndarray,
    seed: int,
    counted: tuple[str, ...],
) -> np.ndarray:
    """Track length [X0] per primary e- of the leptons whose charge is in ``counted``, binned in
    energy.
    """
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
                for charge, frac in (("e+", u), ("e-", 1.0 - u)):
                    if frac * energy > cut:
                        stack.append((charge, frac * energy, depth))
                continue
            while energy > cut and depth < thickness:
                step = min(rng.exponential(1.0 / _BREMS_RATE), thickness - depth)
                end_energy = energy * math.exp(-_SOFT_LOSS * step)
                # continuous soft loss: energy falls exponentially along the step
                lo = max(end_energy, cut)
                if kind in counted:
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
    """Spread a track of ``length`` whose energy falls from e_hi to e_lo over the bins."""
    if length <= 0.0:
        return
    span = math.log(e_hi / e_lo)
    for i in range(len(hist)):
        a, b = max(edges[i], e_lo), min(edges[i + 1], e_hi)
        if b > a:
            hist[i] += length * (math.log(b / a) / span if span > 0 else 1.0)
