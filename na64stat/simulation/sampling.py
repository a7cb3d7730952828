"""Random draws with importance weights, so rare tails can be oversampled honestly.

A :class:`Draw` wraps a seeded :class:`numpy.random.Generator` for a batch of
``n`` events. In *unbiased* mode (real-style data) every draw follows the
physical distribution and all weights stay exactly 1. In *biased* mode (MC)
the draws that decide whether an event lands in a rare tail use an enhanced
distribution q instead of the physical p, and the event's weight is
multiplied by p/q. The expectation of any weighted sum is then the physical
one, and the spread of the weights is the statistical uncertainty of the
estimate (e.g. sum(w^2) for a weight sum).

>>> import numpy as np
>>> d = Draw(np.random.default_rng(1), 200_000, biased=True)
>>> hit = d.bernoulli(1e-6, biased_probability=0.5)
>>> w = d.weight
>>> round(float(np.sum(w * hit)) / 200_000 / 1e-6, 2)   # estimates p = 1e-6
1.0
"""

from __future__ import annotations

import numpy as np

__all__ = ["Draw"]


class Draw:
    """Importance-weighted random draws for one batch of ``n`` events.

    Parameters
    ----------
    rng:
        Seeded generator (never global state).
    n:
        Number of events in the batch.
    biased:
        Use the enhanced tail distributions and track weights (MC) or draw
        physically with unit weights (real-style data).
    """

    def __init__(self, rng: np.random.Generator, n: int, *, biased: bool) -> None:
        self.rng = rng
        self.n = int(n)
        self.biased = bool(biased)
        self.weight = np.ones(self.n)

    def uniform(self, low: float | np.ndarray = 0.0, high: float | np.ndarray = 1.0) -> np.ndarray:
        """Physical uniform draw (no biasing)."""
        return self.rng.uniform(low, high, self.n)

    def normal(self, mean: float | np.ndarray = 0.0, sigma: float | np.ndarray = 1.0) -> np.ndarray:
        """Physical Gaussian draw (no biasing)."""
        return self.rng.normal(mean, sigma, self.n)

    def gamma_mean(self, mean: float | np.ndarray, shape: float) -> np.ndarray:
        """Gamma-distributed values with the given mean and shape k (relative spread 1/sqrt(k))."""
        return self.rng.gamma(shape, 1.0, self.n) * (np.asarray(mean, dtype=float) / shape)

    def choice(self, probabilities: np.ndarray) -> np.ndarray:
        """Physical categorical draw: index i with probability ``probabilities[i]``."""
        p = np.asarray(probabilities, dtype=float)
        return self.rng.choice(p.size, size=self.n, p=p / p.sum())

    def bernoulli(
        self, probability: float, *, biased_probability: float | None = None
    ) -> np.ndarray:
        """True with physical probability p; in biased mode with q, weight p/q or (1-p)/(1-q).

        ``biased_probability`` (q) should be well above a rare p so the rare
        branch is populated; it is ignored in unbiased mode.
        """
        p = float(probability)
        u = self.rng.random(self.n)
        if not self.biased or biased_probability is None:
            return u < p
        q = float(biased_probability)
        flag = u < q
        self.weight *= np.where(flag, p / q, (1.0 - p) / (1.0 - q))
        return flag

    def power_law(
        self, low: float, high: float, index: float, *, biased_index: float | None = None
    ) -> np.ndarray:
        """x on [low, high] with density proportional to x^-index.

        In biased mode x is drawn with ``biased_index`` (a flatter law
        populates the far tail) and weighted by the ratio of the two
        normalised densities.
        """
        use = index if (not self.biased or biased_index is None) else biased_index
        x = _power_law_inverse_cdf(self.rng.random(self.n), low, high, use)
        if use != index:
            self.weight *= _power_law_pdf(x, low, high, index) / _power_law_pdf(x, low, high, use)
        return x


def _power_law_norm(low: float, high: float, index: float) -> float:
    if abs(index - 1.0) < 1e-12:
        return float(np.log(high / low))
    return float((high ** (1.0 - index) - low ** (1.0 - index)) / (1.0 - index))


def _power_law_pdf(x: np.ndarray, low: float, high: float, index: float) -> np.ndarray:
    return x ** (-index) / _power_law_norm(low, high, index)


def _power_law_inverse_cdf(u: np.ndarray, low: float, high: float, index: float) -> np.ndarray:
    if abs(index - 1.0) < 1e-12:
        return low * (high / low) ** u
    a = 1.0 - index
    return (low**a + u * (high**a - low**a)) ** (1.0 / a)
