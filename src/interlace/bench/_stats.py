"""Paired statistics for comparing two methods on the same questions.

Benchmarks here are small (33 to 50 questions) and a 0.5B model's answers flip with the order
in which observations arrive, so a difference of a few points of accuracy or a latency ratio near
1 can be chance. ``interlace eval`` reports, next to each comparison, how sure it is:

* accuracy: the questions right under only one of the two methods, and the exact McNemar test
  on them (McNemar 1947; the exact form is the two-sided binomial test of the discordant pairs
  with p = 1/2, Agresti, *Categorical Data Analysis*, §10.1). The sum is over at most a few
  hundred terms, so it is computed directly rather than with a statistics package.
* latency: a percentile bootstrap interval of the speedup (ratio of summed latencies, baseline
  over method), resampling questions with their pair kept together (Efron & Tibshirani, *An
  Introduction to the Bootstrap*, 1993, ch. 13), with numpy and a fixed seed, so the same
  stores always print the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["bootstrap_ratio_interval", "mcnemar_exact"]


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value for paired yes/no outcomes.

    Args:
        only_first: pairs where only the first method was right (>= 0).
        only_second: pairs where only the second was right (>= 0).

    Returns:
        The probability, if both methods were equally accurate, of discordant counts at least
        this uneven: ``min(1, 2 * P(X <= min(b, c)))`` for ``X ~ Binomial(b + c, 1/2)``; 1.0
        when there is no discordant pair.

    Raises:
        ValueError: a negative count.
    """
    if only_first < 0 or only_second < 0:
        raise ValueError(f"counts must be >= 0, got {only_first} and {only_second}")
    n = only_first + only_second
    if n == 0:
        return 1.0
    low = min(only_first, only_second)
    tail = sum(math.comb(n, k) for k in range(low + 1))
    return min(1.0, 2.0 * tail / 2.0**n)


def bootstrap_ratio_interval(
    numerator: Sequence[float],
    denominator: Sequence[float],
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``sum(numerator) / sum(denominator)`` over pairs.

    Each resample draws ``len(numerator)`` pair indices with replacement and keeps a pair's two
    values together (a paired design: both methods answered the same question).

    Args:
        numerator, denominator: one value per pair (e.g. baseline and method latency, seconds),
            same length.
        level: coverage of the interval (0 < level < 1).
        resamples: bootstrap resamples (>= 1).
        seed: the generator's seed (same inputs, same interval).

    Returns:
        ``(low, high)``, or ``None`` with fewer than two pairs or when a resample's denominator
        sums to zero.

    Raises:
        ValueError: lengths differ, ``level`` outside (0, 1), or ``resamples < 1``.
    """
    if len(numerator) != len(denominator):
        raise ValueError(f"{len(numerator)} numerators but {len(denominator)} denominators")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    n = len(numerator)
    if n < 2:
        return None
    import numpy as np  # here, not at import: `import interlace.bench` stays light

    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    picks = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    den_sums = den[picks].sum(axis=1)
    if np.any(den_sums == 0.0):
        return None
    ratios = num[picks].sum(axis=1) / den_sums
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return float(low), float(high)
